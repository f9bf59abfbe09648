"""The house's structure, read off the source with ``ast``: dependencies point one way, down the
layers below (docs/DESIGN.md, "Layers"), with no import cycle; functions and signatures stay
short. Every import counts, at the top of a module or inside a function (a lazy import is where
a leak hides) or under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The layers, bottom first. A module may import its own layer and any layer on a lower row; the
# layers on one row are siblings and import none of each other. ``name.*`` is a package and every
# module in it; any other name is exactly that module. A new module must be given a layer here.
LAYERS: list[dict[str, tuple[str, ...]]] = [
    {"temporal": ("temporal.*",)},  # plain functions over arrays; knows nothing of vidx
    # value grammars and constants: what an option may be (import only each other)
    {
        "core": (
            "vidx.errors",
            "vidx.version",
            "vidx.values.*",
            "vidx.values.sizes",
            "vidx.values.prompt_schedule",
        )
    },
    {"options": ("vidx.options",)},  # every knob, declared once
    # shared basics every layer above may use
    {
        "base": (
            "vidx.frame",
            "vidx.device",
            "vidx.weights",
            "vidx.io.sidecar",
            "vidx.quiet",
        )
    },
    {"io": ("vidx.io.*",), "restyle": ("vidx.restyle.*",), "upscale": ("vidx.upscale.*",)},
    # the streaming pass and what it runs on each frame
    {
        "pipeline": (
            "vidx.pipeline",
            "vidx.analysis",
            "vidx.regions",
            "vidx.compare",
        )
    },
    # plan and run jobs: segments, Ray, stills, sequences, batches, previews
    {
        "jobs": (
            "vidx.jobs",
            "vidx.jobs.run",
            "vidx.jobs.state",
            "vidx.jobs.interrupt",
            "vidx.jobs.jobfile",
            "vidx.jobs.batch",
            "vidx.jobs.variants",
            "vidx.jobs.preview",
            "vidx.jobs.gallery",
            "vidx.jobs.stills",
            "vidx.jobs.sequence_job",
            "vidx.jobs.segments",
            "vidx.jobs.segment_plan",
            "vidx.jobs.two_pass",
            "vidx.jobs.clip_metrics",
            "vidx.jobs.timeline",
            "vidx.jobs.timeline_plan",
            "vidx.scale.*",
        )
    },
    {"api": ("vidx", "vidx.api")},  # ``import vidx`` and the Python API the entry points wrap
    # entry points: the CLI and the web UI, both over the API
    {"entry": ("vidx.__main__", "vidx.cli", "vidx.console", "vidx.serve.*")},
]

# Rules that other branches of issue 24 make true; their tests below are strict xfails, and the
# imports they name are left out of the general check until then. The lead removes an entry and
# its xfail mark after merging that branch.
PENDING: dict[tuple[str, str], str] = {}


def module_files() -> dict[str, Path]:
    files = {}
    for top in ("vidx", "temporal"):
        for path in sorted((ROOT / top).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            files[name.removesuffix(".__init__")] = path
    return files


FILES = module_files()


def layer_of(module: str) -> tuple[int, str] | None:
    """(row, layer) of a module, None when the table does not name it."""
    for row, layers in enumerate(LAYERS):
        for layer, names in layers.items():
            for name in names:
                package = name.removesuffix(".*")
                inside = name != package and module.startswith(package + ".")
                if module == package or inside:
                    return row, layer
    return None


def imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every vidx or temporal module ``path`` imports, anywhere in it
    (``from x import y`` is ``x.y`` when that is a module, else ``x``)."""
    return imports_in(ast.parse(path.read_text()))


def imports_in(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in ("vidx", "temporal"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.append((node.lineno, sub if sub in FILES else node.module))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name)
                for a in node.names
                if a.name.split(".")[0] in ("vidx", "temporal")
            ]
    return found


def edges() -> list[tuple[str, int, str]]:
    """``(module, line, imported)`` for every import between two modules of the house."""
    return [(m, line, i) for m, p in FILES.items() for line, i in imports(p) if i in FILES]


def rule_broken(module: str, imported: str) -> str | None:
    """Which rule ``module`` importing ``imported`` breaks, None when it keeps them."""
    (row, layer), (to_row, to_layer) = layer_of(module), layer_of(imported)  # type: ignore[misc]
    if to_row > row:
        return f"{layer} must not import {to_layer} (a layer above it)"
    if to_row == row and to_layer != layer:
        return f"{layer} must not import {to_layer} (siblings import none of each other)"
    return None


def where(module: str, line: int) -> str:
    return f"{FILES[module].relative_to(ROOT)}:{line}"


def test_every_module_has_a_layer() -> None:
    missing = [m for m in FILES if layer_of(m) is None]
    assert missing == [], f"give these modules a layer in LAYERS ({__file__}): {missing}"


