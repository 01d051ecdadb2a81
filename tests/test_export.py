"""ONNX export and the onnxruntime runtime: the file answers what the run's model answers."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from mnistlab import precision, runs
from mnistlab.data import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.models import build_model, calibration
from mnistlab.prediction import export
from mnistlab.prediction.classifier import Classifier
from mnistlab.prediction.images import png_bytes
from mnistlab.training.run import TrainConfig, train

# Every family, briefly trained (so batch norm has running statistics and the classes have
# margins); `best` on Fashion-MNIST, where its recipe averages mirror images and shifts.
FAMILIES = [("numpy", "mnist"), ("mlp", "mnist"), ("cnn", "mnist"), ("lenet5", "mnist"),
            ("fast", "mnist"), ("best", "fashion-mnist")]  # fmt: skip


def quick_run(tmp_path, model: str, dataset: str = "mnist"):
    out = tmp_path / f"{dataset}-{model}"
    # A small calibration split: `best` on Fashion-MNIST averages 10 views of each image.
    return train(TrainConfig(model=model, dataset=dataset, train_limit=1024, epochs=1,
                             val_size=0, calibration_size=256, out=str(out))).dir  # fmt: skip


def untrained_run(tmp_path, model: str, seed: int = 0, **model_args):
    """A run folder by hand: config.json and the weights of a freshly built model."""
    run = tmp_path / f"{model}-{seed}"
    built = build_model(model, seed=seed, **model_args)
    classes = [str(i) for i in range(10)]
    config = {"dataset": "mnist", "model": model, "model_args": built.model_args}
    runs.write_config(run, {**config, "classes": classes, "preprocessing": "digits"})
    runs.save_model(run, built)
    return run


@pytest.mark.slow
@pytest.mark.parametrize(("model", "dataset"), FAMILIES)
def test_onnxruntime_matches_the_run_on_test_images(tmp_path, small_test_split, model, dataset):
    small_test_split(100)
    run = quick_run(tmp_path, model, dataset)
    n = 100 if model == "best" else 1000  # `best` on Fashion-MNIST averages 10 views of each
    images = load_dataset(dataset, "test").images[:n]
    with precision.using("fp32"):  # the file is float32: compare like with like
        raw = runs.load_model(run).predict_proba(images)
    found = calibration.Calibration.of(runs.load_calibration(run))  # the file holds it
    expected = found(raw)
    path = export.export_run(run)
    assert path == run / "model.onnx"
    got = export.OnnxModel(path).predict_proba(images)
    assert got.dtype == np.float32 and got.shape == (n, 10)
    assert np.abs(got - expected).max() <= 1e-4
    assert (got.argmax(1) == expected.argmax(1)).all()
    np.testing.assert_allclose(got.sum(1), 1, atol=1e-5)  # probabilities, softmax included
    meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    assert json.loads(meta["mnistlab.model_args"]) == runs.load_config(run)["model_args"]
    assert float(meta["mnistlab.temperature"]) == found.temperature != 1.0
    smoothed = runs.load_config(run).get("label_smoothing", 0) > 0  # fast, best: a top map
    assert ("mnistlab.top_map" in meta) == smoothed == (found.top_map is not None)


def test_the_file_has_a_dynamic_batch_and_names_its_weights(tmp_path):
    run = untrained_run(tmp_path, "cnn")
    session = ort.InferenceSession(str(export.export_run(run, tmp_path / "elsewhere.onnx")))
    (given,), (answer,) = session.get_inputs(), session.get_outputs()
    assert (given.name, given.type, given.shape[1:]) == ("images", "tensor(float)", [1, 28, 28])
    assert isinstance(given.shape[0], str) and answer.name == "probabilities"
    x = np.random.default_rng(0).random((7, 1, 28, 28), dtype=np.float32)
    full = session.run(None, {"images": x})[0]
    one = session.run(None, {"images": x[3:4]})[0]
    np.testing.assert_allclose(one, full[3:4], atol=1e-6)
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["mnistlab.weights_sha256"] == runs.weights_sha256(run)
    assert json.loads(meta["mnistlab.model_args"]) == runs.load_config(run)["model_args"]
    assert not (run / "model.onnx").exists()  # --out elsewhere leaves the run folder alone


def test_classifier_uses_an_up_to_date_file_and_re_exports_a_stale_one(tmp_path, monkeypatch):
    run = untrained_run(tmp_path, "mlp")
    images = load_dataset("mnist", "test").images[:50]
    export.export_run(run)
    real_export = export.onnx_bytes
    monkeypatch.setattr(export, "onnx_bytes", lambda run_dir: pytest.fail("exported again"))
    fresh = Classifier.load(run, runtime="onnx")
    assert fresh.describe()["parameters"] == 535_818
    runs.save_model(run, build_model("mlp", seed=1))  # new weights: model.onnx is stale now
    calls = []
    monkeypatch.setattr(
        export, "onnx_bytes", lambda run_dir: calls.append(1) or real_export(run_dir)
    )
    stale = Classifier.load(run, runtime="onnx")
    assert calls == [1]
    np.testing.assert_allclose(stale.model.predict_proba(images),
                               runs.load_model(run).predict_proba(images), atol=1e-5)  # fmt: skip
    assert not np.allclose(fresh.model.predict_proba(images), stale.model.predict_proba(images))


def test_the_server_shares_an_up_to_date_file_or_exports_one_for_its_workers(tmp_path):
    run = untrained_run(tmp_path, "mlp")
    folder = tmp_path / "server"
    folder.mkdir()
    made = export.shared_file(run, folder)  # no RUN/model.onnx yet: exported for the workers
    assert made == folder / "model.onnx" and not (run / "model.onnx").exists()
    assert export.shared_file(run, folder) != run / "model.onnx"
    export.export_run(run)
    assert export.shared_file(run, tmp_path) == run / "model.onnx"  # up to date: used as is
    runs.save_model(run, build_model("mlp", seed=1))  # stale now: a fresh export instead
    again = export.shared_file(run, folder)
    assert again == folder / "model.onnx"
    images = load_dataset("mnist", "test").images[:20]
    np.testing.assert_allclose(
        Classifier.load(run, runtime="onnx", onnx_file=again).model.predict_proba(images),
        runs.load_model(run).predict_proba(images),
        atol=1e-5,
    )
    (run / "model.onnx").write_bytes(b"not onnx")  # unreadable: not up to date, not an error
    assert export.shared_file(run, folder) == folder / "model.onnx"


def test_a_server_worker_on_an_exported_file_never_imports_torch(tmp_path):
    """What keeps each onnxruntime worker at ~130 MB instead of ~450 (bench/serve_load.py)."""
    run = untrained_run(tmp_path, "mlp")
    path = export.shared_file(run, tmp_path)
    where = f"{str(run)!r}, runtime='onnx', onnx_file={str(path)!r}"
    probe = ("import sys, numpy as np; from mnistlab.serve.app import create_app; "
             f"create_app({where}); from mnistlab.prediction.classifier import Classifier; "
             f"Classifier.load({where}).predict_arrays(np.zeros((2, 28, 28), np.uint8)); "
             "print('torch' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_onnx_classifier_predicts_images_like_the_torch_one(tmp_path):
    run = untrained_run(tmp_path, "cnn")
    digits = load_dataset("mnist", "test").images[:5]
    pngs = [png_bytes(d) for d in digits]
    torch_answers = Classifier.load(run).predict(pngs)
    onnx_answers = Classifier.load(run, runtime="onnx").predict(pngs)
    assert [p.label for p in onnx_answers] == [p.label for p in torch_answers]
    np.testing.assert_allclose([p.probabilities for p in onnx_answers],
                               [p.probabilities for p in torch_answers], atol=1e-4)  # fmt: skip
    assert Classifier.load(run, runtime="onnx").predict_arrays(np.zeros((0, 28, 28))) == []
    with pytest.raises(MnistlabError, match=r"shape \(N, 28, 28\)"):
        Classifier.load(run, runtime="onnx").model.predict_proba(np.zeros((2, 28)))


def test_missing_onnxruntime_and_unknown_runtime_are_one_line_errors(tmp_path, monkeypatch):
    run = untrained_run(tmp_path, "numpy")
    with pytest.raises(MnistlabError, match="unknown runtime 'tflite'; choose one of torch, onnx"):
        Classifier.load(run, runtime="tflite")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(MnistlabError, match=r"onnxruntime is not installed; .*pip install"):
        Classifier.load(run, runtime="onnx")


def test_cli_export_and_predict_with_onnxruntime(tmp_path, cli, cli_here):
    run = untrained_run(tmp_path, "lenet5")
    image = tmp_path / "digit.png"
    image.write_bytes(png_bytes(load_dataset("mnist", "test").images[0]))
    done = cli("export", run, "--format", "onnx")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(run / "model.onnx") and (run / "model.onnx").is_file()
    answers = [
        cli_here("predict", "--run", run, image, "--json", "--runtime", rt)
        for rt in export.RUNTIMES
    ]
    assert all(a.returncode == 0 for a in answers), [a.stderr for a in answers]
    (by_torch,), (by_onnx,) = (json.loads(a.stdout) for a in answers)
    assert by_onnx["label"] == by_torch["label"]
    np.testing.assert_allclose(by_onnx["probabilities"], by_torch["probabilities"], atol=1e-4)
    wrong = cli_here("export", run, "--format", "tflite")
    assert wrong.returncode == 1 and wrong.stderr.strip() == (
        "error: unknown export format 'tflite'; choose one of onnx, web"
    )
    missing = cli_here("export", tmp_path / "nowhere")
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1


def test_a_web_export_without_the_runtime_and_the_registry_says_what_to_do(
    tmp_path, monkeypatch, cli_here
):
    """The page's runtime is fetched before anything is exported: unreachable, one line."""
    from mnistlab.serve import browser_runtime

    run = untrained_run(tmp_path, "mlp")
    monkeypatch.setenv("MNISTLAB_CACHE", str(tmp_path / "cache"))  # nothing cached
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")  # nothing answers
    monkeypatch.setattr(browser_runtime, "TARBALL", "http://127.0.0.1:9/ort.tgz")  # no npm
    result = cli_here("export", run, "--format", "web", "--out", tmp_path / "site")
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "registry cannot be reached" in result.stderr and "make setup" in result.stderr
    assert not (tmp_path / "site").exists() and not (run / "model.onnx").exists()
