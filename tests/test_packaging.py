"""The package as pip builds it: every directory of runtime/ and converters/ declared,
every source and bundled model in the wheel, and no setuptools warnings.

The wheel is built offline with the setuptools of this environment (``build_meta``
called directly, no build isolation) from a copy of the sources, so the worktree
gets no build/ or egg-info directories.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def package_dirs() -> dict[str, Path]:
    """Every directory with files under a ``package-dir`` root: package name -> directory."""
    out = {}
    for pkg, rel in CONFIG["package-dir"].items():
        top = ROOT / rel
        for d in [top, *sorted(p for p in top.rglob("*") if p.is_dir())]:
            if "__pycache__" in d.parts or not any(f.is_file() for f in d.iterdir()):
                continue
            out[".".join((pkg, *d.relative_to(top).parts))] = d
    return out


def test_every_directory_is_a_declared_package():
    missing = sorted(set(package_dirs()) - set(CONFIG["packages"]))
    assert not missing, (f"add {missing} to [tool.setuptools] packages in pyproject.toml "
                         f"(else a wheel lacks them and setuptools warns)")
    extra = sorted(set(CONFIG["packages"]) - set(package_dirs()))
    assert not extra, f"packages {extra} name no directory"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    pytest.importorskip("setuptools", minversion="77")  # PEP 639 `license = "MIT"`
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    for rel in set(CONFIG["package-dir"].values()):
        shutil.copytree(ROOT / rel, src / rel, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = f"from setuptools import build_meta as b; print(b.build_wheel({str(tmp)!r}))"
    r = subprocess.run([sys.executable, "-c", code], cwd=src, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return tmp / r.stdout.strip().splitlines()[-1], r.stdout + r.stderr


def test_the_build_prints_no_warnings(build):
    _, log = build
    warnings = [ln for ln in log.splitlines() if "warn" in ln.lower()]
    assert not warnings, "\n".join(warnings)


def test_the_wheel_holds_every_module_and_bundled_model(build):
    wheel, _ = build
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg, d in package_dirs().items():
        for f in d.iterdir():
            if f.suffix in (".py", ".ern", ".npz", ".npy", ".csv"):
                want = "/".join([*pkg.split("."), f.name])
                assert want in names, f"{want} is not in the wheel"
    assert "edgernn/models/gesture.ern" in names
