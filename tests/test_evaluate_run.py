"""Evaluate, report and compare real (tiny) runs, as a user runs them: a process per command."""

import hashlib
import json
import re
import shutil

import pytest

from mnistlab.evaluation.evaluate import evaluate_run
from mnistlab.evaluation.mistakes import SHOWN
from mnistlab.evaluation.report_figures import FIXED_STEM_PLOTS, PLOTS, RULE_PLOTS
from mnistlab.training.run import TrainConfig, train
from test_evaluate import assert_png
from test_report import assert_whole_in_chromium

pytestmark = pytest.mark.slow

# These runs have no reject rule, and train their first layer.
RUN_PLOTS = [plot for plot in PLOTS if plot[0] not in RULE_PLOTS | FIXED_STEM_PLOTS]
PLOT_FILES = [file for file, _, _ in RUN_PLOTS]


def digests(run_dir):
    return {
        f: hashlib.sha256((run_dir / f).read_bytes()).hexdigest()
        for f in ("model.safetensors", "history.csv", "config.json")
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three small runs (seconds each): an MLP and the NumPy net on MNIST, a CNN on Fashion."""
    root = tmp_path_factory.mktemp("runs")
    small = dict(epochs=1, train_limit=1000, val_size=1000)
    for model, dataset in (("mlp", "mnist"), ("numpy", "mnist"), ("cnn", "fashion-mnist")):
        train(TrainConfig(dataset=dataset, model=model, out=str(root / model), **small))
    return root


@pytest.fixture(scope="module")
def evaluated(runs, cli):
    """The MLP run evaluated through the CLI with --json; the files' hashes before and after."""
    run = runs / "mlp"
    before = digests(run)
    result = cli("evaluate", run, "--json")
    assert result.returncode == 0, result.stderr
    return run, json.loads(result.stdout), result.stderr, before


def test_evaluate_json_follows_the_contract(evaluated):
    run, metrics, stderr, _ = evaluated
    cm = metrics["confusion_matrix"]
    assert len(cm) == 10 and all(len(row) == 10 for row in cm)
    assert sum(map(sum, cm)) == 10_000 == sum(r["support"] for r in metrics["per_class"])
    assert metrics["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(10)) / 10_000)
    assert 0.5 < metrics["accuracy"] < 1 and 0 < metrics["loss"] < 3
    assert [r["label"] for r in metrics["per_class"]] == list(range(10))
    assert [r["name"] for r in metrics["per_class"]] == [str(d) for d in range(10)]
    confused = metrics["most_confused"]
    assert confused and all(p["true"] != p["predicted"] for p in confused)
    assert str(run / "report.html") in stderr


def test_evaluation_keeps_weights_history_and_training_metrics(evaluated):
    run, metrics, _, before = evaluated
    assert digests(run) == before
    saved = json.loads((run / "metrics.json").read_text())
    assert "train_seconds" in saved and saved["confusion_matrix"] == metrics["confusion_matrix"]


def test_every_plot_is_a_png(evaluated):
    run = evaluated[0]
    for file in PLOT_FILES:
        assert_png(run / "plots" / file)


def test_the_report_maps_the_test_set_and_explains_its_mistakes(evaluated):
    run = evaluated[0]
    gallery = json.loads((run / "plots" / "mistakes.json").read_text())
    assert gallery["split"] == "test" and gallery["wrong"] > len(gallery["shown"]) >= SHOWN
    confidences = [t["p_predicted"] for t in gallery["shown"][:SHOWN]]
    assert confidences == sorted(confidences, reverse=True)
    for t in gallery["shown"]:
        assert t["label"] != t["predicted"] and t["p_predicted"] >= t["p_runner_up"] >= t["p_true"]
    page = (run / "report.html").read_text()
    links = re.findall(r'<a href="#(test-mistake-\d+)">', page)
    assert links and set(links) <= set(re.findall(r'<figure class="tile" id="([^"]+)"', page))
    assert "Map of the test set" in page and "learned_filters" not in page


@pytest.mark.browser
def test_report_shows_every_section_in_chromium(evaluated):
    tiles = len(json.loads((evaluated[0] / "plots" / "mistakes.json").read_text())["shown"])
    # misclassified.png's place holds the gallery: an image per tile
    assert_whole_in_chromium(evaluated[0] / "report.html", RUN_PLOTS, len(RUN_PLOTS) - 1 + tiles)


def test_numpy_and_cnn_runs_evaluate_too(runs):
    for model, first_name in (("numpy", "0"), ("cnn", "T-shirt/top")):
        metrics = evaluate_run(runs / model)  # in-process: a second CLI start adds nothing
        assert metrics["per_class"][0]["name"] == first_name
        assert sum(map(sum, metrics["confusion_matrix"])) == 10_000
        for file in PLOT_FILES:
            assert_png(runs / model / "plots" / file, min_width=200, min_height=100)


def test_report_command_rebuilds_the_page(evaluated, cli_here):
    run = evaluated[0]
    (run / "report.html").unlink()
    result = cli_here("report", run)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(run / "report.html")
    assert "Confusion matrix" in (run / "report.html").read_text()


def test_validation_split_is_kept_apart(runs, tmp_path, cli_here):
    run = tmp_path / "run"
    shutil.copytree(runs / "numpy", run)
    test_metrics = json.loads((run / "metrics.json").read_text())
    result = cli_here("evaluate", run, "--split", "val", "--json")
    assert result.returncode == 0, result.stderr
    val = json.loads(result.stdout)
    assert val["split"] == "val" and sum(map(sum, val["confusion_matrix"])) == 1000
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["accuracy"] == test_metrics["accuracy"] and saved["val"] == val
    assert_png(run / "plots" / "val" / "confusion_matrix.png")
    assert json.loads((run / "plots" / "val" / "mistakes.json").read_text())["split"] == "val"
    assert not (run / "plots" / "val" / "map.svg").exists()  # the map is of test images
    assert "Confusion matrix (validation split)" in (run / "report.html").read_text()


def test_compare_json_is_sorted_best_first(runs, evaluated, tmp_path, cli_here):
    plot = tmp_path / "curves.png"
    result = cli_here(
        "compare", runs / "numpy", runs / "cnn", runs / "mlp", "--json", "--plot", plot
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["model"] for r in rows) == ["cnn", "mlp", "numpy"]
    accuracies = [r["test_accuracy"] for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    mlp = next(r for r in rows if r["model"] == "mlp")
    assert mlp["test_accuracy"] == pytest.approx(evaluated[1]["accuracy"], abs=1e-6)
    assert mlp["epochs"] == 1 and mlp["parameters"] > 100_000 and mlp["train_seconds"] > 0
    assert_png(plot)
    table = cli_here("compare", runs / "mlp", runs / "cnn")
    assert table.returncode == 0 and "test acc" in table.stdout
    assert f"{100 * mlp['test_accuracy']:.2f}%" in table.stdout


def test_compare_skips_what_is_not_a_run_folder_with_one_note(runs, evaluated, tmp_path, cli_here):
    (tmp_path / "mnist-samples.png").write_bytes(b"not a run")
    (tmp_path / "notes").mkdir()
    result = cli_here("compare", runs / "mlp", tmp_path / "mnist-samples.png", tmp_path / "notes")
    assert result.returncode == 0 and "test acc" in result.stdout
    skipped = f"{tmp_path / 'mnist-samples.png'}, {tmp_path / 'notes'}"
    assert result.stderr == f"skipped 2 path(s) that are not run folders: {skipped}\n"


def broken(runs, tmp_path, damage):
    run = tmp_path / "run"
    shutil.copytree(runs / "mlp", run)
    damage(run)
    return run


ALL = ("evaluate", "report", "compare")


@pytest.mark.parametrize(
    ("damage", "message", "commands"),
    [
        (lambda r: (r / "config.json").unlink(), "has no config.json; restore it", ALL),
        (lambda r: (r / "model.safetensors").unlink(), "has no model.safetensors", ALL),
        (
            lambda r: (r / "history.csv").write_text(
                (r / "history.csv").read_text().split("\n")[0]
            ),
            "0 epochs, where metrics.json counts 1",
            ALL,
        ),
        # report and compare do not need the dataset
        (
            lambda r: (r / "config.json").write_text(
                (r / "config.json").read_text().replace('"mnist"', '"kmnist"')
            ),
            "kmnist",
            ("evaluate",),
        ),
    ],
    ids=["not-a-run", "no-weights", "empty-history", "unknown-dataset"],
)
def test_bad_runs_fail_in_one_line(runs, tmp_path, damage, message, commands, cli_here):
    run = broken(runs, tmp_path, damage)
    for command in commands:
        result = cli_here(command, run)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert message in result.stderr and "Traceback" not in result.stderr
