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
