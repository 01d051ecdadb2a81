"""`mnistlab sweep`: Optuna trials that are ordinary run folders, scored on validation."""

import json
import re
import shlex
import signal

import optuna
import pytest
from optuna.trial import TrialState

from mnistlab import runs
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.compare import compare_runs
from mnistlab.training import sweep
from mnistlab.training.sweep import Param, Sweep, check, open_study, parse_param, run_sweep
from test_evaluate import assert_png
from train_helpers import signalled

SMALL = ["--model", "mlp", "--train-limit", "500", "--val-size", "200", "--epochs", "1"]
SEARCH = ["--param", "lr=1e-3..1e-2:log", "--param", "batch_size=64,128"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr=1e-3..3e-2:log", Param("lr", 1e-3, 3e-2, log=True)),
        ("weight_decay=0..1e-3", Param("weight_decay", 0.0, 1e-3)),
        ("epochs=1..4", Param("epochs", 1, 4)),
        ("batch-size=128,256,512", Param("batch_size", choices=(128, 256, 512))),
        ("optimizer=adam,adamw", Param("optimizer", choices=("adam", "adamw"))),
        ("flip=true,false", Param("flip", choices=(True, False))),
    ],
)
def test_param_forms(text, expected):
    param = parse_param(text)
    assert param == expected
    assert parse_param(param.text()) == param  # the study stores the text form


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("lr", "expected name=LOW..HIGH[:log]"),
        ("lr=", "expected name=LOW..HIGH[:log]"),
        ("lr=a..b", "expected name=LOW..HIGH[:log]"),
        ("lr=1e-3..1e-2:ln", "expected name=LOW..HIGH[:log]"),
        ("batch_size=1.5..4", "expected name=LOW..HIGH[:log]"),
        ("flip=yes,no", "expected name=LOW..HIGH[:log]"),
        ("optimizer=adam..sgd", "expected name=LOW..HIGH[:log]"),
        ("lr=1e-2..1e-3", "LOW must be below HIGH"),
        ("weight_decay=0..1e-3:log", "a :log range needs LOW > 0"),
        ("momentum=0.8,0.9", "'momentum' cannot be searched"),
        ("val_size=100,200", "'val_size' cannot be searched"),
    ],
)
def test_a_bad_param_says_the_form(text, why):
    with pytest.raises(MnistlabError, match=r"bad --param .*" + why.replace("[", r"\[")):
        parse_param(text)


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (Sweep((parse_param("lr=1e-3..1e-2"),), {"lr": 0.01}), "both searched .* and fixed"),
        (Sweep((parse_param("lr=0..1e-2"),), {}), "learning rate must be positive"),
        (Sweep((parse_param("optimizer=adam,lbfgs"),), {}), "unknown optimizer 'lbfgs'"),
        (Sweep((parse_param("lr=1e-3..1e-2"),), {"val_size": 0}), "give --val-size > 0"),
        (Sweep((), {}), "give at least one --param"),
    ],
)
def test_a_sweep_that_cannot_train_is_refused_before_anything_is_written(sweep, message, tmp_path):
    with pytest.raises(MnistlabError, match=message):
        check(sweep)
    with pytest.raises(MnistlabError, match=message):
        open_study(tmp_path / "sweep", None, "sweep", sweep, resume=False)
    assert not (tmp_path / "sweep").exists()


def test_the_cli_says_one_line(cli_here, tmp_path):
    for args, message in (
        ([*SMALL, "--param", "lr=fast", "--out", tmp_path / "a"], "bad --param 'lr=fast'"),
        ([*SMALL, *SEARCH, "--val-size", "0", "--out", tmp_path / "b"], "validation split"),
        (["--resume", "--out", tmp_path / "none"], "no sweep in"),
    ):
        result = cli_here("sweep", *args)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error:"), lines
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_study_that_is_not_a_sweep_is_one_line(cli_here, tmp_path):
    optuna.create_study(study_name="other", storage=f"sqlite:///{tmp_path / 'study.db'}")
    result = cli_here("sweep", "--out", tmp_path, "--study", "other", "--resume")
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert (
        "the study 'other' in sqlite:///" in result.stderr
        and "not a mnistlab sweep" in result.stderr
    )


@pytest.fixture(scope="module")
def swept(tmp_path_factory, cli):
    """A 4-trial sweep by 2 worker processes on one SQLite study, as `mnistlab sweep` runs."""
    out = tmp_path_factory.mktemp("sweeps") / "small"
    result = cli("sweep", *SMALL, *SEARCH, "--trials", "4", "--workers", "2", "--out", out,
                 "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout)


@pytest.mark.slow
def test_every_trial_is_a_run_folder_scored_on_validation(swept):
    out, document = swept
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 4 and len(document["trials"]) == 4
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    # The two workers' samplers differ: no two trials drew the same parameters.
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4
    for row in document["trials"]:
        run = out / f"trial-{row['trial']:04d}"
        assert row["run"] == str(run) and row["state"] == "complete"
        config, history = runs.load_config(run), runs.load_history(run)
        assert runs.load_metrics(run)["accuracy"] > 0.3 and runs.load_model(run)
        assert {k: config[k] for k in row["params"]} == row["params"]
        assert config["train_limit"] == 500 and config["val_size"] == 200
        assert row["val_acc"] == history[-1]["val_acc"]  # validation, not test
        assert (out / "logs" / f"trial-{row['trial']:04d}.log").exists()
    values = [r["val_acc"] for r in document["trials"]]
    assert values == sorted(values, reverse=True)
    best = document["best"]
    assert best["trial"] == study.best_trial.number and best["val_acc"] == study.best_value
    assert_png(out / "sweep.png")


@pytest.mark.slow
def test_the_best_command_repeats_the_best_trial(swept, cli, tmp_path):
    out, document = swept
    best = document["best"]
    command = shlex.split(best["command"])
    assert command[:2] == ["mnistlab", "train"]
    result = cli(*command[1:], "--out", tmp_path / "again")
    assert result.returncode == 0, result.stderr
    assert runs.load_history(tmp_path / "again")[-1]["val_acc"] == best["val_acc"]


@pytest.mark.slow
def test_resume_shows_the_table_and_continues_the_study(swept, cli, cli_here):
    out, document = swept
    table = cli_here("sweep", "--out", out, "--resume", "--trials", "4")
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if "trial-0" in line]
    assert f"trial-{document['best']['trial']:04d}" in rows[0] and len(rows) == 4
    changed = cli_here("sweep", "--out", out, "--resume", "--param", "lr=1e-4..1e-3")
    assert changed.returncode == 1 and "keeps its --param" in changed.stderr
    more = cli("sweep", "--out", out, "--resume", "--trials", "5", "--json")
    assert more.returncode == 0, more.stderr
    assert len(json.loads(more.stdout)["trials"]) == 5 and (out / "trial-0004").is_dir()


