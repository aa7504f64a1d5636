"""Every test module is placed in or out of the aarch64 subset on purpose (runs on any host)."""

from __future__ import annotations

import subset


def test_every_test_module_is_placed():
    modules = {p.name for p in subset.TESTS.glob("test_*.py")}
    both = set(subset.SUBSET) & set(subset.EXCLUDED)
    assert not both, f"in both tables of tests/arm/subset.py: {sorted(both)}"
    unplaced = modules - set(subset.SUBSET) - set(subset.EXCLUDED)
    assert not unplaced, (
        f"new test modules {sorted(unplaced)}: add each to SUBSET in tests/arm/subset.py if "
        "it needs only numpy + numba (+ pytest/hypothesis; torch-using tests skip there), "
        "else to EXCLUDED with the reason")
    gone = (set(subset.SUBSET) | set(subset.EXCLUDED)) - modules
    assert not gone, f"tests/arm/subset.py names modules that do not exist: {sorted(gone)}"


def test_deselected_tests_are_in_the_subset():
    for node in subset.DESELECT:
        module, _, name = node.partition("::")
        assert module in subset.SUBSET, node
        assert f"def {name}(" in (subset.TESTS / module).read_text(), f"no test {node}"
