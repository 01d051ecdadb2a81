"""The draw-a-digit page without a server: `mnistlab export RUN --format web --out SITE`.

SITE/ holds the page (index.html, static/), the run's model (model.onnx, the same file as
`--format onnx`), model.json (what the page needs besides the graph) and onnxruntime-web
(ort/, from the cache: serve/browser_runtime.py). Any static file server serves it; the page
prepares the drawing (static/preprocess.js) and runs the model itself, in a web worker
(static/local.js, static/model-worker.js, static/session.js).
`mnistlab serve` gives its own page the same model.json, the export its workers load and the
cached runtime, so that page answers drawings in the browser too (serve/app.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mnistlab import atomic, runs
from mnistlab.errors import MnistlabError
from mnistlab.models.reject import NOT_LIKE, TOO_LITTLE_INK, UNSURE
from mnistlab.prediction.export import ONNX_FILE, export_run
from mnistlab.prediction.preprocess import SMALL, THICK, TOO_THICK
from mnistlab.serve import browser_runtime

STATIC = Path(__file__).parent / "static"
# under static/, beside index.html
PAGE = ("style.css", "app.js", "imaging.js", "resample.js", "preprocess.js", "local.js",
        "session.js", "model-worker.js", "explain.js")  # fmt: skip
MANIFEST = "model.json"
ABOUT = ("dataset", "model", "test_accuracy", "parameters", "epochs", "run")  # shown on the page
RUNTIME = "ort/"  # the runtime's files, under the page's folder (and the server's root)
STATIC_MARK = ('<html lang="en">', '<html lang="en" data-site="static">')  # no server behind


def manifest(describe: dict, metadata: dict[str, str] | None) -> dict:
    """model.json: `describe` is Classifier.describe(); `metadata` the ONNX file's (None: no
    model for the browser, the page asks the server). The reject threshold and the "unsure"
    limit come from the file, which holds the temperature they were fitted with."""
    reject = None
    if metadata and "mnistlab.reject_threshold" in metadata:
        reject = {"threshold": float(metadata["mnistlab.reject_threshold"]),
                  "unsure_below": float(metadata["mnistlab.unsure_below"])}  # fmt: skip
    return {
        "model": ONNX_FILE if metadata is not None else None,
        "runtime": RUNTIME if metadata is not None else None,
        "runtime_version": browser_runtime.VERSION,
        "loader": browser_runtime.LOADER,
        "wasm": browser_runtime.WASM + ".gz",
        "classes": describe["classes"],
        "preprocessing": describe["preprocessing"],
        "about": {key: describe.get(key) for key in ABOUT},
        "calibrated": bool(metadata) and "mnistlab.temperature" in metadata,
        "reject": reject,
        "ink": {"too_thick": TOO_THICK, "thick": THICK, "small": SMALL},
        "messages": {"too_little_ink": TOO_LITTLE_INK, "not_like": NOT_LIKE, "unsure": UNSURE},
    }


def write_site(run_dir: str | Path, out: str | Path) -> dict[str, int]:
    """Write the static page of the run into OUT; the size in bytes of each part."""
    from mnistlab.prediction.classifier import Classifier

    run_dir, out = Path(run_dir), Path(out)
    if out.exists() and not out.is_dir():
        raise MnistlabError(f"{out} is a file; name a folder for the page (--out SITE)")
    reads = runs.load_config(run_dir).get("preprocessing", "digits")
    if reads != "digits":
        raise MnistlabError(f"{run_dir} reads {reads}; the page prepares digits only in the "
                            "browser: serve this run with `mnistlab serve` instead")  # fmt: skip
    runtime = browser_runtime.ensure()  # before the export, which takes seconds
    try:
        export_run(run_dir, out / ONNX_FILE)
        classifier = Classifier.load(run_dir, runtime="onnx", onnx_file=out / ONNX_FILE)
        body = manifest(classifier.describe(), classifier.model.metadata)
        atomic.write_text(out / MANIFEST, _json(body))
        index = (STATIC / "index.html").read_text(encoding="utf-8")
        atomic.write_text(out / "index.html", index.replace(*STATIC_MARK, 1))
        for name in PAGE:
            atomic.write_bytes(out / "static" / name, (STATIC / name).read_bytes())
        shutil.rmtree(out / RUNTIME, ignore_errors=True)
        shutil.copytree(runtime, out / RUNTIME)
    except OSError as e:
        raise MnistlabError(f"cannot write {e.filename or out}: {e.strerror}") from None
    return sizes(out)


def sizes(site: Path) -> dict[str, int]:
    """Bytes per part of a site: the page, model.onnx, model.json, the runtime, all."""
    files = [p for p in site.rglob("*") if p.is_file()]

    def total(paths) -> int:
        return sum(p.stat().st_size for p in paths)

    runtime = [p for p in files if p.parent == site / RUNTIME.rstrip("/")]
    page = [p for p in files if p.name == "index.html" or p.parent == site / "static"]
    return {"page": total(page), "model.onnx": total([site / ONNX_FILE]),
            "model.json": total([site / MANIFEST]), "runtime": total(runtime),
            "total": total(files)}  # fmt: skip


def _json(body: dict) -> str:
    import json

    return json.dumps(body, indent=1) + "\n"
