"""Which figures the report shows, in order, with what each caption says; and collecting
those a run folder has (the report's half of reading plots/, report.py the page).
"""

from __future__ import annotations

from pathlib import Path

from mnistlab import reading
from mnistlab.evaluation import mistakes


class Markup(str):
    """HTML the report made itself (the map's SVG, the gallery), inlined as it is."""


# (file under plots/, heading, caption); the order is the order on the page.
PLOTS = (
    (
        "curves.png",
        "Loss and accuracy curves",
        "Per epoch, training against validation; a widening gap means over-fitting. The "
        "training figures are averaged over the epoch's batches while the model learned "
        "(augmented, dropout on), so early on they can sit below validation.",
    ),
    (
        "confusion_matrix.png",
        "Confusion matrix",
        "Rows are true labels, columns predictions; right: each row divided by its total.",
    ),
    (
        "per_class_accuracy.png",
        "Per-class accuracy, as error rates",
        "The share of each class predicted wrong (100% minus its recall), against the overall "
        "error rate; the right-hand axis reads the same bars as accuracy. Near 99%, error "
        "rates show differences that accuracy bars on a 0 to 100% axis hide.",
    ),
    (
        "typical.png",
        "Most and least typical images of each class",
        "For each class, the images the model finds most like it (left) and least like it "
        "(right), ranked by the calibrated probability of their true class, shown above "
        "each. The least typical are often badly written, mislabelled or its mistakes.",
    ),
    (
        "misclassified.png",
        "Misclassified images",
        "Wrong predictions, the most confident mistakes first.",
    ),
    ("correct.png", "Correct predictions", "A random sample of right predictions."),
    (
        "calibration.png",
        "How far the confidence can be trusted",
        "Left: accuracy against confidence in 15 bins, before and after the run's temperature "
        "(calibration.json); on the diagonal, 90% sure means right 9 times in 10. Right: the "
        "calibrated confidence of the right and the wrong answers.",
    ),
    (
        "risk_coverage.png",
        "How often the answers it accepts are right",
        "The accuracy of the accepted answers against the share accepted, as the reject "
        "rule's threshold moves (and with the top probability alone); the dot is the run's "
        "rule (calibration.json), which keeps 99% of held-out images.",
    ),
    (
        "filters.png",
        "What the first layer learned",
        "First-layer weights; red pixels push a unit up, blue pixels push it down.",
    ),
    (
        "learned_filters.png",
        "What the first trained layer learned",
        "This model's first layer is fixed, so here is the first one training changed: the "
        "second convolution's kernels, each composed with the fixed filters it reads and "
        "shown over the pixels it sees (leaving out the ReLU between, which for filter pairs "
        "f and −f keeps exactly this linear part). Red pushes a unit up, blue down.",
    ),
)
MAP_FIGURE = (
    "Map of the test set",
    "Test images placed by what the model's last hidden layer makes of them (the first two "
    "principal components of its features, mnistlab.explanation): near dots are images it "
    "sees alike, each coloured by its true class. Ringed dots are its mistakes; a click opens "
    "the mistake in the gallery.",
)
GALLERY_CAPTION = (
    "Attributions are Integrated Gradients of the calibrated log-probability "
    "(docs/explaining.md); probabilities are calibrated (calibration.json)."
)
# filters.png when learned_filters.png exists: a layer set from the data, never trained.
FIXED_FIRST_LAYER = (
    "The first layer: set from the data, not learned",
    "Whitening filters of the training images' 5×5 patches, set before training and never "
    "trained (models/fast.py): they show the data's statistics, not what the network learned.",
)
RULE_PLOTS = {"risk_coverage.png"}  # drawn only for a run with a reject rule
FIXED_STEM_PLOTS = {"learned_filters.png"}  # drawn only for a model whose first layer is fixed
SPLIT_PLOTS = {"confusion_matrix.png", "per_class_accuracy.png", "typical.png", "misclassified.png",
               "correct.png", "calibration.png", "risk_coverage.png"}  # fmt: skip


def collect_figures(plots: Path, classes: list[str], fix: str) -> list[tuple]:
    """Every known plot that exists: the test split's, then the validation split's. Where
    evaluate wrote a gallery of mistakes (mistakes.json), it stands for misclassified.png,
    after the map of the test set (map.svg)."""
    found = []
    for folder, label in ((plots, ""), (plots / "val", " (validation split)")):
        for file, heading, caption in PLOTS:
            if label and file not in SPLIT_PLOTS:
                continue
            if file == "filters.png" and (folder / "learned_filters.png").is_file():
                heading, caption = FIXED_FIRST_LAYER
            gallery = mistakes.read(folder, fix) if file == "misclassified.png" else None
            if gallery is not None:
                if (folder / mistakes.MAP).is_file():
                    svg = reading.read_text(folder / mistakes.MAP, fix)
                    found.append((*MAP_FIGURE, Markup(svg)))
                found.append((heading + label, GALLERY_CAPTION,
                              Markup(mistakes.gallery_html(gallery, classes))))  # fmt: skip
            elif (folder / file).is_file():
                found.append((heading + label, caption, (folder / file).read_bytes()))
    return found
