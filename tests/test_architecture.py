"""The layers of ARCHITECTURE.md, checked on the source: each folder of the package (and the
few base modules beside them) imports only from the layers it is allowed to, so that the
arrows stay one way as the code grows. Evaluation and prediction never import training:
the run folder (`mnistlab.runs`) is the one interface between them."""

import ast
from pathlib import Path

import mnistlab

PACKAGE = Path(mnistlab.__file__).parent
BASE = {"errors", "atomic", "reading", "precision", "memory"}
LAYERS = {  # folder (or base module) → what it may import, besides itself
    "base": set(),
    "data": {"base"},
    "models": {"base", "data"},
    "run_checks": {"base", "models"},  # what runs.py checks in each file it reads
    "runs": {"base", "data", "models", "run_checks"},
    "explanation": {"base", "data", "models", "runs"},  # why an image got its answer
    "evaluation": {"base", "data", "models", "runs", "explanation"},
    "training": {"base", "data", "models", "runs", "evaluation", "prediction"},
    "prediction": {"base", "data", "models", "runs"},
    "serve": {"base", "data", "models", "runs", "prediction", "explanation"},
    "cli": {
        "base",
        "data",
        "models",
        "runs",
        "evaluation",
        "training",
        "prediction",
        "serve",
        "explanation",
    },
    "__init__": {"base", "data"},  # the rest of the API loads lazily, by name
    "__main__": {"cli"},
}


def _layer(module: str) -> str:
    top = module.split(".")[1]
    return "base" if top in BASE | {"__version__"} else top


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mnistlab"):
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mnistlab.")}
    return found


def test_every_module_has_a_layer_and_imports_point_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("mnistlab", *path.relative_to(PACKAGE).with_suffix("").parts))
        layer = _layer(module)
        assert layer in LAYERS, f"{module}: give it a layer in LAYERS"
        allowed = LAYERS[layer] | {layer}
        wrong += [f"{module} → {name}" for name in _imports(path) if _layer(name) not in allowed]
    assert not wrong, "imports against the direction: " + ", ".join(wrong)


def test_the_layers_are_the_folders():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert folders | modules - BASE == set(LAYERS) - {"base"}
