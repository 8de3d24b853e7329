"""The package's layering, checked by parsing mdflow/ with ast: nothing is imported or run.

An edge is any `import` or `from ... import` anywhere in a module, inside functions too, or a
call of `importlib.import_module` or `__import__` (to `?` when its name is not a literal).
`from mdflow import x` is an edge to the module `mdflow.x` when there is one, else to the
package `mdflow` (its __init__). A package's __init__ is a node of its own. Edges under
`if TYPE_CHECKING:` count for every rule but cycles and layer ranks (`runtime=True`).
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import cast

import pytest

ROOT = Path(__file__).resolve().parents[1] / "mdflow"

# Each module prefix's layer; the longest matching prefix wins, and an import may point to its own
# layer or to any lower one, never up (cycles are tested on their own). `mdflow` is its __init__.
LAYERS: dict[str, int] = {
    name: rank
    for rank, names in enumerate(
        [
            # 0 base
            "mdflow.errors mdflow.hashing mdflow.paths mdflow.pool mdflow.forks mdflow.progress"
            " mdflow.lock mdflow.urls mdflow.format_version mdflow.yamlfile",
            # 1 formats
            "mdflow.pointer mdflow.manifest mdflow.config mdflow.changes mdflow.remote.formats"
            " mdflow.schemas mdflow.tables",
            # 2 storage and adapters
            "mdflow.cache mdflow.debris mdflow.state mdflow.gitrepo mdflow.gitignore mdflow.profile"
            " mdflow.rowdiff mdflow.compare mdflow.render mdflow.visitors mdflow.remote"
            " mdflow.transfer mdflow.chunking mdflow.assembly mdflow.packs mdflow.streaming",
            # 3 repository
            "mdflow.repo mdflow.workspace mdflow.datasets mdflow.sources mdflow.integrity",
            # 4 library
            "mdflow.status mdflow.checkout mdflow.sync mdflow.reading mdflow.history mdflow.reports"
            " mdflow.lineage mdflow.hooks mdflow.installation mdflow.drivers mdflow.tracking"
            " mdflow.gc mdflow.fsck mdflow.diff mdflow.imports mdflow.recording mdflow.runs"
            " mdflow.clean mdflow.staging",
            # 5 front ends: mdflow.api imports only the library, never the commands
            "mdflow.api mdflow.commands",
            # 6 top: only the CLI reads mdflow.__version__; nothing below imports mdflow/__init__
            "mdflow mdflow.cli mdflow.__main__",
        ]
    )
    for name in names.split()
}
LIBRARY = range(5)  # the layers a command may import: the library and everything below it
DYNAMIC = ("import_module", "__import__")  # importlib's and the builtin's, however reached
TYPE_CHECKING = ("TYPE_CHECKING", "typing.TYPE_CHECKING")
# a command parses nothing and prints nothing: it imports no PARSERS and uses no CONSOLE
PARSERS = ("argparse", "optparse", "getopt", "click", "typer")
CONSOLE = {"print", "input", *(f"sys.{s}" for s in ("argv", "stdin", "stdout", "stderr"))}


def under(name: str, *prefixes: str) -> bool:
    """Whether `name` is one of the `prefixes` or inside one of them."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def dotted(node: ast.AST) -> str:
    """`a.b.c` for a name or an attribute chain, else ''."""
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def import_call(node: ast.AST) -> str | None:
    """The name a call of import_module or __import__ imports (`?` unless a literal), else None."""
    if isinstance(node, ast.Call) and dotted(node.func).rpartition(".")[2] in DYNAMIC:
        arg = node.args[0] if node.args else node.keywords[0].value if node.keywords else None
        return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else "?"
    return None


def nodes(node: ast.AST, *, runtime: bool) -> Iterator[ast.AST]:
    """`node` and everything below it; with `runtime`, not the bodies of `if TYPE_CHECKING:`."""
    yield node
    guard = runtime and isinstance(node, ast.If) and dotted(node.test) in TYPE_CHECKING
    for child in cast(ast.If, node).orelse if guard else ast.iter_child_nodes(node):
        yield from nodes(child, runtime=runtime)


def imported(
    source: str, module: str, known: Collection[str], *, init: bool = False, runtime: bool = False
) -> set[str]:
    """The names `source`, the text of `module`, imports; relative imports made absolute and
    `from a import b` taken as an import of `a.b` when that is one of the `known` modules."""
    found: set[str] = set()

    def add(base: str, level: int, names: Collection[str]) -> None:
        if level:
            anchor = module.split(".") if init else module.split(".")[:-1]
            base = ".".join([*anchor[: len(anchor) - level + 1], *([base] if base else [])])
        found.update({f"{base}.{n}" if f"{base}.{n}" in known else base for n in names} or {base})

    for node in nodes(ast.parse(source), runtime=runtime):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            add(node.module or "", node.level, [alias.name for alias in node.names])
        elif name := import_call(node):  # ".x" is relative
            add(name.lstrip("."), len(name) - len(name.lstrip(".")), ())
    return found


@functools.cache
def graph(*, runtime: bool = False) -> dict[str, set[str]]:
    """What each module imports, mdflow's or not, itself excepted."""
    return {
        m: imported(p.read_text(), m, modules(), init=p.stem == "__init__", runtime=runtime) - {m}
        for m, p in modules().items()
    }


