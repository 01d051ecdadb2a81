"""Metrics against a hand-computed example, first-layer weights, and the evaluation figures."""

import io
import re
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from mnistlab.data import load_dataset
from mnistlab.evaluation import mistakes, plots, typical
from mnistlab.evaluation.evaluate import (
    MAX_FILTERS,
    compute_metrics,
    first_layer_filters,
    learned_filters,
)
from mnistlab.evaluation.scores import PROB_FLOOR, loss_and_accuracy
from mnistlab.models import build_model
from mnistlab.models.torch_model import TorchModel

CLASSES = ("a", "b", "c")
# Six images; class "c" is never predicted (row 5 has a zero for its true class).
LABELS = np.array([0, 0, 1, 1, 2, 2])
PROBA = np.array(
    [
        [0.8, 0.1, 0.1],  # 0 -> a, right
        [0.4, 0.6, 0.0],  # 0 -> b, wrong
        [0.2, 0.7, 0.1],  # 1 -> b, right
        [0.1, 0.9, 0.0],  # 1 -> b, right
        [0.6, 0.2, 0.2],  # 2 -> a, wrong
        [0.4, 0.6, 0.0],  # 2 -> b, wrong, and p(true) = 0 must be clipped
    ],
    dtype=np.float32,
)


def test_metrics_match_a_hand_computed_example_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning (sklearn's zero division included) fails
        m = compute_metrics(LABELS, PROBA, CLASSES)
    assert m["accuracy"] == 0.5
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 1, 0]]
    per_class = np.array(
        [[r["precision"], r["recall"], r["f1"], r["support"]] for r in m["per_class"]]
    )
    expected = [[0.5, 0.5, 0.5, 2], [0.5, 1.0, 2 / 3, 2], [0.0, 0.0, 0.0, 2]]
    np.testing.assert_allclose(per_class, expected)
    assert [r["name"] for r in m["per_class"]] == list(CLASSES)
    norm = 1 + PROB_FLOOR  # rows with a clipped zero are renormalized
    p_true = [0.8, 0.4 / norm, 0.7, 0.9 / norm, 0.2, PROB_FLOOR / norm]
    assert m["loss"] == pytest.approx(np.mean(-np.log(p_true)), rel=1e-5)
    assert np.isfinite(m["loss"])
    pairs = [(p["true"], p["predicted"], p["count"]) for p in m["most_confused"]]
    assert pairs == [(0, 1, 1), (2, 0, 1), (2, 1, 1)]
    assert m["most_confused"][1]["true_name"] == "c"


def test_perfect_predictions_have_no_confused_pairs():
    m = compute_metrics(np.array([0, 1, 2]), np.eye(3, dtype=np.float32), CLASSES)
    assert m["accuracy"] == 1.0 and m["most_confused"] == []
    assert m["loss"] == pytest.approx(-np.log(1 / (1 + 2 * PROB_FLOOR)), abs=1e-9)


def test_the_loss_is_sklearns_log_loss_of_the_clipped_probabilities():
    from sklearn.metrics import log_loss

    proba = np.random.default_rng(0).dirichlet(np.full(10, 0.3), size=500).astype(np.float32)
    proba[:50, 3] = 0  # zeros get clipped
    labels = np.random.default_rng(1).integers(0, 10, 500)
    loss, accuracy = loss_and_accuracy(labels, proba)
    clipped = np.clip(proba.astype(np.float64), PROB_FLOOR, 1)
    clipped /= clipped.sum(1, keepdims=True)
    assert loss == pytest.approx(log_loss(labels, clipped, labels=list(range(10))), rel=1e-12)
    assert accuracy == np.mean(proba.argmax(1) == labels)


def test_proba_shape_is_checked():
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(LABELS, PROBA[:, :2], CLASSES)


