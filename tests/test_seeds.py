"""`mnistlab train --seeds`: one run per seed; `compare` makes them one row, mean ± std."""

import json
import statistics

import pytest

from mnistlab import runs
from mnistlab.evaluation.compare import group_row, recipe_key
from mnistlab.training.run import TrainConfig, train

SMALL = ["--model", "mlp", "--train-limit", "500", "--val-size", "200", "--epochs", "1"]


def test_the_recipe_key_ignores_what_differs_by_seed_only():
    config = {"model": "mlp", "lr": 0.01, "seed": 0, "model_args": {"mean": 0.13, "std": 0.3},
              "versions": {"torch": "2.13"}}  # fmt: skip
    same = {**config, "seed": 4, "model_args": {"mean": 0.12, "std": 0.31}, "versions": {}}
    assert recipe_key(same) == recipe_key(config)
    assert recipe_key({**config, "lr": 0.02}) != recipe_key(config)
    numpy_args = {**config, "model_args": {"hidden": [256], "mean": 0.1, "std": 0.3}}
    assert recipe_key({**numpy_args, "model_args": {"hidden": [512]}}) != recipe_key(numpy_args)


def test_a_group_row_is_the_mean_and_sample_std_of_its_seeds():
    members = [
        {"run": f"r/seed-{s}", "dataset": "mnist", "model": "mlp", "parameters": 10, "epochs": 2,
         "train_seconds": t, "test_accuracy": a, "test_loss": loss, "seed": s}
        for s, t, a, loss in ((2, 3.0, 0.97, 0.1), (0, 1.0, 0.95, 0.3), (1, 2.0, 0.96, 0.2))
    ]  # fmt: skip
    row = group_row(members)
    assert row["seeds"] == [0, 1, 2] and row["runs"] == ["r/seed-0", "r/seed-1", "r/seed-2"]
    assert row["run"] == "r (3 seeds)" and [r["seed"] for r in row["per_seed"]] == [0, 1, 2]
    assert row["test_accuracy"] == pytest.approx(0.96)
    assert row["test_accuracy_std"] == pytest.approx(statistics.stdev([0.95, 0.96, 0.97]))
    assert row["test_loss_std"] == pytest.approx(0.1) and row["train_seconds"] == 2.0
    members[0]["test_accuracy"] = None  # one seed not evaluated: no mean to give
    assert group_row(members)["test_accuracy"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "a-b"], "--seeds takes a range like 0-4"),
        (["--seeds", "3-1"], "--seeds takes a range like 0-4"),
        (["--seeds", "0,1,1"], "names each seed once"),
        (["--seeds", "0-2", "--seed", "1"], "drop --seed"),
    ],
)
def test_bad_seeds_are_one_line(cli_here, args, message, tmp_path):
    result = cli_here("train", *SMALL, *args, "--out", tmp_path / "s")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0] and not (tmp_path / "s").exists()


@pytest.mark.slow
def test_seeds_train_one_run_each_and_compare_groups_them(cli, cli_here, tmp_path):
    result = cli("train", *SMALL, "--seeds", "0-2", "--out", tmp_path / "seeds", "--json")
    assert result.returncode == 0, result.stderr
    trained = json.loads(result.stdout)
    folders = [tmp_path / "seeds" / f"seed-{s}" for s in range(3)]
    assert [d["run"] for d in trained] == [str(f) for f in folders]
    assert [runs.load_config(f)["seed"] for f in folders] == [0, 1, 2]
    other = train(TrainConfig(model="mlp", train_limit=500, val_size=200, epochs=1, lr=3e-3,
                              out=str(tmp_path / "other")))  # fmt: skip
    compared = cli_here("compare", *folders, other.dir, "--json")
    assert compared.returncode == 0, compared.stderr
    rows = json.loads(compared.stdout)
    assert len(rows) == 2
    group = next(r for r in rows if "seeds" in r)
    accuracies = [runs.load_metrics(f)["accuracy"] for f in folders]
    assert group["seeds"] == [0, 1, 2] and group["runs"] == [str(f) for f in folders]
    assert [r["test_accuracy"] for r in group["per_seed"]] == accuracies
    assert group["test_accuracy"] == pytest.approx(statistics.mean(accuracies))
    assert group["test_accuracy_std"] == pytest.approx(statistics.stdev(accuracies))
    table = cli_here("compare", *folders, other.dir)
    mean, std = 100 * group["test_accuracy"], 100 * group["test_accuracy_std"]
    assert f"{mean:.2f}% ± {std:.2f}" in table.stdout and "(3 seeds)" in table.stdout
