"""Explanations (mnistlab.explanation): attributions that account for the calibrated answer
and pass the sanity and deletion checks, the layers the network has, neighbours and a map
kept in the run folder (rebuilt when damaged), and `mnistlab explain` and /api/explain.

The torch checks use the session's shared CNN run (predict_helpers.trained_run); `fast` is
checked on 500 images by bench/explain.py, whose figures docs/explaining.md cites."""

import json
import warnings

import numpy as np
import pytest

from mnistlab import runs
from mnistlab.data import load_dataset
from mnistlab.explanation import (
    attribute,
    checks,
    data_map,
    explain_image,
    layer_maps,
    neighbor_index,
    store,
)
from mnistlab.explanation.embedding import MAP_IMAGES
from mnistlab.models import build_model, calibration
from mnistlab.prediction.classifier import Classifier
from mnistlab.training.run import TrainConfig, train
from predict_helpers import draw_seven, encode, trained_run


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    """The shared CNN run, and a NumPy run of one epoch on 3,000 images (about a second)."""
    numpy_run = tmp_path_factory.mktemp("explain") / "numpy"
    train(TrainConfig(model="numpy", epochs=1, train_limit=3000, val_size=0, out=str(numpy_run)))
    return {"cnn": trained_run(), "numpy": numpy_run}


@pytest.fixture(scope="module")
def test_split():
    test = load_dataset("mnist", "test")
    return test.images[:100], test.labels[:100]


def _temperature(run) -> float:
    return float((runs.load_calibration(run) or {}).get("temperature", 1.0))


