"""Imports run downward through the pipeline: a stage never imports a later one.

Every ``import`` in gate/ is read with :mod:`ast` (module level, inside functions and under
``TYPE_CHECKING`` alike, so an import moved into a function to dodge a cycle is still seen)
and checked against the layer of each side. Within one package imports are free.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

GATE = Path(__file__).resolve().parent.parent / "gate"

# Lower first. A unit is a subpackage of gate or a top-level module; it may import units of a
# lower layer only.
LAYERS: list[set[str]] = [
    {"gate", "errors"},  # gate/__init__ holds only the version
    {"safejson"},
    {"versions", "image", "severity"},
    {"model", "vulndb"},
    {"catalog"},
    {"analyze", "sbom", "match"},
    {"attest"},
    {"sign", "policy"},  # policy: findings -> decision (uses attest.openvex)
    {"intoto", "report"},  # report: the scan report, and the decision + findings in every CI format
    {"publish", "tree", "doctor"},
    {"signing", "pipeline"},
    {"verify"},  # re-evaluates the policy on the attested SBOM through the pipeline's matching
    {"promote", "fleet"},  # fleet: verify + re-evaluation over many images
    {"run"},
    {"sample", "cli"},
    {"__main__"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "gate"


def _module_name(path: Path) -> str:
    parts = path.relative_to(GATE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every absolute import of gate in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, name) for name in names if name == "gate" or name.startswith("gate.")]
    return found


@functools.cache  # every test reads the same imports: parse gate/ once
def _edges() -> list[tuple[str, int, str]]:
    """(importing module, line, imported module) across gate/, between different units."""
    edges = []
    for path in sorted(GATE.rglob("*.py")):
        module = _module_name(path)
        edges += [
            (module, line, imported) for line, imported in _imports(path) if _unit(imported) != _unit(module)
        ]
    return edges


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module_name(path)) for path in GATE.rglob("*.py")}
    assert units - set(RANK) == set(), "add the new package or module to LAYERS"


def test_imports_run_downward() -> None:
    upward = [
        f"{module}:{line} imports {imported}"
        for module, line, imported in _edges()
        if RANK[_unit(imported)] >= RANK[_unit(module)]
    ]
    assert upward == []


@pytest.mark.parametrize(
    ("lower", "higher"),
    [("image", "sign"), ("image", "publish"), ("sign", "publish"), ("attest", "sign")],
)
def test_named_boundaries(lower: str, higher: str) -> None:
    crossing = [
        f"{module}:{line}"
        for module, line, imported in _edges()
        if _unit(module) == lower and _unit(imported) == higher
    ]
    assert crossing == []


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from gate.publish import publish\n    import gate.sign.keys\n")
    assert _imports(source) == [(2, "gate.publish"), (3, "gate.sign.keys")]
