"""pytest plugin for the aarch64 run under qemu (``tests/arm/run.sh`` loads it with ``-p``).

The aarch64 sysroot has numpy, numba, pytest and hypothesis only: torch has no place on
a Pi and its aarch64 wheel is 427 MB.  Several test modules import torch at the top but
check most kernels against the float64 references in ``tests/reference*.py``.  So that
those tests run, ``import torch`` gives a stand-in here that *skips* the test that
touches it (calls it, iterates it, subclasses it): it never returns a value, so no test
can pass on a torch result that was not computed.  A module that calls torch at import
time is skipped whole.  The report header says which CPU the run emulates.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import types

import pytest

REASON = "needs {name}: torch is not installed on the aarch64 sysroot"


def _skip(name: str):
    raise pytest.skip.Exception(REASON.format(name=name), allow_module_level=True)


class _SkipOnInit:
    """The base a class gets when it subclasses a torch class (``class M(torch.nn.Module)``)."""

    def __init__(self, *args, **kwargs):
        _skip(type(self).__name__)


class Absent(types.ModuleType):
    """A missing package: attribute access gives more of it, any use skips the test."""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Absent(f"{self.__name__}.{attr}")

    def __call__(self, *args, **kwargs):
        _skip(self.__name__)

    def __iter__(self):
        _skip(self.__name__)

    def __bool__(self):
        _skip(self.__name__)

    def __mro_entries__(self, bases):
        return (_SkipOnInit,)

    def __repr__(self) -> str:
        return f"<{self.__name__}: not installed>"


def install_absent(name: str) -> bool:
    """Make ``import name`` give an :class:`Absent` when the package is not installed."""
    if name in sys.modules or importlib.util.find_spec(name) is not None:
        return False
    sys.modules[name] = Absent(name)
    return True


def pytest_configure(config):
    if platform.machine() != "aarch64":
        raise pytest.UsageError("guest_plugin is for the aarch64 run: bash tests/arm/run.sh")
    install_absent("torch")


def pytest_report_header(config):
    import numba
    import numpy

    return (f"aarch64 under qemu: QEMU_CPU={os.environ.get('QEMU_CPU', '?')}, numba compiles "
            f"for {numba.config.CPU_NAME or 'the detected CPU'}; numpy {numpy.__version__}, "
            f"numba {numba.__version__}; python {sys.executable}")
