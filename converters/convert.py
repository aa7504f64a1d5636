"""``convert(src, dst)``: source model -> IR -> (verified) ``.ern`` file, with a report.

The source's format is found in the registry (:mod:`.formats`); its importer
makes the IR graph, its runner is the reference of ``verify=True``.
"""

from __future__ import annotations

import os

from .errors import VerificationError
from .formats import FORMATS, source_label
from .report import ConversionReport, conversion_notes
from .verify import compare


def convert(src, dst: str | os.PathLike | None = None, *, verify: bool = False,
            state_pairs: dict[str, str] | None = None, axes: dict[str, str] | None = None,
            consts: dict | None = None, frame: dict | None = None,
            tolerance: float = 1e-4, frames: int = 200, seed: int = 0,
            inputs: dict | None = None, metadata: dict | None = None,
            quantization=None) -> ConversionReport:
    """Convert ``src`` (a model file or object of a registered format) to an IR graph and
    write ``dst`` (.ern) if given.

    ``verify=True`` runs the source model (ONNX: onnxruntime, or the ONNX reference
    evaluator where onnxruntime refuses) and edgernn side by side on ``frames``
    random frames (or ``inputs``, in the source's layout with batch 1), streamed
    whole, frame by frame and in random chunks; above ``tolerance`` it raises
    :class:`VerificationError` and writes nothing.  ``state_pairs`` and ``axes``:
    see :func:`edgernn.converters.load_onnx`, and so are ``consts`` (configuration inputs
    fixed at conversion, ``{"sr": 16000}``) and ``frame`` (lengths of chunk axes,
    ``{"input": 576}``).  ``metadata`` is stored in the file
    (e.g. ``{"labels": [...]}``, which ``edgernn run`` and ``Model.labels`` use).
    ``quantization``: the options of :func:`edgernn.converters.quantize.cli.add_arguments`
    (an argparse namespace); the float graph is verified first, then quantized.
    """
    fmt = FORMATS.find(src)
    extra = {k: v for k, v in (("consts", consts), ("frame", frame)) if v}
    graph = fmt.load(src, axes=axes, state_pairs=state_pairs, **extra)
    label = source_label(src)
    graph.metadata.update(metadata or {})
    report = ConversionReport(label, None, graph, notes=conversion_notes(graph))
    if verify:
        report.verification = compare(fmt.runner(src), graph, frames=frames,
                                      tolerance=tolerance, seed=seed, inputs=inputs)
        if not report.verification.passed:
            raise VerificationError(f"{label}: verification failed, nothing written\n"
                                    f"{report.verification}")
    if quantization is not None:
        from .quantize.cli import apply

        graph, report.quantization = apply(graph, quantization)
        report.graph = graph
    if dst is not None:
        import edgernn

        edgernn.save(graph, dst)
        report.destination = os.fspath(dst)
    return report