def test_first_layer_filters_for_each_kind_of_network():
    numpy_model = build_model("numpy", hidden=[100], activation="relu")
    w1 = numpy_model.net.params["W1"]
    w, title = first_layer_filters(numpy_model)
    assert w.shape == (MAX_FILTERS, 28, 28) and "64 of 100" in title
    assert w[3, 0, 1] == w1[1, 3]  # column 3, pixel (0, 1)

    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    w, _ = first_layer_filters(TorchModel("mlp", mlp))
    assert w.shape == (16, 28, 28)
    assert np.array_equal(w[5].ravel(), mlp[1].weight.detach().numpy()[5])

    cnn = nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 24 * 24, 10))
    w, title = first_layer_filters(TorchModel("cnn", cnn))
    assert w.shape == (8, 5, 5) and "(5×5)" in title
    assert "(trained)" in title


def test_a_fixed_stem_says_so_and_the_first_trained_layer_is_seen_from_the_pixels():
    model = build_model("fast", widths=[8, 12], dense=16, whitened_stem=True, crop=2, bf16=False)
    model.init_from_data(load_dataset("mnist", "test").images[:300])
    assert "never trained" in first_layer_filters(model)[1]
    kernels = model.first_learned_layer()
    assert kernels.shape == (12, 9, 9)
    w, title = learned_filters(kernels)
    assert "12 of 12" in title and np.array_equal(w, kernels)
    # A kernel over the pixels is what the two convolutions do to an image, without the ReLU.
    stem, second = model.net[1], model.net[3]
    x = torch.randn(1, 1, 9, 9)
    with torch.no_grad():
        direct = second(stem(x) - stem.bias[:, None, None]) - second.bias[:, None, None]
    np.testing.assert_allclose(direct[0, :, 0, 0], (kernels * x[0, 0].numpy()).sum((1, 2)),
                               rtol=1e-4, atol=1e-4)  # fmt: skip
    assert build_model("fast", widths=[8, 12], dense=16).first_learned_layer() is None


def assert_png(path, min_width=300, min_height=150):
    assert path.is_file() and path.stat().st_size > 5_000
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= min_width and image.height >= min_height
        assert image.width < 5000 and image.height < 5000


@pytest.fixture(scope="module")
def fashion():
    """200 real Fashion-MNIST test images with made-up but plausible probabilities."""
    ds = load_dataset("fashion-mnist", "test")
    images, labels = ds.images[:200], ds.labels[:200]
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 10)) + 3 * np.eye(10)[labels]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return images, labels, proba.astype(np.float32), ds.classes


def test_each_evaluation_figure_is_a_valid_png(tmp_path, fashion):
    images, labels, proba, classes = fashion
    m = compute_metrics(labels, proba, classes)
    history = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "train_acc": 1 - 0.3 / e,
            "val_loss": 1.1 / e,
            "val_acc": 1 - 0.35 / e,
            "lr": 0.001,
            "seconds": 1.0,
        }
        for e in (1, 2, 3)
    ]
    figures = {
        "confusion_matrix": plots.confusion_matrix(m["confusion_matrix"], classes),
        "curves": plots.curves(history),
        "misclassified": plots.misclassified(images, labels, proba, classes, True),
        "correct": plots.correct_predictions(images, labels, proba, classes, True),
        "per_class": plots.per_class_errors(m["per_class"], m["accuracy"]),
        "typical": typical.typical_figure(images, labels, proba, classes),
        "filters": plots.filters(np.random.default_rng(1).normal(size=(32, 5, 5)), "filters"),
        "compare": plots.compare_curves([("run-a", history), ("run-b", history[:2])]),
    }
    for name, fig in figures.items():
        plots.save(fig, tmp_path / f"{name}.png")
        assert_png(tmp_path / f"{name}.png")


def test_misclassified_titles_give_both_probabilities_and_the_runner_up(fashion):
    images, labels, proba, classes = fashion
    fig = plots.misclassified(images, labels, proba, classes, use_names=False, n=6)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 6
    pattern = (
        r"True label: (\d) \(([\d.]+)%\) Predicted: (\d) \(([\d.]+)%\)"
        r"\nrunner-up: (.+) \(([\d.]+)%\)"
    )
    parsed = [re.fullmatch(pattern, t).groups() for t in titles]
    confidences = [float(p[3]) for p in parsed]
    assert confidences == sorted(confidences, reverse=True)  # most confident first
    for true, p_true, predicted, p_predicted, runner_up, p_runner_up in parsed:
        assert true != predicted and float(p_true) <= float(p_runner_up) <= float(p_predicted)
        assert (runner_up == "the true label") == (p_true == p_runner_up)


