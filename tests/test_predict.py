"""Classifier API and `mnistlab predict` on a small real run: round trips through files."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistlab.data import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.prediction.classifier import Classifier, ImageError, Prediction, predict_files
from predict_helpers import canvas_export, draw_seven, encode, trained_run


@pytest.fixture(scope="module")
def classifier():
    return Classifier.load(trained_run())


@pytest.fixture(scope="module")
def sample():
    test = load_dataset("mnist", "test")
    pick = np.random.default_rng(0).choice(len(test), 400, replace=False)
    return test.images[pick], test.labels[pick]


def accuracy(predictions, labels) -> float:
    return float(np.mean([p.label for p in predictions] == labels))


def on_white_page(digit: np.ndarray, rng) -> bytes:
    """An MNIST digit as dark ink somewhere on a large white page."""
    page = np.full((300, 420), 255, np.uint8)
    top, left = rng.integers(0, 300 - 28), rng.integers(0, 420 - 28)
    page[top : top + 28, left : left + 28] = 255 - digit
    return encode(Image.fromarray(page))


@pytest.mark.slow
def test_round_trip_through_files_keeps_accuracy(classifier, sample):
    digits, labels = sample
    raw = accuracy(classifier.predict(digits, preprocessed=True), labels)
    assert raw > 0.9
    rng = np.random.default_rng(0)
    variants = {
        "png": [encode(Image.fromarray(d)) for d in digits],
        "inverted png": [encode(Image.fromarray(255 - d)) for d in digits],
        "padded on a white page": [on_white_page(d, rng) for d in digits],
    }
    for name, files in variants.items():
        got = accuracy(classifier.predict(files), labels)
        assert got >= raw - 0.01 - 1e-9, f"{name}: {got:.3f} vs raw {raw:.3f}"  # 1 point


@pytest.mark.slow
def test_predict_takes_paths_images_arrays_one_or_many(classifier, tmp_path):
    path = tmp_path / "seven.png"
    draw_seven().save(path)
    one = classifier.predict(path)
    assert isinstance(one, Prediction) and one.file == str(path)
    assert one.label == 7 and one.name == "7"
    assert len(one.probabilities) == 10 and abs(sum(one.probabilities) - 1) < 1e-4
    assert one.top_k(3)[0] == (7, one.probabilities[7])
    top = [q for _, q in one.top_k(3)]
    assert top == sorted(top, reverse=True)
    many = classifier.predict([str(path), draw_seven(), np.asarray(canvas_export())])
    assert [p.label for p in many] == [7, 7, 7]
    assert [p.file for p in many] == [str(path), None, None]
    seen = classifier.preprocess(path)
    assert seen.shape == (28, 28) and seen.dtype == np.uint8
    batch = classifier.predict(np.stack([seen, seen]), preprocessed=True)
    assert len(batch) == 2 and batch[0].label == 7
    assert classifier.predict([]) == []


@pytest.mark.slow
def test_to_dict_is_the_json_contract(classifier):
    d = classifier.predict(draw_seven()).to_dict()
    assert list(d) == ["file", "label", "name", "probabilities", "accepted", "reason"]
    assert d["file"] is None and (d["accepted"], d["reason"]) == (True, None)


@pytest.mark.slow
def test_bad_image_in_a_batch_names_it(classifier, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(ImageError, match="notes.png is not an image"):
        classifier.predict([draw_seven(), bad])


def test_every_bad_file_of_a_folder_is_named_once(classifier, tmp_path):
    Image.new("L", (280, 280), 255).save(tmp_path / "blank.png")
    (tmp_path / "notes.png").write_text("not an image")
    Image.open(io.BytesIO(encode(draw_seven()))).save(tmp_path / "seven.png")
    results = predict_files(classifier, [tmp_path])
    assert [Path(p.file).name for p in results.predictions] == ["seven.png"]
    blank, notes = sorted(results.errors)
    assert blank.startswith(f"{tmp_path / 'blank.png'}: ") and "blank" in blank
    assert notes.count("notes.png") == 1


def test_load_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(MnistlabError, match="does not exist"):
        Classifier.load(tmp_path / "missing")
    with pytest.raises(MnistlabError, match="is not a run folder"):
        Classifier.load(tmp_path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, sample):
    """Images in nested folders, one of them broken."""
    root = tmp_path_factory.mktemp("images")
    (root / "nested").mkdir()
    digits, labels = sample
    for i in range(3):
        Image.fromarray(255 - digits[i]).save(root / f"digit{i}.png")
    Image.fromarray(digits[3]).save(root / "nested" / "digit3.jpg", quality=95)
    (root / "nested" / "broken.png").write_bytes(encode(draw_seven())[:900])
    (root / "nested" / "readme.txt").write_text("not looked at: not an image suffix")
    return root, labels[:4]


@pytest.mark.slow
def test_cli_json_reads_folders_recursively_and_reports_bad_files(folder, tmp_path, cli):
    root, labels = folder
    saved = tmp_path / "seen"
    result = cli(
        "predict", "--run", trained_run(), root, "--json", "--top-k", "2",
        "--save-preprocessed", saved,
    )  # fmt: skip
    assert result.returncode == 1  # one file was broken; the others are still predicted
    rows = json.loads(result.stdout)
    assert [r["file"].split("/")[-1] for r in rows] == [
        "digit0.png", "digit1.png", "digit2.png", "digit3.jpg",
    ]  # fmt: skip
    assert sum(r["label"] == y for r, y in zip(rows, labels, strict=True)) >= 3
    assert all(len(r["probabilities"]) == 10 and len(r["top_k"]) == 2 for r in rows)
    assert "broken.png is truncated or corrupt" in result.stderr
    assert "1 of 5 images could not be used" in result.stderr
    assert sorted(p.name for p in saved.iterdir()) == [
        "digit0.png", "digit1.png", "digit2.png", "digit3.png",
    ]  # fmt: skip
    assert Image.open(saved / "digit0.png").size == (28, 28)


@pytest.mark.slow
def test_cli_table_and_clear_errors(tmp_path, cli_here):
    path = tmp_path / "seven.png"
    draw_seven().save(path)
    result = cli_here("predict", "--run", trained_run(), path)
    assert result.returncode == 0, result.stderr
    assert "seven.png" in result.stdout and "prediction" in result.stdout
    missing = cli_here("predict", "--run", tmp_path / "nope", path)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().count("\n") == 0 and "does not exist" in missing.stderr
    typo = cli_here("predict", "--run", trained_run(), tmp_path / "sevn.png")
    assert typo.returncode == 1 and "sevn.png: no such file or folder" in typo.stderr


@pytest.mark.slow
def test_objects_run_uses_objects_preprocessing(classifier):
    fashion = Classifier(classifier.model, {**classifier.config, "preprocessing": "objects"},
                         classifier.metrics, classifier.run_dir)  # fmt: skip
    shirt = Image.new("L", (300, 400), 250)
    shirt.paste(60, (40, 60, 260, 380))
    seen = fashion.preprocess(encode(shirt))
    assert seen.shape == (28, 28) and (seen > 0).any(1).sum() >= 27  # fills the frame
