"""The dependency direction of ARCHITECTURE.md, checked on the source: a module imports only
from its own layer or the layers before it (data → models → training → evaluation →
prediction → serving), so that the arrows stay one way as the code grows."""

import ast
from pathlib import Path

import mnistlab

PACKAGE = Path(mnistlab.__file__).parent
LAYERS = {  # module (or package) → layer; ARCHITECTURE.md, "Where each idea lives"
    "errors": 0, "atomic": 0, "precision": 0, "memory": 0,
    "data": 1,
    "models": 2,
    "settings": 3, "augment": 3, "steps": 3, "loop": 3, "budget": 3, "scores": 3, "runs": 3,
    "training": 3, "distributed": 3,
    "evaluate": 4, "plots": 4, "report": 4, "compare": 4, "sweep": 4, "export": 4,
    "images": 5, "framing": 5, "preprocess": 5, "predict": 5,
    "serve": 6,
    "cli": 7, "tables": 7, "__init__": 7, "__main__": 7,
}  # fmt: skip


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[1]]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mnistlab"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            found |= {n for n in names if n.split(".")[1] in LAYERS} or {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mnistlab.")}
    return {name for name in found if name != "mnistlab"}


def test_every_module_has_a_layer_and_imports_point_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("mnistlab", *path.relative_to(PACKAGE).with_suffix("").parts))
        assert module.split(".")[1] in LAYERS, f"{module}: give it a layer in LAYERS"
        wrong += [f"{module} → {name}" for name in _imports(path) if _layer(name) > _layer(module)]
    assert not wrong, "imports against the direction: " + ", ".join(wrong)
