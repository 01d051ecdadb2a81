"""How the CLI's results look to a person: the Rich tables and their one-line footers.

One home for presentation, so the command modules beside it only parse flags and call the
API; the `--json` documents are the API's own dicts, printed as they are (common.print_json).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mnistlab.prediction.classifier import Prediction


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def wide(console: Console) -> Console:
    """Piped output has no width to fit: a wide console keeps each row on one line rather
    than folding it, so `| grep` and `| less` see whole rows."""
    return console if console.is_terminal else Console(width=240)


def data_list(console: Console, rows: Sequence[dict]) -> None:
    """`mnistlab data list`: one row per known dataset."""
    table = Table("dataset", "classes", "cached", "verified", "path")
    for r in rows:
        cells = (str(r["classes"]), yes(r["cached"]), yes(r["verified"]))
        table.add_row(r["name"], *cells, r["path"])
    console.print(table)


def data_info(console: Console, info: dict) -> None:
    """`mnistlab data info`: class balance per split, then the pixel statistics."""
    table = Table(title=f"{info['name']}: {info['train']} train / {info['test']} test images")
    table.add_column("label", justify="right")
    table.add_column("class")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    counts = info["class_counts"]
    for i, cls in enumerate(info["classes"]):
        table.add_row(str(i), cls, str(counts["train"][i]), str(counts["test"][i]))
    console.print(table)
    console.print(
        f"pixel mean {info['pixel_mean']:.4f}, std {info['pixel_std']:.4f} (train, of 1.0); "
        f"verified: {yes(info['verified'])}; cache: {info['path']}"
    )


def model_summary(
    console: Console, name: str, about: str, rows: Sequence[dict], total: int
) -> None:
    """`mnistlab summary`: Keras-style layers, output shapes and parameter counts."""
    console.print(f"{name}: {about}")
    table = Table()
    table.add_column("layer")
    table.add_column("output shape")
    table.add_column("params", justify="right")
    for r in rows:
        shape = "(" + ", ".join(map(str, r["output_shape"])) + ")"
        table.add_row(r["layer"], shape, f"{r['params']:,}")
    console.print(table)
    console.print(f"Total params: {total:,}")


def evaluation(console: Console, split: str, metrics: dict) -> None:
    """`mnistlab evaluate`: per-class precision/recall/F1, then the most confused pairs."""
    table = Table(title=f"{split}: accuracy {metrics['accuracy']:.2%}, loss {metrics['loss']:.4f}")
    for column in ("label", "class", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for r in metrics["per_class"]:
        scores = (f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1']:.4f}")
        table.add_row(str(r["label"]), r["name"], *scores, str(r["support"]))
    console.print(table)
    pairs = ", ".join(
        f"{p['true_name']}→{p['predicted_name']} ({p['count']})" for p in metrics["most_confused"]
    )
    console.print(f"most confused (true→predicted): {pairs or 'none'}")
    if calibration := metrics.get("calibration"):
        console.print(f"calibrated: temperature {calibration['temperature']:.3f}, expected "
                      f"calibration error {calibration['ece_before']:.4f} → "
                      f"{calibration['ece']:.4f}, NLL {calibration['nll_before']:.4f} → "
                      f"{calibration['nll']:.4f}")  # fmt: skip
    if reject := metrics.get("reject"):
        console.print(f"accepted {reject['coverage']:.2%} of the images, "
                      f"{reject['accuracy_accepted']:.2%} of them right; refused "
                      f"{reject['flagged']:,} ({reject['flagged_not_like']:,} not like any "
                      f"training image, {reject['flagged_unsure']:,} unsure)")  # fmt: skip


def comparison(console: Console, rows: Sequence[dict]) -> None:
    """`mnistlab compare`: one row per run, in the order given (best test accuracy first); a
    group of seeds shows mean ± sample standard deviation."""
    table = Table("run", "dataset", "model")
    for column in ("parameters", "epochs", "train s", "test acc", "test loss"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r["run"],
            r["dataset"],
            r["model"],
            f"{r['parameters']:,}",
            f"{r['epochs']:g}",
            f"{r['train_seconds']:.1f}",
            _mean(r["test_accuracy"], r.get("test_accuracy_std"), percent=True),
            _mean(r["test_loss"], r.get("test_loss_std"), percent=False),
        )
    wide(console).print(table)


def _mean(value: float | None, std: float | None, percent: bool) -> str:
    """A run's figure, or a group's mean ± its standard deviation ("98.12% ± 0.08")."""
    if value is None:
        return "–"
    text = f"{value:.2%}" if percent else f"{value:.4f}"
    if std is None:
        return text
    return text + (f" ± {100 * std:.2f}" if percent else f" ± {std:.4f}")


def predictions(
    console: Console, results: Sequence[Prediction], classes: Sequence[str], top_k: int
) -> None:
    """`mnistlab predict`: one row per image; the top-k column only when k > 1. "answer" says
    whether the reader accepts the image as one of its classes, or why not."""
    table = Table("file", "prediction", "probability", "answer",
                  *([f"top {top_k}"] if top_k > 1 else []))  # fmt: skip
    for p in results:
        others = ", ".join(f"{classes[i]} {q:.1%}" for i, q in p.top_k(top_k))
        answer = "accepted" if p.accepted else f"refused: {p.reason}"
        row = [p.file or "", p.name, f"{p.probabilities[p.label]:.1%}", answer]
        table.add_row(*row, *([others] if top_k > 1 else []))
    wide(console).print(table)


def sweep(console: Console, rows: Sequence[dict], names: Sequence[str]) -> None:
    """`mnistlab sweep`: one row per trial, best validation accuracy first."""
    table = Table(title="Trials, best validation accuracy first")
    table.add_column("trial", justify="right")
    table.add_column("state")
    table.add_column("val acc", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("epochs", justify="right")
    table.add_column("s", justify="right")
    table.add_column("run")
    for r in rows:
        values = [r["params"].get(n) for n in names]
        table.add_row(
            str(r["trial"]),
            r["state"],
            "–" if r["val_acc"] is None else f"{r['val_acc']:.2%}",
            *("–" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in values),
            str(r["epochs"]),
            "–" if r["seconds"] is None else f"{r['seconds']:.0f}",
            r["run"] or "",
        )
    wide(console).print(table)
