"""Documentation rot: every command line the docs show uses only options its command accepts.

Commands come from the shell code blocks and the inline code of README.md, docs/*.md and the
model cards: ``fanet-*`` (setup.py's console scripts), ``ros2 run fanet_ros <name>``,
``python -m <module of this repository>``, its scripts run by path (``python3
scripts/gpu_campaign.py``) and ``ros2 launch fanet_ros <file> name:=value``.
Options must be spelled in full: argparse would take a prefix, the docs should not.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
import importlib.util
import re
import shlex
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from unittest import mock

import pytest

from fanet_ros.launching.launch_arguments import command_line_names, unknown_arguments
from fanet_ros.node import node_usage
from fanet_ros.node.node_parameters import ParameterSpec

ROOT = Path(__file__).resolve().parents[1]
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         *sorted((ROOT / "fanet_ros" / "models").glob("*.md")))
PACKAGES = ("bench", "fanet_ros", "fanet_training")
"""``python -m`` modules of these packages are this repository's."""
SHELL_FENCES = ("", "bash", "sh", "shell", "console")
FENCED = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$",
                    re.M | re.S)
SPAN = re.compile(r"`((?:[^`\n]|\n(?![ \t]*\n))+)`")
"""Inline code, which may wrap onto the next line of its paragraph."""
PLACEHOLDER = re.compile(r"<[^<>\s]+>|\$\([^()]*\)")
"""``<name>`` and ``$(...)``: one word of the command, whatever it stands for."""
TARGET = re.compile(r"[a-z0-9_][a-z0-9_./-]*")
"""A command, module, executable or launch file as named; anything else (``NAME``, ``...``)
is a placeholder."""
ROS_FLAGS = frozenset((
    "--ros-args", "-p", "--param", "-r", "--remap", "--params-file", "-e", "--enclave",
    "--log-level", "--log-config-file", "--log-file-name", "--enable-rosout-logs",
    "--disable-rosout-logs", "--enable-stdout-logs", "--disable-stdout-logs",
    "--enable-external-lib-logs", "--disable-external-lib-logs"))
"""rcl's command-line flags (rcl/arguments.h), after ``--ros-args``."""


@dataclass(frozen=True)
class Call:
    """One command line shown in a page."""

    doc: str
    line: int
    kind: str
    """``fanet``, ``python -m``, ``script``, ``ros2 run`` or ``ros2 launch``."""
    target: str
    """The ``fanet-*`` command, module, script path, ``ros2 run`` executable or launch file."""
    args: tuple[str, ...]

    @property
    def program(self) -> str:
        if self.kind in ("fanet", "script"):
            return self.target
        if self.kind == "python -m":
            return f"python -m {self.target}"
        return f"{self.kind} fanet_ros {self.target}"

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.program}"


# --- the command lines in the pages ---------------------------------------------------------

def shell_lines(body: str, first: int) -> Iterator[tuple[int, str]]:
    """A code block's lines, backslash continuations joined, each with its first line number."""
    start, parts = first, []
    for number, line in enumerate(body.splitlines(), first):
        start = start if parts else number
        parts.append(line.rstrip().removesuffix("\\"))
        if not line.rstrip().endswith("\\"):
            yield start, " ".join(parts)
            parts = []
    if parts:
        yield start, " ".join(parts)


def snippets(text: str) -> Iterator[tuple[int, str]]:
    """Shell code blocks' lines and inline code spans, with their line numbers."""
    for block in FENCED.finditer(text):
        if block[2] in SHELL_FENCES:
            yield from shell_lines(block[3], text.count("\n", 0, block.start(3)) + 1)
    prose = FENCED.sub(lambda block: "\n" * block[0].count("\n"), text)
    for span in SPAN.finditer(prose):
        yield prose.count("\n", 0, span.start()) + 1, span[1].replace("\n", " ")