@pytest.mark.slow
def test_a_hopeless_trial_is_pruned_and_its_folder_kept(tmp_path):
    """Median pruning, forced: a good trial finishes, then one with a learning rate too small
    to learn in one epoch falls below its median after epoch 1 of 2."""
    out = tmp_path / "pruned"
    small = dict(model="mlp", train_limit=500, val_size=200, epochs=2, batch_size=64)
    sweep = Sweep((parse_param("lr=1e-6..1e-2:log"),), small, prune_after=1)
    study, _ = open_study(out, None, "pruned", sweep, resume=False)
    study.enqueue_trial({"lr": 1e-2})
    study.enqueue_trial({"lr": 1e-6})
    rows, _ = run_sweep(out, trials=2, resume=True)
    assert [(r["trial"], r["state"], r["epochs"]) for r in rows] == [
        (0, "complete", 2),
        (1, "pruned", 1),
    ]
    pruned = out / "trial-0001"
    assert len(runs.load_history(pruned)) == 1 and runs.has_checkpoint(pruned)
    assert runs.load_metrics(pruned) is None  # no test figures: it did not finish
    compared = {r["run"]: r for r in compare_runs([out / "trial-0000", pruned])}
    assert compared[str(pruned)]["test_accuracy"] is None  # but compare (and evaluate) work
    assert "after epoch 1" in rows[1]["why"]


def test_workers_samplers_never_share_a_seed():
    seeds = {sweep.sampler_seed(0, w, n) for w in range(4) for n in range(50)}
    assert len(seeds) == 200


@pytest.mark.slow
def test_a_killed_then_interrupted_sweep_ends_with_every_trial_once(tmp_path, cli_here):
    """kill -9 of a 2-worker sweep mid-trial, a resume stopped by Ctrl-C, a last resume: the
    study ends with the 3 trials asked for, each run once, the stopped ones from their
    checkpoints (a trial left RUNNING by a dead worker used to stay so, uncounted, forever)."""
    out = tmp_path / "sweep"
    args = ["sweep", "--model", "mlp", "--train-limit", "2000", "--val-size", "500", "--epochs",
            "3", "--param", "lr=1e-3..1e-2:log", "--trials", "3", "--workers", "2",
            "--out", out]  # fmt: skip
    checkpoint = lambda: any(out.glob("trial-*/checkpoint.safetensors"))  # noqa: E731
    killed = signalled(args, after=checkpoint, sig=signal.SIGKILL, delay=0)  # mid-trial
    assert killed.returncode == -signal.SIGKILL
    study = lambda: optuna.load_study(study_name="sweep", storage=f"sqlite:///{out / 'study.db'}")  # noqa: E731
    assert TrialState.RUNNING in {t.state for t in study().trials}  # left by the dead workers

    def resumed() -> bool:  # a trial put back runs again from its checkpoint
        return any("resuming after epoch" in log.read_text() for log in out.glob("logs/*.log"))

    again = ["sweep", "--out", out, "--resume", "--trials", "3", "--workers", "2"]
    stopped = signalled(again, after=resumed, delay=0)
    assert "its worker had stopped; it runs again from its checkpoint" in stopped.stderr
    assert stopped.returncode == 130 and "Traceback" not in stopped.stderr, stopped.stderr
    assert re.fullmatch(r"interrupted with \d of 3 trials done(; \d stopped trial\(s\) go on from "
                        rf"their checkpoints)?; continue with: mnistlab sweep --out {out} "
                        r"--resume --trials 3 --workers 2",
                        stopped.stderr.strip().splitlines()[-1]), stopped.stderr  # fmt: skip
    assert {t.state for t in study().trials} <= {TrialState.COMPLETE, TrialState.WAITING}

    done = cli_here("sweep", "--out", out, "--resume", "--trials", "3", "--json")
    assert done.returncode == 0, done.stderr
    trials = study().trials
    assert [(t.number, t.state) for t in trials] == [(n, TrialState.COMPLETE) for n in range(3)]
    for t in trials:  # each trained once: three epochs, one row each, reported once each
        assert [r["epoch"] for r in runs.load_history(out / f"trial-{t.number:04d}")] == [1, 2, 3]
        assert sorted(t.intermediate_values) == [1, 2, 3]
    assert len(json.loads(done.stdout)["trials"]) == 3
