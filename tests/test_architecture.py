"""The shape of the package (docs/architecture.md): sensorio's import graph,
built from the source with ast, has no cycle and follows the layer rule; no
module uses another module's private attributes; library code speaks in
library words (no command-line flags in its messages)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sensorio"

#: the layers, lowest first (docs/architecture.md draws them). A module may
#: import modules of its own layer and of the layers below it, never above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "sensorio._binding",
            "sensorio._optional_native",
            "sensorio._version",
            "sensorio.blocks",
            "sensorio.descriptor",
            "sensorio.errors",
            "sensorio.faultkinds",
            "sensorio.formats",
            "sensorio.numbers",
            "sensorio.parser",
            "sensorio.reference",
            "sensorio.ring",
            "sensorio.sio1",
        ),
    ),
    ("recording", ("sensorio.recording", "sensorio.npystream")),
    ("dsp", ("sensorio.dsp",)),
    ("control", ("sensorio.control",)),
    ("capture", ("sensorio.capture",)),
    ("devices", ("sensorio.emulator", "sensorio.urlhandler")),
    ("workflows", ("sensorio.workflows",)),
    ("outputs", ("sensorio.export", "sensorio.plotting", "sensorio.sinks", "sensorio.live")),
    ("applications", ("sensorio.demo", "sensorio.training", "sensorio.bridges")),
    ("interface", ("sensorio.cli", "sensorio.testing", "sensorio.__main__", "sensorio")),
]

#: modules left at an old path that only re-export the new one (importer -> imported)
COMPATIBILITY = {("sensorio.dsp.analyze", "sensorio.workflows.analyze")}


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


MODULES = _modules()


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The sensorio modules an import statement loads (a name imported from a
    package counts as its submodule when there is one)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        names = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]
    return [n for n in names if n in MODULES and n != module]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> dict[str, list[tuple[str, int, bool]]]:
    """importer -> [(imported, line, at module level)]; imports only for type
    checkers (``if TYPE_CHECKING:``) do not count: they never run."""
    path, is_package = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child, top)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.extend((t, node.lineno, top) for t in _targets(module, is_package, node))
            return
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
        if isinstance(node, ast.ClassDef):
            inner = top  # a class body runs at import time
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    for stmt in tree.body:
        visit(stmt, True)
    return {module: found}


GRAPH: dict[str, list[tuple[str, int, bool]]] = {}
for _m in MODULES:
    GRAPH.update(_imports(_m))


def layer_of(module: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if module == p or module.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (i, len(p))
    if best is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS here and to docs/architecture.md")
    return best[0]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module_level_only", [True, False], ids=["module-level", "all-imports"])
def test_no_import_cycles(module_level_only: bool) -> None:
    # all imports, function-level ones included: an import moved into a
    # function to dodge a cycle still ties the two modules in a knot
    edges = {m: {t for t, _, top in imps if top or not module_level_only} for m, imps in GRAPH.items()}
    assert _cycles(edges) == []


def test_layers() -> None:
    bad = []
    for module, imps in GRAPH.items():
        for target, line, _ in imps:
            if (module, target) in COMPATIBILITY:
                continue
            if layer_of(target) > layer_of(module):
                lo, hi = LAYERS[layer_of(module)][0], LAYERS[layer_of(target)][0]
                bad.append(f"{MODULES[module][0].relative_to(ROOT)}:{line}: {module} ({lo}) imports {target} ({hi})")
    assert bad == []


def test_layer_rule_catches_an_upward_import() -> None:
    # the checks themselves: dsp above core, cli above all
    assert layer_of("sensorio.dsp.stages") > layer_of("sensorio.blocks")
    assert layer_of("sensorio.cli.cmd_record") == len(LAYERS) - 1
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_commands_share_through_cli_modules_not_through_each_other() -> None:
    # one command importing another's helpers hides what they share; shared
    # pieces live in the cli's private modules (_options, _fitting, ...)
    bad = [
        f"{module} imports {target}"
        for module, imps in GRAPH.items()
        if module.startswith("sensorio.cli.cmd_")
        for target, _, _ in imps
        if target.startswith("sensorio.cli.cmd_") and target != module
    ]
    assert bad == []


#: attribute names that start with "_" but are public API of someone else
_NOT_PRIVATE = {"_SubParsersAction", "_replace", "_asdict", "_fields", "_make"}


def test_no_private_attribute_used_outside_its_module() -> None:
    """``obj._name`` only in the module that defines ``_name`` (or, for a
    package's private helper modules ``_x.py``, in the same package)."""
    defined: dict[str, set[str]] = {}
    trees = {m: ast.parse(p.read_text(encoding="utf-8")) for m, (p, _) in MODULES.items()}
    for m, tree in trees.items():
        names = defined.setdefault(m, set())
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(n.name)
            elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"):
                names.add(n.attr)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                names.add(n.id)
    bad = []
    for m, tree in trees.items():
        package = m if MODULES[m][1] else m.rsplit(".", 1)[0]
        helper = m.rsplit(".", 1)[-1].startswith("_")
        allowed = set(defined[m])
        if helper:  # a private helper module of a package may use its package's privates
            for other, names in defined.items():
                if other == package or other.startswith(package + "."):
                    allowed |= names
        for n in ast.walk(tree):
            if not (isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")):
                continue
            if isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"):
                continue
            if n.attr in allowed or n.attr in _NOT_PRIVATE:
                continue
            bad.append(f"{MODULES[m][0].relative_to(ROOT)}:{n.lineno}: .{n.attr}")
    assert bad == []


_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def test_library_errors_name_no_command_line_flags() -> None:
    """Messages raised outside sensorio.cli name settings by their keyword
    arguments (errors.Advice); the command line adds its own flags."""
    bad = []
    for m, (path, _) in MODULES.items():
        if layer_of(m) == len(LAYERS) - 1:
            continue  # the command line (and the test plugin's options) may speak in flags
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            for const in ast.walk(node.exc):
                if isinstance(const, ast.Constant) and isinstance(const.value, str) and _FLAG.search(const.value):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {const.value!r}")
    assert bad == []


def test_advice_is_spelt_by_each_caller() -> None:
    from sensorio.cli._options import cli_text
    from sensorio.errors import Advice, SensorioError

    err = SensorioError(Advice("x.sior exists: choose another name or pass {overwrite}", overwrite=True))
    assert str(err) == "x.sior exists: choose another name or pass overwrite=True"
    assert cli_text(err) == "x.sior exists: choose another name or pass --force"
    tip = Advice("no frames: try {format}", format="cyton")
    assert str(tip) == "no frames: try format='cyton'" and cli_text(tip) == "no frames: try --format cyton"
    assert cli_text(SensorioError("plain {words} stay")) == "plain {words} stay"


def test_stats_mirrors_the_c_struct() -> None:
    import dataclasses

    from sensorio._binding import ffi
    from sensorio.parser import Stats

    c_fields = [name for name, _ in ffi.typeof("sio_stats").fields]
    assert [f.name for f in dataclasses.fields(Stats)] == [*c_fields, "bytes_pending"]


def test_top_level_names_have_docstrings() -> None:
    """Every name sensorio exports, and every public method and property of
    its classes, says what it is."""
    import inspect

    import sensorio

    missing = []
    for name in sensorio.__all__:
        obj = getattr(sensorio, name)
        if not (inspect.isclass(obj) or callable(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                target = value.fget if isinstance(value, property) else value
                if callable(target) and not (getattr(target, "__doc__", None) or "").strip():
                    missing.append(f"{name}.{attr}")
    assert missing == []