def words(snippet: str) -> list[str]:
    """Shell words; operators (``|``, ``&&``, ``>``, ``(``...) are words of their own."""
    lexer = shlex.shlex(PLACEHOLDER.sub("X", snippet), posix=True, punctuation_chars=True)
    lexer.whitespace_split, lexer.commenters = True, ""
    try:
        found = list(lexer)
    except ValueError:  # an unbalanced quote: the plain words
        found = snippet.split()
    return [word.strip("[]") if word.startswith("[-") else word  # [--option]: still an option
            for word in found]


def segments(snippet: str) -> Iterator[list[str]]:
    """The words between shell operators and comment marks: at most one command each."""
    segment: list[str] = []
    for word in words(snippet):
        if word.startswith("#") or (word and set(word) <= set(";&|()<>")):
            yield segment
            segment = []
        else:
            segment.append(word)
    yield segment


def is_python(word: str) -> bool:
    """``python``, ``python3``, a path to one or a placeholder for one (``PYTHON_WITH_TORCH``)."""
    return re.fullmatch(r"python3?|[A-Z_]+", Path(word).name) is not None


def is_script(word: str) -> bool:
    """A Python file of this repository that runs as a program."""
    path = ROOT / word
    return word.endswith(".py") and path.is_file() and \
        re.search(r"^if __name__ == .__main__.:", path.read_text(), re.M) is not None


def call_in(segment: list[str]) -> tuple[str, str, list[str]] | None:
    """(kind, target, arguments) of the first of this repository's commands in ``segment``;
    environment assignments, the interpreter of a script and prose before it are passed over."""
    for i, word in enumerate(segment):
        rest = segment[i + 1:]
        if re.fullmatch(r"fanet-[a-z][a-z0-9-]*", word):
            return "fanet", word, rest
        if is_python(word) and rest and is_script(rest[0]):
            return "script", rest[0], rest[1:]
        if is_python(word) and rest[:1] == ["-m"] and len(rest) > 1 \
                and rest[1].split(".")[0] in PACKAGES:
            return "python -m", rest[1], rest[2:]
        if word == "ros2" and rest[:1] in (["run"], ["launch"]) and rest[1:2] == ["fanet_ros"] \
                and len(rest) > 2:
            return f"ros2 {rest[0]}", rest[2], rest[3:]
    return None


def calls_in(doc: str, text: str) -> Iterator[Call]:
    """Every command line of a page whose target is named (not a placeholder)."""
    for line, snippet in snippets(text):
        for segment in segments(snippet):
            found = call_in(segment)
            if found and TARGET.fullmatch(found[1]):
                yield Call(doc, line, found[0], found[1], tuple(found[2]))


CALLS = [call for page in PAGES
         for call in calls_in(page.relative_to(ROOT).as_posix(), page.read_text())]
COMMAND_CALLS = [call for call in CALLS if call.kind != "ros2 launch"]
LAUNCH_CALLS = [call for call in CALLS if call.kind == "ros2 launch"]


# --- what the commands accept ---------------------------------------------------------------

@functools.cache
def setup_commands() -> tuple[dict[str, str], dict[str, str]]:
    """setup.py's ``ros2 run`` names and console scripts, each -> its module, read without
    running setup()."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    ros = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
               and [getattr(t, "id", None) for t in node.targets] == ["COMMANDS"])
    entry_points = next(keyword.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                        for keyword in node.keywords if keyword.arg == "entry_points")
    # setup.py's own expression (COMMANDS' names, and the rest) rather than a copy of it
    scripts = eval(compile(ast.Expression(entry_points), "setup.py", "eval"),
                   {"COMMANDS": ros})["console_scripts"]
    return ros, dict(re.fullmatch(r"(\S+) = ([\w.]+):main", s).groups() for s in scripts)


def module_of(call: Call) -> str:
    """The module whose ``main`` the command runs (``__main__`` of a package; a script: its
    path)."""
    if call.kind == "script":
        return call.target
    ros, scripts = setup_commands()
    known = {"fanet": scripts, "ros2 run": ros}.get(call.kind)
    if known is not None:
        assert call.target in known, f"{call}: no such command (setup.py)"
        return known[call.target]
    spec = importlib.util.find_spec(call.target)
    assert spec is not None, f"{call}: no such module"
    return f"{call.target}.__main__" if spec.submodule_search_locations else call.target


class _Caught(Exception):
    """What a command's ``main`` built to read its arguments, caught before it read them."""

    def __init__(self, found: argparse.ArgumentParser | tuple[ParameterSpec, ...]):
        super().__init__()
        self.found = found


