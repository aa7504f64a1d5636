"""Start-up time and peak memory of a streaming process, measured with /usr/bin/time -v.

    python benchmarks/bench_startup.py [--model lstm] [--device-venv DIR] [--no-write]
    python benchmarks/bench_startup.py --quick        # seconds-ish, writes nothing

Rows (each a fresh process; wall time and "Maximum resident set size" from GNU time):

* ``python -c "import numpy"``: the floor every runtime here pays;
* ``import edgernn``: must not compile or load numba (lazy);
* ``edgernn run`` on a one-frame input, with an **empty** kernel cache (compiles
  everything it needs) and with a **warm** one (best of 3);
* a **streaming process** (load, then step 5000 frames) on the warm cache;
* the same two with an **ahead-of-time build** (:mod:`edgernn.aotbuild`, built once
  here with ``--cpu host``; its build time is reported): numpy only, no numba;
* ``edgernn run`` once the build is in the cache (``edgernn warmup --aot MODEL``), where
  it runs it without importing numba.

Numba imports scipy (its BLAS check) when scipy is installed, as it is in the dev
venv; a device has no scipy.  ``--device-venv DIR`` runs the children in a venv with
only numpy, numba and edgernn (created there on first use) to measure the device case.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # first: pins threads
import numpy as np

TIME = "/usr/bin/time"
STREAM = ("import sys, numpy as np, edgernn; s = edgernn.load(sys.argv[1]).stream(); "
          "x = np.load(sys.argv[2]); [s.step(f) for _ in range(50) for f in x]")
STREAM_AOT = ("import sys, numpy as np; from edgernn import aot; s = aot.load(sys.argv[1]); "
              "x = np.load(sys.argv[2]); [s.step(f) for _ in range(int(sys.argv[3])) "
              "for f in x]")


def timed(argv: list[str], env: dict | None = None) -> dict[str, float]:
    """Wall seconds and peak RSS (MiB) of one process, as GNU time reports them."""
    proc = subprocess.run([TIME, "-v", *argv], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv[:5])}\n{proc.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.group(1).split(":"))))
    return {"wall_s": secs, "rss_mib": int(rss.group(1)) / 1024}


def device_python(venv: Path) -> str:
    """A venv with numpy, numba and edgernn only (made on first use)."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "numpy", "numba"], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "-e",
                        str(common.HERE.parent)], check=True)
    return str(py)


def measure(py: str, spec: common.Spec, quick: bool) -> list[tuple[str, dict]]:
    import edgernn

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = str(edgernn.save(common.edgernn_graph(common.make_net(spec)), tmp / "m.ern"))
        x = np.random.default_rng(0).standard_normal((100, spec.inputs)).astype(np.float32)
        np.save(tmp / "one.npy", x[:1])
        np.save(tmp / "x.npy", x)
        # --quick: the usual (warm) cache, no compiling from scratch, no AOT build
        env = None if quick else {**os.environ, "EDGERNN_CACHE_DIR": str(tmp / "cache")}
        run = [py, "-m", "edgernn.cli", "run", model, "-i", str(tmp / "one.npy")]
        rows.append(("python -c 'import numpy'", timed([py, "-c", "import numpy"])))
        rows.append(("import edgernn", timed([py, "-c", "import edgernn, sys; "
                                              "assert 'numba' not in sys.modules"], env)))
        if not quick:
            rows.append(("edgernn run, 1 frame, empty cache", timed(run, env)))
        warm = [timed(run, env) for _ in range(1 if quick else 3)]
        rows.append(("edgernn run, 1 frame, warm cache", min(warm, key=lambda r: r["wall_s"])))
        rows.append(("streaming process, 5000 frames, warm cache",
                     timed([py, "-c", STREAM, model, str(tmp / "x.npy")], env)))
        if not quick:
            t0 = time.perf_counter()
            subprocess.run([py, "-m", "edgernn.aotbuild", model, str(tmp / "aot"), "--cpu",
                            "host"], env=env, check=True, capture_output=True)
            build = time.perf_counter() - t0
            rows.append((f"AOT build (once, {build:.0f} s): load + 1 frame",
                         timed([py, "-c", STREAM_AOT, str(tmp / "aot"), str(tmp / "one.npy"),
                                "1"], env)))
            rows.append(("AOT streaming process, 5000 frames",
                         timed([py, "-c", STREAM_AOT, str(tmp / "aot"), str(tmp / "x.npy"),
                                "50"], env)))
            subprocess.run([py, "-m", "edgernn.aotbuild", model], env=env, check=True,
                           capture_output=True)  # = edgernn warmup --aot MODEL
            aot_run = [timed(run, env) for _ in range(3)]
            rows.append(("edgernn run, 1 frame, after `edgernn warmup --aot`",
                         min(aot_run, key=lambda r: r["wall_s"])))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lstm", choices=list(common.SPECS))
    ap.add_argument("--device-venv", type=Path, help="run the children in this venv (numpy, "
                                                     "numba, edgernn only; created if missing)")
    ap.add_argument("--no-write", action="store_true", help="do not touch results.md")
    common.add_quick(ap)
    args = ap.parse_args(argv)
    if not Path(TIME).exists():
        sys.exit(f"{TIME} (GNU time) is needed: apt-get install time")
    py = device_python(args.device_venv) if args.device_venv else sys.executable
    spec = common.SPECS[args.model]
    rows = measure(py, spec, args.quick)
    where = f"venv {args.device_venv} (numpy, numba, edgernn only)" if args.device_venv else \
        "the dev venv (scipy installed: numba imports it)"
    md = "\n\n".join([
        f"## Start-up and memory ({spec.title}; {where})",
        common.machine_info(),
        "\n".join(["| process | wall s | peak RSS MiB |", "|---|---:|---:|",
                   *(f"| {name} | {r['wall_s']:.2f} | {r['rss_mib']:.0f} |"
                     for name, r in rows)]),
        "Each row is one fresh process under `/usr/bin/time -v` (wall clock, maximum "
        "resident set size). AOT = `python -m edgernn.aotbuild MODEL DIR --cpu host`, run "
        "by `edgernn.aot.load(DIR)` with numpy only."])
    print(md)
    if not (args.no_write or args.quick):
        common.write_section("startup-device" if args.device_venv else "startup", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