def edges(*, runtime: bool = False) -> Iterator[tuple[str, str]]:
    for source, targets in sorted(graph(runtime=runtime).items()):
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
        "def f(name: str) -> None:\n"
        "    import mlflow.entities\n"
        "    from mdflow.remote.store import Store\n"
        "    if typing.TYPE_CHECKING:\n"
        "        import mdflow.cli\n"
        "    importlib.import_module('mdflow.remote.mlflow')\n"
        "    __import__('mdflow.commands')\n"
        "    importlib.import_module(name)\n"
    )
    known = {"mdflow", "mdflow.errors", "mdflow.paths", "mdflow.lock", "mdflow.repo"}
    known |= {"mdflow.remote", "mdflow.remote.store", "mdflow.remote.formats", "mdflow.remote.x"}
    runtime = {"__future__", "os.path", "typing", "mlflow.entities", "mdflow", "mdflow.errors"}
    runtime |= {"mdflow.remote.store", "mdflow.remote.formats", "mdflow.paths", "mdflow.lock"}
    runtime |= {"mdflow.remote.mlflow", "mdflow.commands", "?"}  # ? for the computed name
    assert imported(source, "mdflow.remote.x", known, runtime=True) == runtime
    assert imported(source, "mdflow.remote.x", known) == {*runtime, "mdflow.repo", "mdflow.cli"}
    # in a package's __init__, `.` is the package itself
    init = "from . import store\nfrom .formats import Format\nfrom .. import errors\n"
    init += "importlib.import_module('.mlflow', __name__)\n"
    expected = {"mdflow.remote.store", "mdflow.remote.formats", "mdflow.errors"}
    assert imported(init, "mdflow.remote", known, init=True) == {*expected, "mdflow.remote.mlflow"}


def test_the_graph_is_not_empty() -> None:
    assert len(graph()) >= 30, f"found only {sorted(graph())} under {ROOT}"
    ours = [edge for edge in edges(runtime=True) if under(edge[1], "mdflow")]
    assert len(ours) >= 50, f"found only {ours}"


def test_dynamic_imports_are_literals() -> None:
    forbid(
        "import_module or __import__ of a computed name (?) hides an edge from every rule here;"
        " only mdflow.visitors may, to load the visitor modules the user names in mdflow.yaml",
        violations(lambda name: name != "mdflow.visitors", "?"),
    )


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
        "a command imports the library and below (layers 0-4), never mdflow.api, the mdflow"
        " package, mdflow.cli* or another command",
        [
            f"{source} imports {target} (layer {layer(target)})"
            for source, target in edges()
            if under(source, "mdflow.commands") and under(target, "mdflow")
            if layer(target) not in LIBRARY
        ],
    )


def test_commands_parse_nothing_and_print_nothing() -> None:
    offences = violations(lambda name: under(name, "mdflow.commands"), *PARSERS)
    commands = {name: path for name, path in modules().items() if under(name, "mdflow.commands")}
    for name, path in commands.items():
        for node in ast.walk(ast.parse(path.read_text())):
            used = {dotted(node)}
            if isinstance(node, ast.ImportFrom):  # from sys import stdout
                used = {f"{node.module}.{alias.name}" for alias in node.names}
            offences += [f"{name}, line {node.lineno}: {u}" for u in sorted(used & CONSOLE)]
    forbid("a command parses nothing and prints nothing; the CLI does (mdflow/cli/)", offences)


def test_no_import_cycles() -> None:
    forbid("import cycles", [" -> ".join(cycle) for cycle in cycles(graph(runtime=True))])


def test_only_the_mlflow_adapter_imports_mlflow() -> None:
    forbid(
        "only mdflow.remote.mlflow* may import mlflow",
        violations(lambda name: not under(name, "mdflow.remote.mlflow"), "mlflow"),
    )


def test_only_the_remote_package_and_lineage_import_the_mlflow_adapter() -> None:
    # mdflow.remote opens a remote by its URL scheme; other remote code knows only the protocols
    allowed = ("mdflow.remote", "mdflow.lineage")
    forbid(
        "only mdflow.remote and mdflow.lineage may import mdflow.remote.mlflow*",
        violations(
            lambda name: name not in allowed and not under(name, "mdflow.remote.mlflow"),
            "mdflow.remote.mlflow",
        ),
    )


def test_remote_and_transfer_do_not_know_the_repository() -> None:
    forbid(
        "mdflow.remote* and mdflow.transfer may not import mdflow.repo, not even for type checking",
        violations(lambda name: under(name, "mdflow.remote", "mdflow.transfer"), "mdflow.repo"),
    )


def test_layers_point_down() -> None:
    names = sorted({*graph(), *(target for _, target in edges() if under(target, "mdflow"))})
    forbid("modules in no layer, add them to LAYERS", [n for n in names if layer(n) is None])
    rank = {name: r for name in names if (r := layer(name)) is not None}
    forbid(
        "imports pointing up a layer",
        [
            f"{source} (layer {rank[source]}) imports {target} (layer {rank[target]})"
            for source, target in edges(runtime=True)
            if rank.get(target, -1) > rank[source]
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
