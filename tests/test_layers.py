"""The package's layering, checked by parsing mdflow/ with ast: nothing is imported or run.

An edge is any `import` or `from ... import` anywhere in a module, inside functions too, except
under `if TYPE_CHECKING:`. `from mdflow import x` is an edge to the module `mdflow.x` when there
is one, else to the package `mdflow` (its __init__). A package's __init__ is a node of its own.
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "mdflow"

# Each module prefix's layer; the longest matching prefix wins, and an import may only point to
# the same layer or one below (cycles are tested on their own). `mdflow` matches only its __init__.
LAYERS: dict[str, int] = {
    name: rank
    for rank, names in enumerate(
        [
            # 0 base
            "mdflow.errors mdflow.hashing mdflow.paths mdflow.pool mdflow.progress mdflow.lock"
            " mdflow.urls",
            # 1 formats
            "mdflow.pointer mdflow.manifest mdflow.config mdflow.changes mdflow.remote.formats"
            " mdflow.schemas mdflow.tables",
            # 2 storage and adapters
            "mdflow.cache mdflow.state mdflow.gitrepo mdflow.gitignore mdflow.profile"
            " mdflow.rowdiff mdflow.compare mdflow.render mdflow.visitors mdflow.remote"
            " mdflow.transfer",
            # 3 repository
            "mdflow.repo mdflow.workspace mdflow.datasets mdflow.sources",
            # 4 library
            "mdflow.status mdflow.checkout mdflow.sync mdflow.reading mdflow.history mdflow.reports"
            " mdflow.lineage mdflow.hooks mdflow.drivers mdflow.tracking mdflow.gc mdflow.fsck"
            " mdflow.diff mdflow.imports",
            # 5 front ends: mdflow.api imports only the library, never the commands
            "mdflow.api mdflow.commands",
            # 6 top: only the CLI reads mdflow.__version__; nothing below imports mdflow/__init__
            "mdflow mdflow.cli mdflow.__main__",
        ]
    )
    for name in names.split()
}


def under(name: str, *prefixes: str) -> bool:
    """Whether `name` is one of the `prefixes` or inside one of them."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def nodes(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and everything below it, except the bodies of `if TYPE_CHECKING:`."""
    yield node
    test = node.test if isinstance(node, ast.If) else None
    name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)  # typing.X
    if isinstance(node, ast.If) and name == "TYPE_CHECKING":
        children: list[ast.AST] = list(node.orelse)
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from nodes(child)


def imported(source: str, module: str, known: Collection[str], *, init: bool = False) -> set[str]:
    """The names `source`, the text of `module`, imports; relative imports made absolute and
    `from a import b` taken as an import of `a.b` when that is one of the `known` modules."""
    found: set[str] = set()
    for node in nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if init else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found


@functools.cache
def imports(path: Path) -> frozenset[str]:
    """Every name the file at `path` imports, mdflow's or not."""
    init = path.name == "__init__.py"
    return frozenset(imported(path.read_text(), module_name(path), modules(), init=init))


def scan(path: Path) -> set[str]:
    """The mdflow modules the file at `path` imports, itself excepted."""
    return {name for name in imports(path) if under(name, "mdflow")} - {module_name(path)}


@functools.cache
def graph() -> dict[str, set[str]]:
    return {name: scan(path) for name, path in modules().items()}


def edges() -> Iterator[tuple[str, str]]:
    for source, targets in sorted(graph().items()):
        yield from ((source, target) for target in sorted(targets))


def layer(name: str) -> int | None:
    matches = [p for p in LAYERS if name == p or (p != "mdflow" and under(name, p))]
    return LAYERS[max(matches, key=len)] if matches else None


def shortest_cycle(g: dict[str, set[str]], start: str) -> list[str] | None:
    """A shortest chain of imports from `start` back to itself (breadth first), if any."""
    queue, seen = deque([[start]]), {start}
    while queue:
        path = queue.popleft()
        for module in sorted(g.get(path[-1], set())):
            if module == start:
                return [*path, start]
            if module not in seen:
                seen.add(module)
                queue.append([*path, module])
    return None


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """A shortest cycle through each module on one, unless it only repeats one found before."""
    found: list[list[str]] = []
    for start in sorted(g):
        cycle = shortest_cycle(g, start)
        if cycle and not any(set(cycle) <= set(other) for other in found):
            found.append(cycle)
    return found


def violations(importer: Callable[[str], bool], *targets: str) -> list[str]:
    """`a imports b` for each edge from a module `importer` accepts to one under `targets`."""
    return [f"{a} imports {b}" for a, b in edges() if importer(a) and under(b, *targets)]


