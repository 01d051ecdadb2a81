"""`mnistlab calibrate RUN`: fit a run's temperature on images it did not train on, and write
calibration.json (and the test split's figures into metrics.json).

Training does the temperature itself at its end (training/run.py); this calibrates a run
trained before that, or again. The images: the run's validation split, else its calibration
split (config.json's calibration_size), else, for a run that held nothing out, the test
split, said in a warning, since the test figures then flatter the fit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnistlab import atomic, runs
from mnistlab.data import Dataset, load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.models import calibration, reject
from mnistlab.models.reject import RejectRule
from mnistlab.prediction.images import ImageError
from mnistlab.prediction.preprocess import PreprocessOptions, preprocess

log = logging.getLogger("mnistlab.prediction.calibrate")

GENERATOR = "1"  # bump when data/outliers.py or drawing.py draw otherwise: cached images redone
OUTLIERS = 3000  # made-up non-digits the rule learns from, before 2 shifted copies of each
DIGITS = 10000  # training images for the class means, the covariance and the MLP (at most
# 4 per made-up image: a smaller rule, as the tests fit, needs fewer)
ACCEPT = 0.99  # the share of held-out images of the classes the rule accepts
UNSURE = 0.6  # a calibrated top probability below this: "unsure" (0.5: wrong as often as
# right; 0.6 keeps 99.5% of the accepted test digits right on demo runs that 0.5 did not)
OTHER = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}


def held_out(config: dict, data_dir: str | None = None) -> tuple[Dataset, str]:
    """The images this run did not train on, and what they are: "val", "calibration", "test"."""
    name, seed = config["dataset"], int(config.get("seed", 0))
    size = int(config.get("val_size", 0)) or int(config.get("calibration_size", 0))
    try:
        if size:
            split = "val" if config.get("val_size") else "calibration"
            return load_dataset(name, "val", val_size=size, seed=seed, data_dir=data_dir), split
        return load_dataset(name, "test", data_dir=data_dir), "test"
    except MnistlabError as e:
        raise MnistlabError(f"cannot calibrate: dataset {name!r} is not available ({e})") from None


def calibrate_run(run_dir: str | Path, data_dir: str | None = None, made_up: int | None = None,
                  accept: float | None = None) -> dict:  # fmt: skip
    """Fit and write the run's calibration: the temperature, then the reject rule, learnt
    from `made_up` generated non-digits (default OUTLIERS), its threshold keeping `accept` of
    the held-out images (default ACCEPT); returns calibration.json's content."""
    accept = ACCEPT if accept is None else accept
    if not 0.5 <= accept <= 1:
        raise MnistlabError(f"accept must be a share of held-out images between 0.5 and 1, "
                            f"not {accept}")  # fmt: skip
    run_dir = Path(run_dir)
    config, model = runs.load_config(run_dir), runs.load_model(run_dir)
    images, where = held_out(config, data_dir)
    if where == "test":
        log.warning("%s held no images out (trained before calibration splits, with "
                    "val_size 0): fitting on the test split, whose figures then flatter the fit",
                    run_dir)  # fmt: skip
    fitted = fit_calibration(config, model.predict_proba(images.images), images.labels, where)
    calibrated = calibration.Calibration.of(fitted)
    rule, fitted["reject"] = fit_reject(model, config, images, calibrated, where, data_dir,
                                        accept=accept, made_up=made_up or OUTLIERS)  # fmt: skip
    runs.save_reject(run_dir, rule.arrays)
    runs.write_calibration(run_dir, fitted)
    test = images if where == "test" else load_dataset(config["dataset"], "test", data_dir=data_dir)
    if runs.load_metrics(run_dir) is not None:  # the test split's figures, as training gives
        raw = model.predict_proba(test.images)
        runs.write_metrics(run_dir, {
            "calibration": calibration.summary(raw, test.labels, calibrated),
            "reject": rule.selective_on(model, test.images, test.labels, calibrated),
        })  # fmt: skip
    found = fitted["reject"]
    log.info("reject rule: refuses scores above %.2f (keeps %.1f%% of the %s images; refuses "
             "%.1f%% of the %s made-up non-digits it learnt from) and calibrated top "
             "probabilities below %.2f", rule.threshold, 100 * found["accepted_held_out"], where,
             100 * found["flagged_made_up_all"], f"{found['made_up']:,}", rule.unsure)  # fmt: skip
    return fitted