def test_typical_images_are_ranked_past_a_probability_that_shows_as_one():
    proba = np.full((6, 3), 1e-12, np.float32)
    proba[:, 0] = 1.0  # float32 rounds all six to 1; what is left differs
    proba[[0, 1, 2, 3, 4, 5], 1] = [1e-9, 1e-11, 1e-10, 1e-8, 1e-7, 0.0]
    labels = np.zeros(6, np.int64)
    odds = typical.true_class_log_odds(proba, labels)
    (best, worst), *_ = typical.extremes(labels, odds, 3, k=2)
    assert list(best) == [5, 1] and list(worst) == [4, 3]
    assert [len(b) for b, _ in typical.extremes(labels, odds, 3, k=2)[1:]] == [0, 0]


def test_curves_skip_an_all_nan_validation_line():
    nan = float("nan")
    history = [
        {
            "epoch": 1,
            "train_loss": 0.5,
            "train_acc": 0.8,
            "val_loss": nan,
            "val_acc": nan,
            "lr": 0.1,
            "seconds": 1.0,
        }
    ]
    fig = plots.curves(history)
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]
    assert [ax.get_title() for ax in fig.axes] == [
        "Loss: training (no validation split)",
        "Accuracy: training (no validation split)",
    ]
    fig = plots.curves([{**history[0], "val_loss": 0.4, "val_acc": 0.85}])
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    assert fig.axes[0].get_title() == "Loss: training vs validation"


def test_importing_plots_leaves_pyplot_and_its_backend_alone(python):
    code = "import sys, mnistlab.evaluation.plots, mnistlab.evaluation.report; "
    code += "print('matplotlib.pyplot' in sys.modules)"
    done = python("-c", code)
    assert done.stdout.strip() == "False", done.stderr


def test_the_gallery_holds_the_most_confident_mistakes_and_those_on_the_map():
    labels = np.zeros(8, np.int64)
    proba = np.zeros((8, 3), np.float32)
    proba[:, 1] = [0.9, 0.2, 0.6, 0.8, 0.7, 0.55, 0.65, 0.3]  # 0 is right for the rest
    proba[:, 0] = 1 - proba[:, 1]
    # Wrong: 0 (0.9), 3 (0.8), 4 (0.7), 6 (0.65), 2 (0.6), 5 (0.55); right: 1, 7.
    shown = mistakes.pick(labels, proba, on_map=np.array([1, 5, 7]), n=2)
    assert list(shown) == [0, 3, 5]  # the two most confident, then the mistake on the map


def test_a_tile_is_the_image_beside_its_two_attributions():
    image = np.zeros((28, 28), np.uint8)
    image[10:18, 12:16] = 255
    toward = np.where(image > 0, 1.0, 0.0).astype(np.float32)
    toward[10, 12] = -1.0
    with Image.open(io.BytesIO(mistakes.tile_png(image, toward, -toward))) as tile:
        rgb = np.asarray(tile.convert("RGB")).astype(int)
    assert rgb.shape == (28, 3 * 28 + 2 * mistakes.GAP, 3)
    assert (rgb[:, :28, 0] == image).all()  # the image as it is, in grey
    pushed = rgb[:, 28 + mistakes.GAP : 56 + mistakes.GAP]
    red, blue = pushed[11, 13], pushed[10, 12]
    assert red[0] > red[2] + 50 and blue[2] > blue[0] + 50
    assert pushed[0, 0].min() > 240 and np.ptp(pushed[0, 0]) < 5  # nothing there: near white
    against = rgb[:, 56 + 2 * mistakes.GAP :]
    assert against[11, 13][2] > against[11, 13][0] + 50  # the other sign, the other colour
