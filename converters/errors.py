"""Errors raised by the converters."""

from __future__ import annotations

from dataclasses import dataclass

from edgernn.errors import EdgeRNNError


@dataclass(frozen=True)
class Problem:
    """One node that cannot be converted: its op type, its name and why."""

    op_type: str
    node: str
    reason: str

    def __str__(self) -> str:
        return f"{self.op_type} node {self.node!r}: {self.reason}"


class ConversionError(EdgeRNNError, ValueError):
    """The source model cannot be read or its inputs/outputs cannot be understood."""


class UnsupportedModelError(ConversionError):
    """The model uses ops or patterns that edgernn cannot stream.

    ``problems`` lists every offending node (op type, node name, reason), not
    just the first one.
    """

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], source: str = "",
                 hints: list[str] | tuple[str, ...] = ()) -> None:
        self.problems = tuple(problems)
        self.source = source
        self.hints = tuple(hints)
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        lines += "".join(f"\n  hint: {h}" for h in self.hints)
        n = len(self.problems)
        super().__init__(f"{head}{n} unsupported node{'s' if n != 1 else ''}:\n{lines}")


class VerificationError(ConversionError):
    """The converted model's outputs differ from the source model's above tolerance."""
