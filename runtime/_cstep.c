/* The C entry of a stream's step (edgernn.cstep builds it once per machine).
 *
 * numba's entry for a jitted function unboxes every argument (a MemInfo per array)
 * and Stream.step adds Python's own checks and the output's allocation: together
 * ~0.8 us per frame, as long as a small model's whole step.  A Stepper does the
 * common case in C: one float32 C-contiguous frame of the expected shape -> a new
 * output array and one call of the fused step's numba cfunc by address.  Anything
 * else (float64 or strided frames, out=, keyword inputs, a NaN frame, which the
 * cfunc refuses before running anything) goes to the Python method it was made
 * with, unchanged.
 */
#define PY_SSIZE_T_CLEAN
#include <stddef.h>
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#define MAX_DIMS 16

typedef long long (*step_fn)(long long *p, void *frame, void *out);

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    step_fn fn;
    long long *p;       /* the fused step's table */
    long long *count;   /* frames stepped here (the stream adds them to its own count) */
    PyObject *keep;     /* the arrays p and count point into */
    PyObject *fallback; /* the stream's Python step, for everything else */
    int nd_in, nd_out, out_type;
    npy_intp in_shape[MAX_DIMS], out_shape[MAX_DIMS];
} Stepper;

static PyObject *stepper_call(PyObject *self_, PyObject *const *args, size_t nargsf,
                              PyObject *kwnames) {
    Stepper *self = (Stepper *)self_;
    if (PyVectorcall_NARGS(nargsf) == 1 && kwnames == NULL && PyArray_CheckExact(args[0])) {
        PyArrayObject *a = (PyArrayObject *)args[0];
        int ok = PyArray_TYPE(a) == NPY_FLOAT32 && PyArray_NDIM(a) == self->nd_in
                 && PyArray_IS_C_CONTIGUOUS(a) && PyArray_ISALIGNED(a);
        for (int i = 0; ok && i < self->nd_in; i++)
            ok = PyArray_DIM(a, i) == self->in_shape[i];
        if (ok) {
            PyObject *out = PyArray_SimpleNew(self->nd_out, self->out_shape, self->out_type);
            if (out == NULL)
                return NULL;
            long long n = self->fn(self->p, PyArray_DATA(a),
                                   PyArray_DATA((PyArrayObject *)out));
            if (n > 0) {
                *self->count += 1;
                return out;
            }
            Py_DECREF(out);
            if (n == 0) {
                *self->count += 1;
                Py_RETURN_NONE;
            }
            /* n < 0: a NaN/Inf frame, nothing ran; the Python step says so */
        }
    }
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

static int stepper_traverse(PyObject *self_, visitproc visit, void *arg) {
    Stepper *self = (Stepper *)self_;
    Py_VISIT(self->keep);
    Py_VISIT(self->fallback);
    return 0;
}

static int stepper_clear(PyObject *self_) {
    Stepper *self = (Stepper *)self_;
    Py_CLEAR(self->keep);
    Py_CLEAR(self->fallback);
    return 0;
}

static void stepper_dealloc(PyObject *self) {
    PyObject_GC_UnTrack(self);
    stepper_clear(self);
    PyObject_GC_Del(self);
}

static PyTypeObject StepperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "edgernn._cstep.Stepper",
    .tp_doc = "A stream's step(frame) in C (see edgernn.cstep).",
    .tp_basicsize = sizeof(Stepper),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(Stepper, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_traverse = stepper_traverse,
    .tp_clear = stepper_clear,
    .tp_dealloc = stepper_dealloc,
};

static int read_shape(PyObject *tuple, npy_intp *shape, int *nd) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) > MAX_DIMS) {
        PyErr_SetString(PyExc_ValueError, "a shape: a tuple of at most 16 ints");
        return -1;
    }
    *nd = (int)PyTuple_GET_SIZE(tuple);
    for (int i = 0; i < *nd; i++) {
        shape[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(tuple, i));
        if (shape[i] == -1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

static PyObject *make(PyObject *mod, PyObject *args) {
    unsigned long long fn;
    PyObject *p, *count, *in_shape, *out_shape, *fallback;
    int out_type;
    if (!PyArg_ParseTuple(args, "KO!O!O!O!iO", &fn, &PyArray_Type, &p, &PyArray_Type, &count,
                          &PyTuple_Type, &in_shape, &PyTuple_Type, &out_shape, &out_type,
                          &fallback))
        return NULL;
    PyArrayObject *pa = (PyArrayObject *)p, *ca = (PyArrayObject *)count;
    if (PyArray_TYPE(pa) != NPY_INT64 || PyArray_TYPE(ca) != NPY_INT64
            || !PyArray_IS_C_CONTIGUOUS(pa) || PyArray_SIZE(ca) < 1) {
        PyErr_SetString(PyExc_ValueError, "p and count: contiguous int64 arrays");
        return NULL;
    }
    Stepper *s = PyObject_GC_New(Stepper, &StepperType);
    if (s == NULL)
        return NULL;
    s->keep = s->fallback = NULL;
    if (read_shape(in_shape, s->in_shape, &s->nd_in) < 0
            || read_shape(out_shape, s->out_shape, &s->nd_out) < 0) {
        Py_DECREF(s);
        return NULL;
    }
    s->vectorcall = stepper_call;
    s->fn = (step_fn)(uintptr_t)fn;
    s->p = (long long *)PyArray_DATA(pa);
    s->count = (long long *)PyArray_DATA(ca);
    s->out_type = out_type;
    s->keep = PyTuple_Pack(2, p, count);
    Py_INCREF(fallback);
    s->fallback = fallback;
    if (s->keep == NULL) {
        Py_DECREF(s);
        return NULL;
    }
    PyObject_GC_Track((PyObject *)s);
    return (PyObject *)s;
}

static PyMethodDef methods[] = {
    {"make", make, METH_VARARGS,
     "make(fn, p, count, in_shape, out_shape, out_typenum, fallback) -> Stepper"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_cstep", NULL, -1, methods};

PyMODINIT_FUNC PyInit__cstep(void) {
    import_array();
    if (PyType_Ready(&StepperType) < 0)
        return NULL;
    return PyModule_Create(&moddef);
}
