"""Which test modules the aarch64 run (``tests/arm/run.sh``) takes, and why the rest stay out.

The aarch64 sysroot has what a Pi needs to run edgernn (numpy, numba) plus pytest and
hypothesis.  A module belongs to :data:`SUBSET` when its tests check the runtime against
an independent reference that needs nothing more: the float64 references in
``tests/reference*.py`` or plain numpy.  Modules that import torch at the top may be in
it: ``guest_plugin`` skips just the tests that use torch.  Every ``tests/test_*.py`` is in
exactly one of the two tables (``tests/arm/test_subset.py`` checks it), so a new module
is placed on purpose.

    python3 tests/arm/subset.py        # prints the subset as pytest arguments, for run.sh
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent

SUBSET = {
    "test_activations.py": "rational tanh/sigmoid error bounds vs float64",
    "test_kernels_recurrent.py": "dense/gemv/gemm, LSTM, GRU, RNN kernels vs the float64 cells",
    "test_kernels_elementwise.py": "unary/binary/layout/normalization kernels vs reference_ops",
    "test_kernels_conv.py": "causal conv over time vs the float64 conv (torch cases skip)",
    "test_graph_ops.py": "every op kind streamed through Model vs the IR interpreter",
    "test_weightfile.py": ".ern round trip, corruption and fuzzing (hypothesis)",
    "test_user_mistakes.py": "clear errors for bad frames, sizes and CLI input",
    "test_kernels_quantized.py": "dynamic int8 / int4 kernels vs their integer numpy model",
    "test_qint_kernels.py": "full-integer (TFLite int8) kernels vs the numpy integer reference",
    "test_qint_recurrent.py": "int8 LSTM/GRU/RNN kernels vs the numpy integer reference",
    "test_postprocess.py": "keyword / gesture detectors vs their definitions (pure numpy)",
    "test_fused_step.py": "the fused step vs one compiled call per op, bit for bit (numpy only)",
    "test_kernels_layouts.py": "float32 / int8 column-form products vs numpy, sdot vs the "
                               "portable IR (the x86 assembly check skips)",
}

# Tests of SUBSET modules left out, with the reason: under emulation every new process
# takes ~30 s to import numba and load its cached kernels.
DESELECT = {
    "test_user_mistakes.py::test_cli_input_file_mistakes":
        "five CLI processes (~160 s emulated) testing input-file parsing, the same Python "
        "on every platform",
}

EXCLUDED = {
    "test_cstep.py": "the C step entry against numba's entry: portable C around the same "
                     "fused step test_fused_step checks here; its tests need the host's "
                     "compiler and Python headers, which the aarch64 guest need not have",
    "test_imu_cli.py": "edgernn imu processes over a pty / UDP (host OS plumbing)",
    "test_listen.py": "edgernn listen through PortAudio/ALSA on the host",
    "test_pipeline.py": "pipeline composition; front ends compile again (minutes emulated)",
    "test_pipeline_longrun.py": "10^6 frames: minutes natively, hours emulated",
    "test_cache_dir.py": "its aarch64 side is tests/arm/test_cpu_cache.py (A72 and A76 processes)",
    "test_stream.py": "models built from torch modules throughout (torch.manual_seed at import); "
                      "test_graph_ops checks the same Stream paths against numpy",
    "test_cli.py": "edgernn warmup in a subprocess compiles every kernel again (~2.5 min "
                   "emulated); demos/deploy/arm_check.sh runs warmup and the demo on ARM",
    "test_demo.py": "bundled demo; arm_check.sh compares its predictions with x86",
    "test_onnx_cli.py": "converters: workstation side (onnx)",
    "test_onnx_import.py": "converters: workstation side (onnx)",
    "test_onnx_ops.py": "converters: workstation side (onnx)",
    "test_onnx_parity.py": "converters: workstation side (onnx, onnxruntime)",
    "test_benchmarks_quick.py": "benchmark scripts against onnxruntime/torch/TFLite peers",
    "test_bench.py": "edgernn bench against an onnxruntime peer exported from torch",
    "test_aot.py": "builds a C extension with numba.pycc (a C compiler, ~1 min); an image "
                   "for a Pi is built on a Pi (demos/deploy)",
    "test_builder_inputs.py": "builder inputs checked against torch tensors",
    "test_cli_help.py": "CLI help texts: the same Python on every platform",
    "test_converter_formats.py": "converters: workstation side (format registry, onnx)",
    "test_features_audio.py": "helper module of the front-end tests (espeak-ng audio)",
    "test_features_logmel.py": "log-mel vs librosa (not in the aarch64 root)",
    "test_features_micro.py": "micro front end vs pymicro-features (not in the aarch64 root)",
    "test_features_spec.py": "front-end specs: pure Python, platform-independent",
    "test_features_stream.py": "streamed == offline front ends; compiles every front end again",
    "test_frame_ops.py": "in-frame ops vs onnxruntime (not in the aarch64 root)",
    "test_info_text.py": "CLI text output (onnx fixtures)",
    "test_onnx_export_conventions.py": "converters: workstation side (onnx, onnxruntime)",
    "test_onnx_frame_ops.py": "converters: workstation side (onnx, onnxruntime)",
    "test_onnx_verify_layout1.py": "converters: workstation side (onnx, onnxruntime)",
    "test_packaging.py": "builds a wheel: platform-independent",
    "test_qint_pass.py": "the int8-full pass lives in the converters (onnx import)",
    "test_qint_tflite.py": "int8 kernels vs the TFLite interpreter (not in the aarch64 root)",
    "test_quantize.py": "the quantization pass (converters); kernels: test_kernels_quantized",
    "test_readme_snippets.py": "README snippets: CLI processes and converters",
    "test_reference_backend.py": "reference backend vs onnxruntime on the ONNX fixtures",
    "test_resample.py": "resampler vs scipy (not in the aarch64 root)",
    "test_silero.py": "converters: workstation side: Silero VAD vs onnxruntime",
    "test_sources_imu.py": "serial/UDP/CSV sources: pty and sockets, platform-independent Python",
    "test_sources_mic.py": "PortAudio through ALSA on the host",
    "test_sources_wav.py": "WAV decoding vs libsndfile (soundfile)",
    "test_tflite_cli.py": "converters: workstation side (TFLite)",
    "test_tflite_demo.py": "converters: workstation side (TFLite)",
    "test_tflite_hybrid.py": "converters: workstation side (TFLite)",
    "test_tflite_import.py": "converters: workstation side (TFLite)",
    "test_tflite_int8.py": "converters: workstation side (TFLite)",
    "test_tflite_reader.py": "converters: workstation side (TFLite)",
    "test_tflite_reader_bad_input.py": "converters: workstation side (TFLite)",
    "test_tflite_real_models.py": "converters: workstation side (TFLite)",
    "test_tflite_refusals.py": "converters: workstation side (TFLite)",
    "test_tflite_state.py": "converters: workstation side (TFLite)",
    "test_tflite_unrolled.py": "converters: workstation side (TFLite)",
}


def pytest_args() -> list[str]:
    """The subset as pytest arguments, paths relative to the repository root."""
    return ([f"tests/{name}" for name in sorted(SUBSET)]
            + [f"--deselect=tests/{node}" for node in sorted(DESELECT)])


if __name__ == "__main__":
    print("\n".join(pytest_args()))