def _catch_parser(parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
    raise _Caught(parser)


def _catch_node_usage(program: str, summary: str, specs: Sequence[ParameterSpec],
                      example: str) -> None:
    raise _Caught(tuple(specs))


def load(name: str) -> ModuleType:
    """The module ``name``, or the script at path ``name`` (with its folder on sys.path, as
    ``python path`` has it), without running it as ``__main__``."""
    if not name.endswith(".py"):
        return importlib.import_module(name)
    path = ROOT / name
    spec = importlib.util.spec_from_file_location(f"documented_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    with (mock.patch.object(sys, "path", [str(path.parent), *sys.path]),
          mock.patch.dict(sys.modules, {spec.name: module})):  # for its dataclasses
        spec.loader.exec_module(module)
    return module


@functools.cache
def command_line(module_name: str) -> argparse.ArgumentParser | tuple[ParameterSpec, ...]:
    """The module's argparse parser (its ``build_parser()``, else the one its ``main`` builds)
    or, for a ROS node, its parameters: ``main`` runs as ``PROG --help`` and is stopped when it
    parses its arguments or would print the node's usage, so nothing else of it runs."""
    try:
        with (mock.patch.object(argparse.ArgumentParser, "parse_args", _catch_parser),
              mock.patch.object(argparse.ArgumentParser, "parse_known_args", _catch_parser),
              mock.patch.object(node_usage, "usage", _catch_node_usage),
              mock.patch.object(sys, "argv", [module_name, "--help"])):
            module = load(module_name)  # a bare __main__ calls main() here
            if hasattr(module, "build_parser"):
                return module.build_parser()
            module.main()
    except _Caught as caught:
        return caught.found
    except ModuleNotFoundError as missing:  # an extra that is not installed (Keras, rosbags...)
        if (missing.name or "").split(".")[0] in PACKAGES:
            raise
        pytest.skip(f"{module_name} needs {missing.name}, which is not installed")
    raise AssertionError(f"{module_name}.main() read no arguments with argparse")


def is_option(word: str) -> bool:
    """``-x``, ``--name``, ``--name=value``; not ``-`` or a negative number."""
    return word.startswith("-") and len(word) > 1 and not re.fullmatch(r"-[\d.]+", word)


def unknown_options(parser: argparse.ArgumentParser, args: Sequence[str]) -> list[str]:
    """Options in ``args`` that ``parser`` (after a sub-command: its parser) does not define
    under exactly that name; ``--`` ends the options."""
    actions = parser._actions  # argparse has no public list of its options
    names = {name for action in actions for name in action.option_strings}
    commands = {name: sub for action in actions
                if isinstance(action, argparse._SubParsersAction)
                for name, sub in action.choices.items()}
    unknown = []
    for i, word in enumerate(args):
        if word == "--":
            break
        if word in commands:
            return unknown + unknown_options(commands[word], args[i + 1:])
        name = word.split("=", 1)[0] if word.startswith("--") else \
            word if word in names else word[:2]  # -xVALUE
        if is_option(word) and name not in names:
            unknown.append(word)
    return unknown


def unknown_node_arguments(specs: Sequence[ParameterSpec], args: Sequence[str]) -> list[str]:
    """A node's own options are ``-h`` / ``--help``; after ``--ros-args`` (to ``--``), rcl's
    flags, and ``-p NAME:=VALUE`` must name one of the node's parameters."""
    parameters = {spec.name for spec in specs}
    own, ros = node_usage.split_ros_arguments(args)
    unknown = [word for word in own if is_option(word) and word not in node_usage.HELP_FLAGS]
    for i, word in enumerate(ros):
        if word in ("-p", "--param") and i + 1 < len(ros):
            name = ros[i + 1].split(":=", 1)[0]
            if ":=" in ros[i + 1] and name not in parameters:
                unknown.append(f"{word} {ros[i + 1]} (no parameter '{name}')")
        elif is_option(word) and word not in ROS_FLAGS:
            unknown.append(word)
    return unknown


@functools.cache
def declared_launch_arguments(file: str) -> tuple[str, ...]:
    """The arguments a launch file declares, as ``ros2 launch --show-args`` lists them, and the
    ``name:=value`` options its command-line check lets through."""
    pytest.importorskip("launch_ros", reason="launch_ros is not installed (docs/launch.md)")
    from launch.launch_description_sources import get_launch_description_from_python_launch_file

    from fanet_ros.launching.launch_actions import LAUNCH_OPTIONS

    path = ROOT / "launch" / file
    assert path.is_file(), f"no launch file launch/{file}"
    description = get_launch_description_from_python_launch_file(str(path))
    return (*(argument.name for argument in description.get_launch_arguments()),
            *LAUNCH_OPTIONS)


# --- the tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("call", COMMAND_CALLS, ids=str)
def test_documented_options_exist(call: Call):
    found = command_line(module_of(call))
    unknown = unknown_options(found, call.args) if isinstance(found, argparse.ArgumentParser) \
        else unknown_node_arguments(found, call.args)
    assert not unknown, f"{call.doc}:{call.line}: `{call.program} {shlex.join(call.args)}`: " \
                        f"{', '.join(unknown)} not accepted by {call.program}"


@pytest.mark.parametrize("call", LAUNCH_CALLS, ids=str)
def test_documented_launch_arguments_are_declared(call: Call):
    problems = unknown_arguments(command_line_names(call.args),
                                 declared_launch_arguments(call.target))
    assert not problems, f"{call.doc}:{call.line}: `{call.program} {shlex.join(call.args)}`: " \
                         f"{'; '.join(problems)}"


def test_every_kind_of_command_is_found():
    """The extraction finds what the checks above are for (they cannot pass on nothing)."""
    assert {call.kind for call in CALLS} == {"fanet", "python -m", "script", "ros2 run",
                                             "ros2 launch"}
    assert len(CALLS) > 100


PAGE = """Run `fanet-train --model <name> --epochs N` (see
`python -m bench.soak
--duration 5`); `ros2 run fanet_ros <name>` and `python -m bench.NAME` are placeholders.

```bash
python3 scripts/gpu_campaign.py PACK WORK OUT --deadline-s 480 && ls scripts/gpu_campaign.py
CI=true fanet-export runs/x --height 384 \\
    --output $(pwd)/x.onnx [--fixed] | tee log  # or: ros2 run fanet_ros demo --frames 5
ros2 launch fanet_ros segmentation.launch.py rviz:=true --show-args
```

```python
fanet-train --not-shell
```
"""


def test_commands_are_read_from_code_blocks_and_inline_code():
    found = [(call.line, call.program, call.args) for call in calls_in("page.md", PAGE)]
    assert found == [
        (6, "scripts/gpu_campaign.py", ("PACK", "WORK", "OUT", "--deadline-s", "480")),
        (7, "fanet-export", ("runs/x", "--height", "384", "--output", "X/x.onnx", "--fixed")),
        (7, "ros2 run fanet_ros demo", ("--frames", "5")),
        (9, "ros2 launch fanet_ros segmentation.launch.py", ("rviz:=true", "--show-args")),
        (1, "fanet-train", ("--model", "X", "--epochs", "N")),
        (2, "python -m bench.soak", ("--duration", "5")),
    ]


def test_options_are_checked_by_their_full_name_only():
    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--output-dir")
    sub = parser.add_subparsers().add_parser("build")
    sub.add_argument("--layout")
    assert unknown_options(parser, ["--output-dir=x", "-ox", "-1", "-", "--", "--nope"]) == []
    assert unknown_options(parser, ["--output", "x", "--layout", "camvid"]) == \
        ["--output", "--layout"]
    assert unknown_options(parser, ["build", "--layout", "camvid", "--lay", "x"]) == ["--lay"]
