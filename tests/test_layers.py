"""The package's import graph: arrows point down only, no cycles, one import style.

The allowed arrows (docs/ARCHITECTURE.md, "Layers") are read from every module's `import` statements with
`ast`, inside functions included, so nothing is imported to check them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "draftPY" / "wubugaad"

# layer → the layers its modules may import (always including its own). Root modules are layers of
# their own: `flagconfig` (the typed-config base), `tempfiles` (atomic-write names) and `loss_names` (the
# loss breakdown's keys, read by the model and the Q-controllers), which import nothing of the package,
# `config` (the shim over train's parser) and the package `__init__`.
ALLOWED = {
    "flagconfig": {"flagconfig"},
    "tempfiles": {"tempfiles"},
    "loss_names": {"loss_names"},
    "geometry": {"geometry"},
    "wubu": {"wubu", "geometry"},
    "gaad": {"gaad", "geometry"},
    "data": {"data", "geometry", "flagconfig", "tempfiles"},
    "optim": {"optim", "geometry", "loss_names"},
    "model": {"model", "wubu", "gaad", "geometry", "data", "flagconfig", "loss_names"},
    "report": {"report"},
    "train": {"train", "report", "model", "optim", "data", "wubu", "gaad", "geometry", "flagconfig",
              "tempfiles"},
    "study": {"study", "train"},
    "config": {"config", "train"},
    "__init__": {"__init__"},
}


def module_name(path: Path, root: Path) -> str:
    """`wubugaad.model.vaegan` for `root/model/vaegan.py`; a package's `__init__.py` names the package."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """The second name of a dotted module name (`wubugaad.model.vaegan` → `model`); the root package is
    `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path, root: Path, modules: set[str]) -> tuple[list[str], list[str]]:
    """(package modules imported by `path`, relative imports found) — `from wubugaad.x import y` names the
    submodule `wubugaad.x.y` when there is one, else the package `wubugaad.x`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found, relative = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == root.name]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                relative.append(f"{path.relative_to(root)}:{node.lineno}")
                continue
            if node.module is None or node.module.split(".")[0] != root.name:
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append(sub if sub in modules else node.module)
    return found, relative


def graph(root: Path) -> tuple[dict[str, list[str]], dict[str, Path], list[str]]:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = set(files)
    edges, relative = {}, []
    for name, path in files.items():
        found, rel = imports_of(path, root, modules)
        edges[name] = sorted(set(found) - {name})
        relative += rel
    return edges, files, relative


def layer_violations(root: Path) -> list[str]:
    """One line per import that goes against `ALLOWED`, or per relative import."""
    edges, files, relative = graph(root)
    bad = [f"relative import at {where} (use `from {root.name}.… import …`)" for where in relative]
    for name, targets in edges.items():
        mine = layer_of(name)
        for target in targets:
            theirs = layer_of(target)
            if theirs not in ALLOWED.get(mine, set()):
                bad.append(f"{files[name].relative_to(root)}: {name} ({mine}) imports {target} ({theirs})")
    return bad


def import_cycles(root: Path) -> list[list[str]]:
    """Every cycle found by a depth-first search of the module graph (each reported once, from its entry)."""
    edges, _, _ = graph(root)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return cycles


def test_every_arrow_points_down():
    assert layer_violations(PACKAGE) == []


def test_no_import_cycles():
    assert import_cycles(PACKAGE) == []


def test_every_layer_is_known():
    _, files, _ = graph(PACKAGE)
    layers = {layer_of(name) for name in files}
    assert layers <= set(ALLOWED)
    assert {"geometry", "wubu", "gaad", "model", "optim", "data", "train"} <= layers


def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "wubugaad"
    for rel in ["__init__.py", "geometry/__init__.py", "geometry/poincare.py", "wubu/__init__.py",
                "wubu/level.py", "model/__init__.py", "model/vaegan.py", "data/__init__.py",
                "optim/__init__.py", "train/__init__.py", *files]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(files.get(rel, ""), encoding="utf-8")
    return root


def test_an_upward_import_is_caught(tmp_path):
    root = _fake_package(tmp_path, {
        "data/loader.py": "from wubugaad.model import vaegan\n",
        "geometry/maps.py": "def f():\n    import wubugaad.wubu.level\n",
        "optim/adam.py": "from wubugaad.train import trainer\n",
        "wubu/stack.py": "from . import level\n",
        "train/trainer.py": "from wubugaad.model.vaegan import build\n",
    })
    found = layer_violations(root)
    assert any("data/loader.py" in line and "wubugaad.model.vaegan (model)" in line for line in found)
    assert any("geometry/maps.py" in line and "(wubu)" in line for line in found)
    assert any("optim/adam.py" in line and "(train)" in line for line in found)
    assert any("relative import at wubu/stack.py" in line for line in found)
    assert not any("train/trainer.py" in line for line in found)  # downward: allowed
    assert len(found) == 4


def test_a_cycle_is_caught(tmp_path):
    root = _fake_package(tmp_path, {
        "model/a.py": "from wubugaad.model import b\n",
        "model/b.py": "import wubugaad.model.a\n",
    })
    assert import_cycles(root) == [["wubugaad.model.a", "wubugaad.model.b", "wubugaad.model.a"]]
    assert layer_violations(root) == []