def fit_calibration(config: dict, proba: np.ndarray, labels: np.ndarray, where: str) -> dict:
    """calibration.json's calibration part for this run: the temperature, and the top map
    for a run trained with label smoothing, which one temperature cannot undo."""
    return calibration.fitted(proba, labels, where, top_map=config.get("label_smoothing", 0) > 0)


# ── the reject rule (mnistlab.models.reject) ──────────────────────────────────


def outlier_images(preprocessing: str, dataset: str, n: int = OUTLIERS, seed: int = 0,
                   data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Made-up images that are none of the classes, as the model sees them (uint8 (N, 28, 28))
    and their kinds. Preprocessing them takes a while (~15 ms each), so they are kept in the
    cache, by preprocessing, generator version, count and seed."""
    from mnistlab.data import outliers

    def make() -> dict[str, np.ndarray]:
        other_name = OTHER.get(dataset)
        try:
            other = load_dataset(other_name, "train", val_size=0, data_dir=data_dir).images
        except (MnistlabError, KeyError):
            log.info("%s is not available: the reject rule learns without it", other_name)
            other = None
        log.info("drawing %d non-%s images for the reject rule (once; kept in %s)", n, dataset,
                 _cache())  # fmt: skip
        made = outliers.generate(n, seed=seed, other=other)
        images, kept = _preprocessed([item.image for item in made], preprocessing)
        return {"images": images, "kinds": np.array([made[i].kind for i in kept])}

    saved = _kept(f"{dataset}-{preprocessing}-g{GENERATOR}-{n}-{seed}.npz", make)
    return saved["images"], saved["kinds"]


def fit_reject(model, config: dict, held: Dataset, calibrated: calibration.Calibration,
               where: str, data_dir: str | None = None, accept: float = ACCEPT,
               made_up: int = OUTLIERS):  # fmt: skip
    """(RejectRule, what calibration.json says of it): the rule learns from training images
    (for a digit reader, some also as people send them: `people_digits`) against made-up
    ones, and its threshold keeps `accept` of the held-out images."""
    size = 0 if where == "test" else len(held)
    train = load_dataset(config["dataset"], "train", val_size=size, seed=int(config.get("seed", 0)),
                         data_dir=data_dir)  # fmt: skip
    pick = np.random.default_rng(0).permutation(len(train))[: min(DIGITS, 4 * made_up)]
    digits, labels = train.images[pick], train.labels[pick]
    strange, kinds = outlier_images(config.get("preprocessing", "digits"), config["dataset"],
                                    made_up, data_dir=data_dir)  # fmt: skip
    strange = np.concatenate([strange, *(_shifted(strange, seed) for seed in (1, 2))])
    seen_digits = _calibrated(model, digits, calibrated)  # one pass over each set
    seen_strange = _calibrated(model, strange, calibrated)
    arrays = reject.whitening(seen_digits[1], labels, len(config["classes"]))
    arrays |= {"input_mean": np.float32(0), "input_std": np.float32(1),
               "map_width": np.array([seen_digits[3].shape[1]], np.float32)}  # fmt: skip
    rule = RejectRule(arrays, threshold=np.inf, unsure=UNSURE)
    x_digits, x_strange = rule.inputs(digits, *seen_digits), rule.inputs(strange, *seen_strange)
    sent = people_digits(config, digits[: made_up // 3], made_up // 6,
                         f"v{size}s{int(config.get('seed', 0))}")  # fmt: skip
    if len(sent):
        seen_sent = _calibrated(model, sent, calibrated)
        x_digits = np.concatenate([x_digits, rule.inputs(sent, *seen_sent)])
    both = np.concatenate([x_digits, x_strange])
    mean, std = both.mean(0), both.std(0) + np.float32(1e-3)
    arrays |= {"input_mean": mean, "input_std": std}
    x_digits, x_strange = (x_digits - mean) / std, (x_strange - mean) / std
    arrays |= _train_mlp(x_digits, x_strange)
    held_scores = rule.scored(model, held.images, calibrated)[1]
    rule.threshold = float(np.quantile(held_scores, accept))
    own = reject.mlp_score(arrays, x_strange[: len(kinds)]) > rule.threshold
    report = {
        "threshold": rule.threshold,
        "accept": accept,
        "unsure_below": rule.unsure,
        "accepted_held_out": float(np.mean(held_scores <= rule.threshold)),
        "held_out": where,
        "flagged_made_up": {k: float(own[kinds == k].mean()) for k in np.unique(kinds)},
        "flagged_made_up_all": float(own.mean()),
        "made_up": int(len(kinds)),
        "digits_on_forms": int(len(sent)),
        "generator": GENERATOR,
    }
    return rule, report


def people_digits(config: dict, images: np.ndarray, printed: int, split: str) -> np.ndarray:
    """Training digits redrawn on people's forms and `printed` font digits, preprocessed (uint8
    (N, 28, 28)), for the rule's digit side: without them the rule could tell a made-up image
    by how the preprocessing left it, and refuse people's digits for it (a digit reader only;
    cached like the made-up images, by the training split they come from)."""
    from mnistlab.data import outliers

    preprocessing = config.get("preprocessing", "digits")
    if preprocessing != "digits" or config["dataset"] != "mnist":
        return images[:0]

    def make() -> dict[str, np.ndarray]:
        sent = outliers.digits_on_forms(images, printed, seed=1)
        return {"images": _preprocessed(sent, preprocessing)[0]}

    name = f"{config['dataset']}-people-g{GENERATOR}-{len(images)}-{printed}-{split}.npz"
    return _kept(name, make)["images"]


def _cache() -> Path:
    from mnistlab.data.sources import cache_root

    return cache_root() / "outliers"


def _kept(name: str, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays in the cache's outliers/NAME (.npz), made and written once."""
    path = _cache() / name
    if path.is_file():
        with np.load(path) as saved:
            return dict(saved)
    arrays = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return arrays


