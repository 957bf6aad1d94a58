"""Draw the imports of ``site_builder`` by layer, and check that they run one way.

    python scripts/import_layers.py            # the text diagram (as in docs/architecture.md)
    python scripts/import_layers.py --check    # exit 1 on a circle or an arrow that goes up

Every import is counted, those inside functions too (they are still dependencies).
A module may import modules of its own package and of lower layers, never of a higher
layer nor of another package of its own layer (the two base modules excepted). ``pzclient`` imports nothing of
``site_builder``. Functions over 80 lines must say why, in a comment starting
"# Long on purpose".
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "site_builder"

#: Layers from the bottom up, with the subpackages (or top-level modules) of each.
LAYERS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("base", ("errors", "system", "__init__"), "exceptions and operating-system primitives"),
    ("catalogue", ("catalog",), "domain model, schema, YAML, settings, Catalog, rules"),
    ("data", ("tables", "dvc"), "table readers and summaries; DVC pointers, cache, remote, git"),
    ("checks", ("validation",), "pz validate: metadata, references, data, summaries"),
    ("features", ("ingest", "site", "pr"), "pz add/update; site and JSON API; pull-request checks"),
    ("operations", ("deploy",), "nginx configuration, CSP, the dev stack"),
    ("interface", ("cli",), "the pz command (the only code that prints and exits)"),
)
MAX_FUNCTION_LINES = 80


def unit_of(module: str) -> str:
    """The subpackage (or top-level module) a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(unit: str) -> int:
    for index, (_, units, _) in enumerate(LAYERS):
        if unit in units:
            return index
    raise SystemExit(f"{PACKAGE}.{unit} is in no layer: add it to LAYERS in {Path(__file__).name}")


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def read_imports(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: {imported modules of the same package}}``."""
    modules = {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level:
                raise SystemExit(f"{path}: relative import; write it as `from {package}.… import …`")
            for target in targets:
                if target in modules and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def find_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def wrong_arrows(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for source, targets in sorted(graph.items()):
        su = unit_of(source)
        for target in sorted(targets):
            tu = unit_of(target)
            if su == tu:
                continue
            if layer_of(tu) > layer_of(su):
                problems.append(f"{source} imports {target}: an arrow up, from layer "
                                f"{LAYERS[layer_of(su)][0]!r} to {LAYERS[layer_of(tu)][0]!r}")
            elif layer_of(tu) == layer_of(su) and layer_of(su) != 0:  # base modules may use each other
                problems.append(f"{source} imports {target}: two packages of layer {LAYERS[layer_of(su)][0]!r}")
    return problems


def client_imports(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "pzclient").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == PACKAGE or n.startswith(PACKAGE + ".") for n in names):
                problems.append(f"{path.relative_to(root)}:{node.lineno}: pzclient imports {PACKAGE}")
    return problems


def long_functions(root: Path, package: str) -> list[str]:
    problems = []
    for path in sorted((root / package).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                body = lines[node.lineno - 1:node.end_lineno]
                if length > MAX_FUNCTION_LINES and not any("# Long on purpose" in line for line in body):
                    problems.append(f"{path.relative_to(root)}:{node.lineno}: {node.name}() has {length} lines; "
                                    "split it, or say why in a '# Long on purpose' comment")
    return problems


def render_diagram(graph: dict[str, set[str]]) -> str:
    """Layers top-down, each package with the lower packages it imports."""
    uses: dict[str, set[str]] = defaultdict(set)
    sizes: dict[str, int] = defaultdict(int)
    for source, targets in graph.items():
        sizes[unit_of(source)] += 1
        for target in targets:
            if unit_of(target) not in (unit_of(source), "__init__"):
                uses[unit_of(source)].add(unit_of(target))
    out = []
    for index in reversed(range(len(LAYERS))):
        name, units, what = LAYERS[index]
        out.append(f"{index} {name}: {what}")
        for unit in units:
            if unit == "__init__":
                continue
            label = f"{unit}/" if unit not in ("errors", "system") else f"{unit}.py"
            arrows = ", ".join(sorted(uses.get(unit, ())))
            out.append(f"    {label:<12} ({sizes[unit]} modules)" + (f"  -> {arrows}" if arrows else ""))
        if index:
            out.append("        |")
    return "\n".join(out) + "\n"


def check(root: Path = REPO) -> list[str]:
    graph = read_imports(root, PACKAGE)
    problems = [f"circle: {' <-> '.join(c)}" for c in find_circles(graph)]
    problems += wrong_arrows(graph)
    problems += client_imports(root)
    problems += long_functions(root, PACKAGE)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 on any circle or upward arrow")
    args = parser.parse_args()
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problems" if problems else "imports run one way: no circles, no arrows up",
              file=sys.stderr)
        return 1 if problems else 0
    print(render_diagram(read_imports(REPO, PACKAGE)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