def test_no_import_points_upward() -> None:
    broken = []
    for module, line, imported in edges():
        rule = rule_broken(module, imported)
        pair = (layer_of(module)[1], layer_of(imported)[1])  # type: ignore[index]
        if rule is not None and pair not in PENDING:
            broken.append(f"{where(module, line)}: {module} imports {imported}: {rule}")
    assert broken == [], "\n".join(broken)


def test_options_import_only_the_core() -> None:
    """``vidx.options`` sits at the bottom: errors, value grammars and the standard library."""
    found = [(line, i) for line, i in imports(FILES["vidx.options"]) if layer_of(i) != (1, "core")]
    assert found == []


def test_temporal_imports_nothing_of_vidx() -> None:
    found = [
        f"{where(m, line)}: {i}"
        for m, line, i in edges()
        if m.startswith("temporal") and not i.startswith("temporal")
    ]
    assert found == []


def test_a_package_runs_no_code_of_its_own_modules() -> None:
    """A package's ``__init__`` may re-export its modules at its top, but holds no code that
    imports one of them later: that module loads the package first, so the two import each
    other (``vidx.serve`` started the server by importing ``vidx.serve.app``, which imported
    ``vidx.serve``; the server now starts in ``vidx.serve.start``). The top ``vidx`` package is
    left out: it is the API's facade, whose names load their modules on first use."""
    found = []
    for module, path in FILES.items():
        if path.name != "__init__.py" or module == "vidx":
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = ast.Module(body=[node], type_ignores=[])
                found += [
                    f"{where(module, line)}: {module} imports {i} inside {node.name}"
                    for line, i in imports_in(inner)
                    if i.startswith(module + ".")
                ]
    assert found == []


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in FILES}
    for module, _, imported in edges():
        graph[module].add(imported)
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError(" -> ".join([*trail, m, n]))
            if n not in state:
                visit(n, [*trail, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_restyle_does_not_import_upscale() -> None:
    found = [
        f"{where(m, line)}: {m} imports {i}"
        for m, line, i in edges()
        if m.startswith("vidx.restyle") and i.startswith("vidx.upscale")
    ]
    assert found == []


def test_the_pipeline_does_not_read_job_options() -> None:
    """The pipeline is told what to do; it does not read the whole job's options to decide.
    An output may carry them to be recorded (the sidecar's ``params``): the only use of
    ``.options`` in the pipeline is ``.to_dict()``, and of ``JobOptions`` a type annotation."""
    tree = ast.parse(FILES["vidx.pipeline"].read_text())
    reads = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Attribute)
        and n.value.attr == "options"
        and n.attr != "to_dict"
    ]
    calls = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "JobOptions"
    ]
    assert reads + calls == []


# Function size: at most 80 lines a function, 8 parameters a signature (self and cls not counted).
MAX_LINES = 80
MAX_PARAMS = 8
LAYOUT = {"vidx.serve.app.build"}  # declarative UI layout: one long `with` tree of widgets
# Being cut down on other branches of issue 24; the lead empties these after merging them.
LONG_PENDING: set[str] = set()  # none left: the lists stay for the next long or wide one
WIDE_PENDING: set[str] = set()


def functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """``(qualified name, node)`` for every function and method."""
    out = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append((f"{prefix}.{child.name}", child))
                walk(child, f"{prefix}.{child.name}")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}.{child.name}")

    for module, path in FILES.items():
        walk(ast.parse(path.read_text()), module)
    return out


def lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1


def params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = node.args
    names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    names += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
    return len([n for n in names if n not in ("self", "cls")])


def test_functions_are_short() -> None:
    long = [
        f"{name}: {lines(node)} lines"
        for name, node in functions()
        if lines(node) > MAX_LINES and name not in LAYOUT | LONG_PENDING
    ]
    assert long == [], f"over {MAX_LINES} lines"


def test_signatures_are_short() -> None:
    wide = [
        f"{name}: {params(node)} parameters"
        for name, node in functions()
        if params(node) > MAX_PARAMS and name not in WIDE_PENDING
    ]
    assert wide == [], f"over {MAX_PARAMS} parameters"


def test_the_pending_lists_name_real_offenders() -> None:
    """An entry leaves the allow-lists when its function is cut down (or gone)."""
    by_name = dict(functions())
    long = {
        n
        for n in LONG_PENDING
        if n in by_name and by_name[n].end_lineno - by_name[n].lineno + 1 > MAX_LINES
    }  # type: ignore[operator]
    wide = {n for n in WIDE_PENDING if n in by_name and params(by_name[n]) > MAX_PARAMS}
    assert (long, wide) == (LONG_PENDING, WIDE_PENDING)
