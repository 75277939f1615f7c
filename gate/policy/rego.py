"""Optional Rego rules, evaluated with regopy (rego-cpp), conftest style.

Modules declare ``package gate`` and the sets ``deny`` (blocks) and ``warn`` of messages (a
string, or an object with ``msg``), written in Rego v1 syntax. regopy parses Rego v0 rule heads
such as ``deny[msg] {`` without complaint and then evaluates them to something else (an object
instead of a set), so v0 heads are detected here and rejected with the v1 spelling. Errors from
the engine become one line with the file and line; the engine's own printout is kept off stdout
(where JSON reports go).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regopy import Interpreter, Output, RegoError
from regopy import rego_shared as engine
from regopy.rego_shared import rego_free_output, rego_node_value, rego_output_string, rego_query

from gate.errors import PolicyError
from gate.policy.model import RegoModule

MAX_MODULE_BYTES = 1024 * 1024
QUERY = "data.gate"
SECTIONS = ("image", "packages", "findings", "secrets", "config", "base_image", "sbom")

_V0_SET = re.compile(
    r"^(?P<name>[A-Za-z_]\w*)\s*\[\s*(?P<key>[^\]]+?)\s*\]\s*(?P<value>(?::=|=)\s*[^{]+?)?\s*\{"
)
_V0_BODY = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*(?P<value>(?::=|=)\s*[^{\s][^{]*?)?\s*\{\s*(?:#.*)?$")
_IF = re.compile(r"\bif\b")
_KEYWORDS = frozenset({"package", "import", "default", "else", "some", "every", "not", "with"})
_ENGINE_ERROR = re.compile(
    r"\(error \d+:(?P<file>m\d+\.rego)\|(?P<offset>\d+)\|\d+\s*\(errormsg (?P<length>\d+):"
)
_MESSAGE = re.compile(r"\(errormsg \d+:(?P<message>[^)\n]*)")
_INPUT_USE = re.compile(
    r"\binput\b(?P<after>\s*(?:\.\s*(?P<dot>[A-Za-z_]\w*)|\[\s*\"(?P<key>[^\"]+)\"\s*\])?)"
)


@dataclass(frozen=True)
class RegoResult:
    deny: tuple[str, ...]
    warn: tuple[str, ...]


def load_rego(paths: Sequence[Path]) -> tuple[RegoModule, ...]:
    """Read Rego files (directories: their ``*.rego``, sorted), reject v0 syntax, compile them."""
    modules: list[RegoModule] = []
    for path in paths:
        files = sorted(path.rglob("*.rego")) if path.is_dir() else [path]
        if path.is_dir() and not files:
            raise PolicyError(f"{path}: no .rego files")
        modules.extend(_read_module(file) for file in files)
    if modules:
        _check_compiles(tuple(modules))
    return tuple(modules)


def _read_module(path: Path) -> RegoModule:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_MODULE_BYTES + 1)
    except OSError as error:
        raise PolicyError(f"cannot read Rego module {path}: {error.strerror}") from None
    if len(data) > MAX_MODULE_BYTES:
        raise PolicyError(f"{path}: Rego module larger than {MAX_MODULE_BYTES} bytes")
    try:
        source = data.decode()
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: Rego module is not UTF-8") from None
    _reject_v0(path, source)
    return RegoModule(path, source)


def _reject_v0(path: Path, source: str) -> None:
    for number, line in enumerate(source.splitlines(), start=1):
        if _IF.search(line.split("{", 1)[0]):
            continue
        if match := _V0_SET.match(line):
            name, key, value = match["name"], match["key"], match["value"]
            head = (
                f"{name}[{key}] := {value.lstrip(':= ')} if {{" if value else f"{name} contains {key} if {{"
            )
        elif (match := _V0_BODY.match(line)) and match["name"] not in _KEYWORDS:
            value = f" {match['value']}" if match["value"] else ""
            head = f"{match['name']}{value} if {{"
        else:
            continue
        raise PolicyError(
            f"{path}:{number}: Rego v0 syntax `{line.strip()}`: gate accepts Rego v1 only, write `{head}`"
        )


def _check_compiles(modules: tuple[RegoModule, ...]) -> None:
    """Compile by querying once with an empty input: syntax and unknown functions fail here."""
    evaluate_rego(modules, {})


def evaluate_rego(modules: tuple[RegoModule, ...], document: dict[str, Any]) -> RegoResult:
    """Evaluate ``data.gate`` over ``document``; any engine error is a PolicyError (fail closed)."""
    interpreter = Interpreter()
    interpreter.strict_built_in_errors = True
    # rego-cpp re-checks every pass's tree against its grammar (a self-test of the engine); over
    # 10,000 findings that is a third of the time, and the input here is built by gate.
    interpreter.well_formed_checks_enabled = False
    built = _engine_input(document)
    try:
        with _engine_output_hidden():
            for index, module in enumerate(modules):
                interpreter.add_module(f"m{index}.rego", module.source)
            engine.rego_set_input(interpreter._impl, built)
            output = interpreter.query(QUERY)
    except RegoError as error:
        raise PolicyError(_located(str(error), modules)) from None
    except ValueError:  # regopy reads the error the engine returns as JSON, and fails
        raise PolicyError(f"{_names(modules)}: Rego evaluation failed: {_error_text(interpreter)}") from None
    finally:
        engine.rego_free_input(built)
    if not output.ok():
        raise PolicyError(f"{_names(modules)}: Rego evaluation failed: {_runtime_error(output)}")
    results = json.loads(str(output))
    value = results.get("expressions", [{}])[0] if isinstance(results, dict) else {}
    value = value if isinstance(value, dict) else {}
    return RegoResult(_messages(value, "deny", modules), _messages(value, "warn", modules))


def _engine_input(document: Any) -> int:
    """The input document as rego-cpp's input tree, built with its C calls directly.

    regopy's ``Input`` makes the same calls through a Python wrapper per value (about 4 µs each:
    1.3 s for 10,000 findings); this loop is about four times faster. Values are pushed, then
    combined: an object item pops a key and a value, an object or array pops its items."""
    lib = engine.rego
    pointer = lib.regoNewInput()
    string, integer, number, boolean, null = (
        lib.regoInputString,
        lib.regoInputInt,
        lib.regoInputFloat,
        lib.regoInputBoolean,
        lib.regoInputNull,
    )
    item, obj, array = lib.regoInputObjectItem, lib.regoInputObject, lib.regoInputArray

    def push(value: Any) -> None:
        kind = type(value)
        if kind is str:
            string(pointer, value.replace("\0", "\ufffd").encode())  # C strings end at NUL
        elif kind is dict:
            for key, member in value.items():
                string(pointer, key.replace("\0", "\ufffd").encode())
                push(member)
                item(pointer)
            obj(pointer, len(value))
        elif kind is list or kind is tuple:
            for member in value:
                push(member)
            array(pointer, len(value))
        elif kind is bool:
            boolean(pointer, value)
        elif kind is int:
            integer(pointer, value)
        elif kind is float:
            number(pointer, value)
        elif value is None:
            null(pointer)
        else:
            raise TypeError(f"cannot give Rego a {kind.__name__}")

    try:
        push(document)
    except BaseException:
        engine.rego_free_input(pointer)
        raise
    return int(pointer)


def referenced_sections(modules: Sequence[RegoModule]) -> frozenset[str]:
    """The top-level input sections the modules read; all of them when one reads ``input`` whole."""
    wanted: set[str] = set()
    for module in modules:
        for line in module.source.splitlines():
            code = line.split("#", 1)[0]
            for match in _INPUT_USE.finditer(code):
                name = match["dot"] or match["key"]
                if not name:
                    return frozenset(SECTIONS)
                wanted.add(name)
    return frozenset(wanted)


def _messages(value: dict[str, Any], name: str, modules: tuple[RegoModule, ...]) -> tuple[str, ...]:
    items = value.get(name, [])
    if not isinstance(items, list):
        raise PolicyError(
            f"{_names(modules)}: data.gate.{name} must be a set of messages, not {type(items).__name__}"
        )
    messages = []
    for item in items:
        text = item.get("msg") if isinstance(item, dict) else item
        messages.append(text if isinstance(text, str) else json.dumps(item, sort_keys=True))
    return tuple(sorted(messages))


def _located(text: str, modules: tuple[RegoModule, ...]) -> str:
    """``(error 6:m0.rego|41|2 (errormsg 27:Invalid assignment operator) ...`` -> file:line: message."""
    match = _ENGINE_ERROR.search(text)
    if not match:
        return f"{_names(modules)}: Rego error: {' '.join(text.split())[:300]}"
    module = modules[int(match["file"][1:-5])]
    start = match.end()
    message = text[start : start + int(match["length"])]
    line = module.source.encode()[: int(match["offset"])].count(b"\n") + 1
    return f"{module.path}:{line}: {message}"


def _runtime_error(output: Output) -> str:
    try:
        errors = output.node()
        return "; ".join(str(rego_node_value(errors.at(index).at(0)._impl)) for index in range(len(errors)))
    except Exception:  # the error tree's shape is the engine's; say what we can
        return str(output)[:300]


def _error_text(interpreter: Interpreter) -> str:
    """The message of an error the engine returned as its query result (e.g. an unknown function)."""
    with _engine_output_hidden():
        output = rego_query(interpreter._impl, QUERY)
        raw = rego_output_string(output)
        rego_free_output(output)
    found = _MESSAGE.search(raw)
    return found["message"] if found else " ".join(raw.split())[:300]


def _names(modules: tuple[RegoModule, ...]) -> str:
    return ", ".join(str(module.path) for module in modules)


@contextlib.contextmanager
def _engine_output_hidden() -> Iterator[None]:
    """rego-cpp prints compile errors to the process's stdout; keep them out of gate's output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with Path(os.devnull).open("wb") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
