"""Calibrated probabilities: the temperature, NLL and ECE, and every path that applies them."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from mnistlab import runs
from mnistlab.data import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.scores import loss_and_accuracy
from mnistlab.models import calibration
from mnistlab.prediction.calibrate import calibrate_run
from mnistlab.prediction.classifier import Classifier
from predict_helpers import trained_run


def test_ece_of_a_worked_example():
    # Two answers at 0.95 (one right, one wrong) share the top bin: |0.5 - 0.95| = 0.45, half
    # the images. Two right answers at 0.6 share another: |1 - 0.6| = 0.4, the other half.
    proba = np.array([[0.95, 0.05], [0.95, 0.05], [0.4, 0.6], [0.6, 0.4]])
    labels = np.array([0, 1, 1, 0])
    assert calibration.ece(proba, labels) == pytest.approx(0.5 * 0.45 + 0.5 * 0.4)
    table = calibration.reliability(proba, labels)
    assert sum(table["counts"]) == 4 and table["counts"][14] == 2
    assert table["accuracy"][14] == 0.5 and table["confidence"][0] is None
    assert calibration.ece(np.eye(3), np.arange(3)) == 0.0  # sure and right


def test_the_nll_is_the_loss_of_evaluation_scores():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(10) * 0.3, 500).astype(np.float32)
    labels = rng.integers(0, 10, 500)
    assert calibration.nll(proba, labels) == pytest.approx(loss_and_accuracy(labels, proba)[0])


def _overconfident(n: int, true_t: float, seed: int):
    """Labels drawn from softmax(z / true_t) while the model says softmax(z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, (n, 10))
    truth = np.exp(z / true_t) / np.exp(z / true_t).sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=p) for p in truth])
    said = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return said.astype(np.float32), labels


def test_the_fitted_temperature_lowers_the_nll_and_ece_on_images_it_never_saw():
    fit_proba, fit_labels = _overconfident(4000, 2.0, seed=1)
    t = calibration.fit_temperature(fit_proba, fit_labels)
    assert t == pytest.approx(2.0, rel=0.1)
    proba, labels = _overconfident(4000, 2.0, seed=2)  # held out
    after = calibration.scaled(proba, t)
    assert calibration.nll(after, labels) < calibration.nll(proba, labels) - 0.05
    assert calibration.ece(after, labels) < calibration.ece(proba, labels) / 3
    assert (after.argmax(1) == proba.argmax(1)).all()  # the answers stay
    np.testing.assert_allclose(after.sum(1), 1, atol=1e-5)
    assert calibration.scaled(proba, 1.0) is not None
    np.testing.assert_array_equal(calibration.scaled(proba, 1.0), proba)


