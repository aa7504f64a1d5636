"""The command line explains itself: every command in ``edgernn --help`` with a line of
help, every argument of every command with help text, and the README's command table
naming exactly the commands there are."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgernn.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgernn.cli", *args], capture_output=True,
                          text=True, timeout=300)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


COMMANDS = sorted(subcommands(build_parser(with_convert=True)))


def test_the_commands_include_convert():
    assert {"info", "run", "warmup", "demo", "convert"} <= set(COMMANDS)


def test_top_level_help_lists_every_command_with_a_line():
    r = cli("--help")
    assert r.returncode == 0, r.stderr
    for name in COMMANDS:
        m = re.search(rf"^\s+{name}\s+(\S.*)$", r.stdout, re.M)
        assert m, f"`edgernn --help` does not list {name!r}:\n{r.stdout}"
        assert len(m[1]) > 10, f"{name}: help line {m[1]!r} says nothing"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_argument_has_help(name):
    sub = subcommands(build_parser(with_convert=True))[name]
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS and len(action.help) > 5, \
            f"`edgernn {name}`: {action.dest!r} has no help text"


def test_info_help_explains_model():
    r = cli("info", "--help")
    assert r.returncode == 0, r.stderr
    m = re.search(r"^\s+model\s+(\S.*)$", r.stdout, re.M)
    assert m and "bundled" in m[1], r.stdout


def test_convert_help_has_the_converter_options():
    r = cli("convert", "--help")
    assert r.returncode == 0, r.stderr
    assert "--verify" in r.stdout and "--labels" in r.stdout


def test_readme_command_table_names_every_command():
    text = README.read_text()
    table = text.split("## Command line", 1)[1].split("\n\n", 2)[1]
    named = set(re.findall(r"^\| `edgernn (\w+)", table, re.M))
    assert named == set(COMMANDS), f"README table {sorted(named)} vs commands {COMMANDS}"