def _preprocessed(images: list, preprocessing: str) -> tuple[np.ndarray, list[int]]:
    """The images as the model sees them, and the indices of those kept: one the preprocessing
    finds blank is refused before any model sees it, so the rule never learns it."""
    options = PreprocessOptions(preprocessing=preprocessing)
    out, kept = [], []
    for i, image in enumerate(images):
        try:
            out.append(preprocess(image, options))
            kept.append(i)
        except ImageError:
            continue
    return np.stack(out), kept


def _calibrated(model, images, calibrated: calibration.Calibration):
    seen = model.look(images)
    return calibrated(seen.proba), *seen[1:]


def _shifted(images: np.ndarray, seed: int) -> np.ndarray:
    """Each image moved by up to 2 pixels (what fills in is background)."""
    rng = np.random.default_rng(seed)
    out = np.zeros_like(images)
    for i, (dy, dx) in enumerate(rng.integers(-2, 3, (len(images), 2))):
        out[i] = np.roll(images[i], (dy, dx), (0, 1))
    return out


def _train_mlp(x_digits: np.ndarray, x_strange: np.ndarray, epochs: int = 12) -> dict:
    """A 64-unit ReLU MLP, digits (0) against the rest (1), balanced batches, by hand."""
    from mnistlab.models.numpy_net import SGD, NumpyNet

    net = NumpyNet(hidden=(64,), activation="relu", n_in=x_digits.shape[1], n_out=2, seed=0)
    net.buffers["input_mean"][...], net.buffers["input_std"][...] = 0, 1
    optimizer = SGD(net.params, lr=0.02, momentum=0.9, nesterov=True, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    half = 128
    steps = max(len(x_digits), len(x_strange)) // half
    for _ in range(epochs):
        a, b = rng.permutation(len(x_digits)), rng.permutation(len(x_strange))
        for i in range(steps):
            ia = a[(i * half) % len(a) : (i * half) % len(a) + half]
            ib = b[(i * half) % len(b) : (i * half) % len(b) + half]
            x = np.concatenate([x_digits[ia], x_strange[ib]])
            y = np.r_[np.zeros(len(ia), np.int64), np.ones(len(ib), np.int64)]
            optimizer.step(net.loss_and_grads(x, y)[1])
    return {k: v.copy() for k, v in net.params.items()}