def _bent(n: int, seed: int):
    """Confidence that no temperature fixes: right at rate c**3 / (c**3 + (1 - c)) for a
    said top probability c (overconfident in the middle, honest near 0 and 1)."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(10, 0.15), n).astype(np.float32)
    c = proba.max(1).astype(np.float64)
    right = rng.random(n) < c**3 / (c**3 + (1 - c))
    top = proba.argmax(1)
    wrong = (top + rng.integers(1, 10, n)) % 10
    return proba, np.where(right, top, wrong)


def test_the_top_map_fixes_what_the_temperature_cannot_and_keeps_every_answer():
    fit_proba, fit_labels = _bent(6000, seed=1)
    proba, labels = _bent(6000, seed=2)  # held out
    t = calibration.fit_temperature(fit_proba, fit_labels)
    top = calibration.fit_top_map(calibration.scaled(fit_proba, t), fit_labels)
    only_t = calibration.scaled(proba, t)
    both = calibration.Calibration(t, top)(proba)
    assert calibration.ece(both, labels) < calibration.ece(only_t, labels) / 2
    assert calibration.nll(both, labels) < calibration.nll(only_t, labels)
    assert (both.argmax(1) == proba.argmax(1)).all()
    np.testing.assert_allclose(both.sum(1), 1, atol=1e-5)
    assert top[0] >= 0 and top[1] >= 0  # it rises with the top probability
    # A map that would push the top below the runner-up stops just above it.
    sunk = calibration.top_mapped(np.array([[0.5, 0.4, 0.1]], np.float32), (0.0, 0.0, -9.0))
    assert sunk.argmax() == 0 and sunk[0, 0] > sunk[0, 1] and sunk.sum() == pytest.approx(1)
    assert calibration.Calibration.of(None)(proba) is not None
    np.testing.assert_array_equal(calibration.Calibration.of(None)(proba), proba)


@pytest.mark.slow
def test_a_trained_run_is_calibrated_on_its_held_out_split_and_the_test_split_gains():
    run = trained_run()  # val_size 0: a calibration split of 2,000 images was held out
    fitted = runs.load_calibration(run)
    assert fitted["fitted_on"] == "calibration" and fitted["images"] == 2000
    test = runs.load_metrics(run)["calibration"]  # the test split, never used for the fit
    assert set(test) == {"temperature", "top_map", "nll", "ece", "nll_before", "ece_before",
                         "bins"}  # fmt: skip
    # a CNN trained without label smoothing needs no top map (test_export: fast and best do)
    assert fitted["top_map"] is None and test["top_map"] is None
    assert test["nll"] < test["nll_before"] and test["bins"] == 15
    assert test["ece"] <= 0.02
    classifier = Classifier.load(run)
    images = load_dataset("mnist", "test").images[:200]
    raw = runs.load_model(run).predict_proba(images)
    got = np.array([p.probabilities for p in classifier.predict(images, preprocessed=True)])
    np.testing.assert_allclose(got, calibration.Calibration.of(fitted)(raw), atol=1e-6)


@pytest.mark.slow
def test_a_run_without_calibration_still_predicts_with_temperature_1(tmp_path, caplog, cli_here):
    run = tmp_path / "old"
    shutil.copytree(trained_run(), run, ignore=shutil.ignore_patterns("*.onnx"))
    (run / "calibration.json").unlink()
    config = runs.load_config(run)
    del config["calibration_size"]  # as written before calibration splits existed
    runs.write_config(run, config)
    assert runs.load_config(run)["calibration_size"] == 0
    images = load_dataset("mnist", "test").images[:50]
    with caplog.at_level(logging.INFO, logger="mnistlab.prediction"):
        classifier = Classifier.load(run)
    assert classifier.temperature == 1.0
    assert sum("no calibration" in r.message for r in caplog.records) == 1
    got = [p.probabilities for p in classifier.predict(images, preprocessed=True)]
    np.testing.assert_allclose(got, runs.load_model(run).predict_proba(images), atol=1e-6)
    # `mnistlab calibrate` fits it; with nothing held out, on the test split, and says so.
    # --accept moves the rule's threshold: 95% of the held-out images kept, not 99%, and
    # metrics.json's counts of the test split follow it (here the same images).
    with caplog.at_level(logging.WARNING, logger="mnistlab.prediction.calibrate"):
        done = cli_here("calibrate", run, "--json", "--accept", "0.95")
    assert done.returncode == 0, done.stderr
    fitted = json.loads(done.stdout)["calibration"]
    assert fitted["fitted_on"] == "test"
    assert any("held no images out" in r.message for r in caplog.records)
    assert Classifier.load(run).temperature == runs.load_calibration(run)["temperature"] != 1.0
    assert fitted["reject"]["accept"] == 0.95
    assert fitted["reject"]["accepted_held_out"] == pytest.approx(0.95, abs=0.001)
    assert runs.load_metrics(run)["reject"]["flagged_not_like"] == pytest.approx(500, abs=10)


def test_calibrate_refuses_a_share_to_accept_out_of_range(tmp_path, cli_here):
    done = cli_here("calibrate", tmp_path, "--accept", "1.5")
    assert done.returncode == 2 and "--accept" in done.stderr
    with pytest.raises(MnistlabError, match="between 0.5 and 1"):
        calibrate_run(tmp_path, accept=0.3)