@pytest.mark.parametrize("name", ["cnn", "numpy"])
def test_attributions_add_up_to_the_calibrated_log_probability_from_a_blank(
    name, run_dirs, test_split
):
    run = run_dirs[name]
    model, temperature = runs.load_model(run), _temperature(run)
    x = test_split[0][:6]
    targets = np.array([3, 7, 1, 0, 9, 4])  # any class, not only the answer
    found = attribute(model, x, targets, temperature)
    assert found.shape == (6, 28, 28) and found.dtype == np.float32
    assert not found[x == 0].any(), "a pixel without ink gets nothing: the path starts blank"

    def log_p(images):
        p = calibration.scaled(model.predict_proba(images), temperature)
        return np.log(p[np.arange(len(images)), targets])

    expected = log_p(x) - log_p(np.zeros_like(x))
    np.testing.assert_allclose(found.sum(axis=(1, 2)), expected, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("name", ["cnn", "numpy"])
def test_sanity_check_attributions_depend_on_what_was_learned(name, run_dirs, test_split):
    """Adebayo et al.: the same network with re-initialised weights gives unrelated ones."""
    run = run_dirs[name]
    config, model = runs.load_config(run), runs.load_model(run)
    fresh = build_model(config["model"], seed=12345, **config["model_args"])
    rho, rho_abs = checks.sanity(model, fresh, test_split[0][:12], _temperature(run))
    # 12 images; bench/explain.py, 500: signed about 0.01, absolute values about 0.45, as both
    # scale with the ink (x · the mean gradient)
    assert np.median(rho) < 0.3 and np.median(rho_abs) < 0.7, (rho, rho_abs)


def test_deletion_check_the_most_attributed_ink_matters_most(run_dirs, test_split):
    """Removing the 10% most attributed ink lowers the NumPy net's answer more than removing
    10% at random (`fast`: tests/test_fast.py, on its trained run; 500 images: the bench)."""
    run = run_dirs["numpy"]
    by_attribution, at_random = checks.deletion(runs.load_model(run), test_split[0][:40],
                                                _temperature(run))  # fmt: skip
    assert np.mean(by_attribution > at_random) >= 0.8
    assert by_attribution.mean() > 5 * max(at_random.mean(), 1e-3)


def test_neighbours_share_the_label_and_the_index_is_kept_in_the_run(run_dirs, test_split):
    run = run_dirs["cnn"]
    model = runs.load_model(run)
    index = neighbor_index(run, model)
    shared, right = checks.neighbor_agreement(index, model, *test_split)
    assert right >= 90 and shared >= 0.95
    kept = neighbor_index(run)  # from the file, no model needed for features
    assert store.path(run, "index.safetensors").is_file()
    x = test_split[0][:3]
    features = model.predict_features(x)[1]
    from_file, from_images = kept.nearest(features), index.nearest(x)
    assert [[n.index for n in row] for row in from_file] == [[n.index for n in row]
                                                             for row in from_images]  # fmt: skip
    first = index.nearest(x[:1], k=6)[0]
    assert len(first) == 6 and [n.distance for n in first] == sorted(n.distance for n in first)
    assert index.image(first[0].index).shape == (28, 28)


def test_the_map_places_a_test_image_on_its_own_point(run_dirs, test_split):
    run = run_dirs["numpy"]
    model = runs.load_model(run)
    places = data_map(run, model)
    mapped = min(MAP_IMAGES, len(load_dataset("mnist", "test")))  # the whole test set
    assert places.points.shape == (mapped, 2) and places.labels.shape == (mapped,)
    np.testing.assert_allclose(places.place(test_split[0][:5]), places.points[:5], atol=1e-4)
    document = places.to_dict([str(i) for i in range(10)])
    assert len(document["x"]) == len(document["labels"]) == mapped


def test_a_damaged_or_stale_index_is_built_again(run_dirs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dirs["numpy"], run)
    model = runs.load_model(run)
    blank = model.predict_features(np.zeros((1, 28, 28), np.uint8))[1]
    good = neighbor_index(run, model).nearest(blank)
    store.path(run, "index.safetensors").write_bytes(b"\x00not safetensors")
    again = neighbor_index(run, model).nearest(blank)
    assert [n.index for n in again[0]] == [n.index for n in good[0]]
    arrays, _ = store.load(run, "index.safetensors")  # written again, readable
    store.save(run, "index.safetensors", {**arrays, "vectors": arrays["vectors"][:, :3]}, {})
    again = neighbor_index(run, model).nearest(blank)  # shapes that disagree: built again
    assert [n.index for n in again[0]] == [n.index for n in good[0]]
    model.net.params["W1"] *= 1.5  # other weights: the kept map no longer describes them
    runs.save_model(run, model)
    assert store.load(run, "map.safetensors") is None


def test_layers_are_the_networks_own(run_dirs):
    image = np.asarray(load_dataset("mnist", "test").images[0])
    cnn = runs.load_model(run_dirs["cnn"])
    conv = layer_maps(cnn, image)
    shapes = [row["output_shape"] for row in cnn.summary() if row["layer"].startswith("Conv2d")]
    assert [m.shape for m in conv if m.kind == "conv"] == shapes
    first = conv[0]
    assert first.maps.shape[1:] == tuple(first.shape[1:]) and len(first.channels) == 16
    assert first.strength == sorted(first.strength, reverse=True)
    numpy_model = runs.load_model(run_dirs["numpy"])
    (dense,) = layer_maps(numpy_model, image)
    hidden = numpy_model.net._forward(image.reshape(1, -1) / 255.0)[1][0]
    np.testing.assert_allclose(dense.maps, hidden[dense.channels], rtol=1e-5)
    assert dense.strength[0] == pytest.approx(hidden.max(), rel=1e-5)


def test_an_explanation_is_of_the_answer_the_classifier_gives(run_dirs):
    classifier = Classifier.load(run_dirs["cnn"])
    image = encode(draw_seven())
    answer = classifier.predict(image)
    explained = explain_image(classifier, image)
    assert explained.prediction == answer.to_dict()
    top_two = [c for c, _ in answer.top_k(2)]
    assert list(explained.attribution) == top_two
    np.testing.assert_array_equal(explained.image, classifier.preprocess(image))
    document = json.loads(json.dumps(explained.to_dict()))
    assert {"attribution", "layers", "neighbors", "map", "probabilities"} <= set(document)
    assert np.shape(document["attribution"][0]["values"]) == (28, 28)
    assert len(document["neighbors"]) == 6
    assert document["layers"][0]["maps"][0].startswith("data:image/png;base64,")


def test_explain_command_writes_a_figure_per_image_and_skips_bad_files(
    run_dirs, cli_here, tmp_path
):
    draw_seven().save(tmp_path / "seven.png")
    (tmp_path / "notes.png").write_text("not an image")
    said = cli_here("explain", "--run", run_dirs["numpy"], tmp_path / "seven.png",
                    tmp_path / "notes.png", "--out", tmp_path / "out", "--json")  # fmt: skip
    assert said.returncode == 1 and "1 of 2 images could not be used" in said.stderr
    (document,) = json.loads(said.stdout)
    assert document["figure"] == str(tmp_path / "out" / "seven.png")
    assert (tmp_path / "out" / "seven.png").read_bytes().startswith(b"\x89PNG")
    assert document["layers"][0]["kind"] == "dense" and "maps" not in document["layers"][0]


def test_api_explain_answers_like_predict_and_maps_the_test_set(run_dirs):
    from mnistlab.serve.app import create_app

    with warnings.catch_warnings():  # starlette: "TestClient on httpx is deprecated"
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    with TestClient(create_app(run_dirs["cnn"])) as client:
        files = {"file": ("seven.png", encode(draw_seven()), "image/png")}
        predicted = client.post("/api/predict", files=files).json()
        explained = client.post("/api/explain", files=files)
        assert explained.status_code == 200, explained.text
        body = explained.json()
        assert body["label"] == predicted["label"] and body["accepted"] == predicted["accepted"]
        np.testing.assert_allclose(body["probabilities"], predicted["probabilities"], atol=1e-4)
        assert [a["label"] for a in body["attribution"]][0] == body["label"]
        mapped = client.get("/api/map").json()
        assert (
            len(mapped["x"])
            == len(mapped["y"])
            == len(mapped["labels"])
            == min(MAP_IMAGES, len(load_dataset("mnist", "test")))
        )
        empty = client.post("/api/explain", files={"file": ("e.png", b"", "image/png")})
        assert empty.status_code == 400 and "empty" in empty.json()["error"]


def test_serve_starts_without_the_dataset_and_says_explanations_are_not_available(
    run_dirs, tmp_path, monkeypatch, caplog
):
    import shutil

    from mnistlab.errors import MnistlabError
    from mnistlab.serve import server

    run = tmp_path / "run"
    shutil.copytree(run_dirs["numpy"], run, ignore=shutil.ignore_patterns("explain"))

    def unavailable(dataset):
        raise MnistlabError(f"explanations need the {dataset} images; no network here")

    monkeypatch.setattr(store, "official", unavailable)
    assert server._prepare(run, "torch", str(tmp_path)) is None  # predictions need no dataset
    assert "explanations are not available: explanations need the mnist images" in caplog.text
    # the server's answer: not the client's fault (503), with what to do
    from mnistlab.serve.app import create_app

    with warnings.catch_warnings():  # starlette: "TestClient on httpx is deprecated"
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    with TestClient(create_app(run)) as client:
        files = {"file": ("seven.png", encode(draw_seven()), "image/png")}
        assert client.post("/api/predict", files=files).status_code == 200
        for answer in (client.post("/api/explain", files=files), client.get("/api/map")):
            assert answer.status_code == 503, answer.text
            assert "need the mnist images" in answer.json()["error"]
        schema = client.get("/openapi.json").json()["paths"]["/api/explain"]["post"]
        assert "dataset is not on this machine" in schema["responses"]["503"]["description"]
