"""The package's shape: no module-level import circle, lower layers never import higher ones,
and the emulator and the client never import each other. Read from the source (ast), so a
lazy import inside a function is not a module-level import."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "smartdc_nb"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(name: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The package's modules one import statement of module ``name`` loads."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            here = name.split(".") if MODULES[name].name == "__init__.py" else \
                name.split(".")[:-1]
            here = here[:len(here) - (node.level - 1)]
            base = ".".join(here + ([node.module] if node.module else []))
        targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                   for alias in node.names]
    found = set()
    for target in targets:
        while target and target not in MODULES and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in MODULES and target != name:
            found.add(target)
    return found


def module_level_imports(name: str) -> set[str]:
    """What ``name`` imports when it is loaded (TYPE_CHECKING blocks and functions aside)."""
    tree = ast.parse(MODULES[name].read_text())
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update(imported(name, node))
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
    visit(tree.body)
    return found


GRAPH = {name: module_level_imports(name) for name in MODULES}


def circles() -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(GRAPH):
        if v not in index:
            connect(v)
    return groups


#: The layers, lowest first (CONTRIBUTING.md): a module may import its own layer and lower ones
#: when it loads; only smartdc_nb.seam imports upward, inside its functions.
LAYERS = {
    "wire": ("_version", "errors", "config", "config_files", "auth", "transport", "retry", "answers", "ratelimit",
             "paging", "limits", "writes", "parallel", "gcpause",
             "httpsession", "call_notices", "call_groups", "pandas_text", "terminating"),
    "rules": ("rules", "seam", "masking"),
    "resources": ("resources", "datacenter", "machine", "machinelist", "fleet", "catalog",
                  "changes", "change", "feed_socket"),
    "operations": ("operations", "bulk", "waiters", "plans", "plan_ids", "plan_runs",
                   "journaling", "journal_store", "journal_lines", "journal_shape",
                   "journal_place", "journal_segments", "journal_pruning",
                   "journal_views", "journal_command", "resuming", "resume_command", "run_locks", "feedwait",
                   "progress"),
    "views": ("frames", "dictionary", "dictionary_data", "display", "widgets", "live"),
    "entry points": ("cli", "demo", "runbook", "notebooks", "docs"),
}
RANK = {top: rank for rank, tops in enumerate(LAYERS.values()) for top in tops}


def rank(name: str) -> int:
    """The layer of module ``name`` (the package itself sits above everything it names)."""
    parts = name.split(".")
    return len(LAYERS) if len(parts) == 1 else RANK[parts[1]]


CLIENT = sorted(n for n in MODULES if not n.startswith("smartdc_nb.emulator") and n != "smartdc_nb")


def every_import(name: str) -> set[str]:
    """What ``name`` imports anywhere: at load time, in functions (TYPE_CHECKING aside)."""
    tree = ast.parse(MODULES[name].read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in typing_only:
            found |= imported(name, node)
    return found


def test_no_module_level_import_circle():
    assert circles() == []


def test_every_client_module_has_a_layer():
    unknown = [n for n in CLIENT if n.split(".")[1] not in RANK]
    assert unknown == [], "give these a layer in LAYERS (and CONTRIBUTING.md)"


def test_no_module_imports_a_higher_layer_when_it_loads():
    upward = [(n, d) for n in CLIENT for d in GRAPH[n]
              if not d.startswith("smartdc_nb.emulator") and rank(d) > rank(n)]
    assert upward == []


def test_resources_reach_up_only_through_the_seam():
    """A lazy import in a function is still a dependency: below the operations, only the
    seam may have one on a higher layer."""
    assert "smartdc_nb.operations.waits" in every_import("smartdc_nb.seam")  # lazy ones count
    low = [n for n in CLIENT if rank(n) <= RANK["resources"] and n != "smartdc_nb.seam"]
    upward = [(n, d) for n in low for d in every_import(n)
              if not d.startswith("smartdc_nb.emulator") and rank(d) > RANK["resources"]]
    assert upward == []


def test_the_checker_sees_a_circle_and_a_lazy_import():
    # a relative import, an import under TYPE_CHECKING and one inside a function
    assert "smartdc_nb.errors" in GRAPH["smartdc_nb.rules"]
    assert "smartdc_nb.transport" not in GRAPH["smartdc_nb.machine"]  # TYPE_CHECKING only
    assert "smartdc_nb.widgets" not in GRAPH["smartdc_nb.machine"]  # inside panel()
    saved = dict(GRAPH)
    try:
        GRAPH["smartdc_nb.errors"] = GRAPH["smartdc_nb.errors"] | {"smartdc_nb.rules"}
        assert ["smartdc_nb.errors", "smartdc_nb.rules"] in circles()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_the_emulator_and_the_client_never_import_each_other():
    emulator = {n for n in MODULES if n.startswith("smartdc_nb.emulator")}
    for name in MODULES:
        tree = ast.parse(MODULES[name].read_text())
        every = set()
        for node in ast.walk(tree):  # lazy imports count here too
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                every |= imported(name, node)
        if name in emulator:
            assert every <= emulator | {"smartdc_nb"}, (name, every - emulator)
        else:
            assert not every & emulator, (name, every & emulator)


def test_the_package_never_uses_its_own_deprecated_import_paths():
    """The old paths (smartdc_nb.bulk, .waiters, .machine, the three views) stay for users;
    the package imports the modules the names now live in."""
    shims = {name for name, path in MODULES.items()
             if (ast.get_docstring(ast.parse(path.read_text())) or "").startswith(
                 "Deprecated import path")}
    assert {"smartdc_nb.bulk", "smartdc_nb.waiters", "smartdc_nb.machine"} <= shims
    users = {}
    for name, path in MODULES.items():
        if name in shims:
            continue
        for node in ast.walk(ast.parse(path.read_text())):  # lazy imports too
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                used = imported(name, node) & shims
                if used:
                    users.setdefault(name, set()).update(used)
    assert users == {}
