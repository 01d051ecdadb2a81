"""`--budget`: durations, the epoch plan, and a budgeted run that records and resumes its plan."""

import pytest

from mnistlab import runs
from mnistlab.errors import MnistlabError
from mnistlab.training import budget, loop
from mnistlab.training.run import TrainConfig, train
from train_helpers import interrupted, weights


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("90s", 90), ("1h30m", 5400), ("1.5h", 5400), ("2M", 120)]
)
def test_durations_need_a_unit(text, seconds):
    assert budget.parse(text) == seconds


@pytest.mark.parametrize("text", ["30", "m", "-5m", "0s", "30 minutes", ""])
def test_bad_durations_are_one_line_errors(text):
    with pytest.raises(MnistlabError, match="--budget"):
        budget.parse(text)


def test_the_plan_takes_the_whole_epochs_that_fit_after_setup_evaluation_and_margin():
    # 1800 s less 6% margin (108 s), 30 s spent, 20 s of test pass: 1642 s for 235 × 1.0 s + 5 s.
    plan = budget.plan(1800, spent=30, step_seconds=1.0, steps_per_epoch=235, test_seconds=20,
                       val_seconds=5)  # fmt: skip
    assert plan.epochs == 1642 // 240 == 6
    assert plan.evaluation_seconds == 20 + 6 * 5
    assert "→ 6 epochs" in plan.describe()
    with pytest.raises(MnistlabError, match="does not fit one epoch .* give at least 5 min 09 s"):
        budget.plan(60, spent=30, step_seconds=1.0, steps_per_epoch=235, test_seconds=20,
                    val_seconds=5)  # fmt: skip


def test_epochs_and_budget_together_are_refused():
    with pytest.raises(MnistlabError, match="--epochs or --budget, not both"):
        train(TrainConfig(model="fast", epochs=2, budget=60))


@pytest.mark.slow
def test_a_budgeted_run_records_its_plan_resumes_it_and_is_the_plain_run_of_that_length(
    tmp_path, capsys, monkeypatch
):
    # The probe really trains a copy of the model (the weights check below proves it touched
    # nothing), but reports steps of 0.25 s, as on a machine 50 times slower than this one:
    # the plan then holds a few epochs that take a second here, on whatever CPU runs the test.
    probe = budget.time_steps

    def slow_machine(*args) -> float:
        probe(*args)
        return 0.25

    monkeypatch.setattr(budget, "time_steps", slow_machine)
    quick = dict(model="mlp", train_limit=1024, val_size=500)
    out = tmp_path / "budgeted"
    interrupted(out, budget=30.0, **quick)  # 8 steps of 0.25 s: 2 s per epoch
    assert "250 ms per step measured here, 8 steps per epoch" in capsys.readouterr().err
    config = runs.load_config(out)
    plan = config["budget_plan"]
    assert config["budget"] == 30.0 and config["epochs"] == plan["epochs"] >= 2
    assert plan["epochs"] * 2 <= 30 * (1 - budget.MARGIN) - plan["spent_seconds"]
    monkeypatch.setattr(budget, "time_steps", lambda *args: pytest.fail("measured again"))
    resumed = train(TrainConfig(out=str(out), resume=True))  # keeps the plan, measures nothing
    assert len(resumed.history) == plan["epochs"]
    plain = train(TrainConfig(out=str(tmp_path / "plain"), epochs=plan["epochs"], **quick))
    assert weights(plain) == weights(resumed)  # timing the probe steps changed nothing


def test_smaller_images_first_buy_more_epochs_priced_by_their_pixels():
    # Steps measured at 14×14 and 28×28; a quarter of the pixels costs a quarter here, so each
    # epoch's cost is (side / 28)² of a full one, whatever sizes the schedule gives it.
    plain = budget.plan(1800, spent=30, step_seconds=1.0, steps_per_epoch=235, test_seconds=20,
                        val_seconds=0)  # fmt: skip
    grown = budget.plan(1800, spent=30, step_seconds=1.0, steps_per_epoch=235, test_seconds=20,
                        val_seconds=0, grow_from=14, small_step_seconds=0.25)  # fmt: skip

    def cost(epochs: int) -> float:
        return sum(235 * (loop.grown_size(14, e, epochs) / 28) ** 2 for e in range(1, epochs + 1))

    free = 1800 * (1 - budget.MARGIN) - 30 - 20
    assert cost(grown.epochs) <= free < cost(grown.epochs + 1)
    assert grown.epochs > plain.epochs == 6
    assert grown.train_seconds == pytest.approx(cost(grown.epochs))
    assert "(250 ms on the first, smaller images)" in grown.describe()


def test_progressive_resizing_grows_to_full_size_and_ends_there():
    assert [loop.grown_size(0, e, 4) for e in range(1, 5)] == [28] * 4
    assert loop.grown_size(16, 1, 1) == 28  # a one-epoch run trains at the size it is tested at
    sizes = [loop.grown_size(16, e, 20) for e in range(1, 21)]
    assert sizes[0] == 16 and sizes == sorted(sizes) and all(s % 2 == 0 for s in sizes)
    assert sizes[14:] == [28] * 6 and max(sizes[:12]) < 28  # full size from 3/4 of the run