def forbid(rule: str, offences: list[str]) -> None:
    if offences:
        pytest.fail(f"{rule}:\n  " + "\n  ".join(offences), pytrace=False)


def test_the_scanner() -> None:
    source = (
        "from __future__ import annotations\n"
        "import os.path\n"
        "from typing import TYPE_CHECKING\n"
        "from mdflow import errors, __version__\n"
        "from . import store\n"
        "from .formats import Format\n"
        "from .. import paths as p\n"
        "if TYPE_CHECKING:\n"
        "    from mdflow.repo import Repo\n"
        "else:\n"
        "    import mdflow.lock\n"
        "def f() -> None:\n"
        "    import mlflow.entities\n"
        "    from mdflow.remote.store import Store\n"
    )
    known = {"mdflow", "mdflow.errors", "mdflow.paths", "mdflow.lock", "mdflow.repo"}
    known |= {"mdflow.remote", "mdflow.remote.store", "mdflow.remote.formats", "mdflow.remote.x"}
    assert imported(source, "mdflow.remote.x", known) == {
        *("__future__", "os.path", "typing", "mlflow.entities", "mdflow", "mdflow.errors"),
        *("mdflow.remote.store", "mdflow.remote.formats", "mdflow.paths", "mdflow.lock"),
    }
    # in a package's __init__, `.` is the package itself
    init = "from . import store\nfrom .formats import Format\nfrom .. import errors\n"
    assert imported(init, "mdflow.remote", known, init=True) == {
        "mdflow.remote.store",
        "mdflow.remote.formats",
        "mdflow.errors",
    }


def test_the_graph_is_not_empty() -> None:
    assert len(graph()) >= 30, f"found only {sorted(graph())} under {ROOT}"
    assert len(list(edges())) >= 50, f"found only {list(edges())}"


def test_commands_never_import_each_other() -> None:
    forbid(
        "a command imports another command or the mdflow.commands package; move what they share"
        " into the library",
        violations(lambda name: under(name, "mdflow.commands"), "mdflow.commands"),
    )


def test_nothing_below_the_commands_imports_them() -> None:
    forbid(
        "only mdflow.commands.*, mdflow.cli and mdflow.__main__ may import the commands or the CLI",
        violations(
            lambda name: not under(name, "mdflow.commands", "mdflow.cli", "mdflow.__main__"),
            "mdflow.commands",
            "mdflow.cli",
        ),
    )


def test_commands_import_only_the_library() -> None:
    forbid(
        "a command imports the CLI",
        violations(lambda name: under(name, "mdflow.commands"), "mdflow.cli"),
    )


def test_no_import_cycles() -> None:
    forbid("import cycles", [" -> ".join(cycle) for cycle in cycles(graph())])


def test_only_the_mlflow_adapter_imports_mlflow() -> None:
    forbid(
        "only mdflow.remote.mlflow* may import mlflow",
        [
            f"{name} imports {target}"
            for name, path in modules().items()
            if not under(name, "mdflow.remote.mlflow")
            for target in sorted(imports(path))
            if under(target, "mlflow")
        ],
    )


def test_remote_and_transfer_do_not_know_the_repository() -> None:
    forbid(
        "mdflow.remote* and mdflow.transfer may not import mdflow.repo",
        violations(
            lambda name: under(name, "mdflow.remote") or name == "mdflow.transfer", "mdflow.repo"
        ),
    )


def test_layers_point_down() -> None:
    names = sorted({*graph(), *(target for _, target in edges())})
    forbid("modules in no layer, add them to LAYERS", [n for n in names if layer(n) is None])
    rank = {name: r for name in names if (r := layer(name)) is not None}
    forbid(
        "imports pointing up a layer",
        [
            f"{source} (layer {rank[source]}) imports {target} (layer {rank[target]})"
            for source, target in edges()
            if rank[target] > rank[source]
        ],
    )


def test_no_module_shadows_a_name_of_the_python_api() -> None:
    """`mdflow.read` is the API's function; a submodule `mdflow/read.py` would replace it with
    itself once imported. Imports every module (in a fresh interpreter), then calls through."""
    import subprocess
    import sys

    names = sorted(n for n in modules() if not n.startswith("mdflow.__main__"))
    code = (
        f"import importlib, mdflow\nfor n in {names!r}: importlib.import_module(n)\n"
        "bad = [a for a in mdflow.API if not callable(getattr(mdflow, a))]\nprint(bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
