"""The CLI's tables on made-up results: no data, no model, no torch."""

import io

from rich.console import Console

from mnistlab.cli import tables
from mnistlab.prediction.classifier import Prediction

CLASSES = tuple("0123456789")


def rendered(draw, *args) -> str:
    """What `draw(console, *args)` shows on a 120-column terminal, as plain text."""
    console = Console(width=120, force_terminal=True, record=True, file=io.StringIO())
    draw(console, *args)
    return console.export_text()


def test_predictions_with_and_without_the_top_k_column():
    p = Prediction(label=7, name="7", probabilities=[0.0] * 7 + [0.9, 0.0, 0.1], file="a.png")
    three = rendered(tables.predictions, [p], CLASSES, 3)
    assert "top 3" in three and "7 90.0%, 9 10.0%" in three
    one = rendered(tables.predictions, [p], CLASSES, 1)  # `--top-k 1` once crashed in rich
    assert "a.png" in one and "90.0%" in one and "top" not in one


def test_comparison_shows_a_dash_for_a_run_without_test_metrics():
    row = {"run": "runs/a", "dataset": "mnist", "model": "cnn", "parameters": 1234, "epochs": 2,
           "train_seconds": 3.25, "test_accuracy": None, "test_loss": None}  # fmt: skip
    text = rendered(tables.comparison, [row])
    assert "runs/a" in text and "1,234" in text and "–" in text


def test_evaluation_says_how_calibrated_and_how_much_it_refused():
    per_class = [{"label": i, "name": str(i), "precision": 0.99, "recall": 0.99, "f1": 0.99,
                  "support": 1000} for i in range(10)]  # fmt: skip
    metrics = {"accuracy": 0.994, "loss": 0.12, "per_class": per_class, "most_confused": []}
    plain = rendered(tables.evaluation, "test", metrics)
    assert "calibrated" not in plain and "refused" not in plain  # a run from before either
    metrics["calibration"] = {"temperature": 0.49, "ece_before": 0.0981, "ece": 0.0019,
                              "nll_before": 0.12, "nll": 0.0188}  # fmt: skip
    metrics["reject"] = {"coverage": 0.989, "accuracy_accepted": 0.9959, "flagged": 110,
                         "flagged_not_like": 108, "flagged_unsure": 2}  # fmt: skip
    text = rendered(tables.evaluation, "test", metrics)
    assert "temperature 0.490, expected calibration error 0.0981 → 0.0019" in text
    assert "accepted 98.90% of the images, 99.59% of them right; refused 110" in text
