"""The `best` model: its layers, flip averaging, per-dataset recipe, a floor, exact resume."""

from pathlib import Path

import numpy as np
import pytest
import torch

from mnistlab import runs
from mnistlab.data import load_dataset
from mnistlab.evaluation.evaluate import evaluate_run
from mnistlab.evaluation.report import write_report
from mnistlab.models import build_model
from mnistlab.models.best import translate
from mnistlab.training.run import TrainConfig, train
from train_helpers import reloaded, straight_and_resumed, weights

# 2 epochs on 4,096 images, first 2,000 test images, measured on the Zen 5 (2026-12-02):
# seed 0 (the test's) 0.937 bf16, 0.932 fp32; seeds 1-2 0.933-0.959. On 5,120 images seed 0
# gave only 0.901-0.912 (seeds 1-2: 0.96): a few hundred steps are noisy, hence the margin.
# The float32 recipe (its first epoch on 16×16 images, Xeon AMX with --precision fp32,
# 2026-12-03): seed 0 0.923, seeds 1-2 0.929 and 0.866.
FLOOR = 0.85


def test_best_maps_unit_images_to_float32_logits_through_two_residual_blocks():
    model = build_model("best", mean=0.13, std=0.31)
    rows = model.summary()
    assert [r["output_shape"] for r in rows if r["layer"].startswith("Residual")] == [
        [64, 14, 14],
        [128, 7, 7],
    ]
    assert rows[-1]["output_shape"] == [10]
    assert sum(r["params"] for r in rows) == model.num_parameters()
    logits = model.net(torch.rand(5, 1, 28, 28))
    assert logits.dtype == torch.float32 and logits.shape == (5, 10)


def test_averaging_makes_an_image_and_its_mirror_score_the_same_in_eval_only():
    x = torch.rand(8, 1, 28, 28)
    plain = build_model("best", seed=1).net.eval()
    flips = build_model("best", seed=1, flip_tta=True).net.eval()
    both = build_model("best", seed=1, flip_tta=True, shift_tta=True).net.eval()
    with torch.no_grad():
        assert not torch.allclose(plain(x), plain(x.flip(-1)), atol=1e-3)
        for net in (flips, both):
            torch.testing.assert_close(net(x), net(x.flip(-1)), atol=1e-3, rtol=1e-3)
        expected = (plain(x).softmax(1) + plain(x.flip(-1)).softmax(1)) / 2
        torch.testing.assert_close(flips(x).exp(), expected)  # log of the mean probabilities
        moved = [translate(x, dy, dx) for dy, dx in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))]
        expected = sum(plain(v).softmax(1) + plain(v.flip(-1)).softmax(1) for v in moved) / 10
        torch.testing.assert_close(both(x).exp(), expected)
    both.train()  # training sees each (augmented) image once: no averaging
    torch.testing.assert_close(both(x), plain.train()(x))


@pytest.mark.slow
def test_best_briefly_on_an_mnist_subset_clears_a_floor_and_evaluates(tmp_path, small_test_split):
    small_test_split(2000)
    run = train(TrainConfig(model="best", train_limit=4096, epochs=2, out=str(tmp_path / "r")))
    assert run.metrics["accuracy"] >= FLOOR
    config = runs.load_config(run.dir)
    assert (config["rotate"], config["scale"], config["flip"]) == (10.0, 0.1, False)
    assert "flip_tta" not in config["model_args"]  # digits are not mirror-symmetric
    metrics = evaluate_run(run.dir)
    assert metrics["accuracy"] == pytest.approx(run.metrics["accuracy"])
    assert write_report(run.dir) == Path(run.dir) / "report.html"
    assert (Path(run.dir) / "report.html").exists()


@pytest.mark.slow
def test_fashion_gets_flips_erasing_and_flip_averaging_and_the_run_predicts_alike(
    tmp_path, small_test_split
):
    small_test_split(200)
    run = train(
        TrainConfig(model="best", dataset="fashion-mnist", train_limit=1024, epochs=1,
                    calibration_size=256, out=str(tmp_path / "f"))
    )  # fmt: skip
    config = runs.load_config(run.dir)
    assert config["flip"] and config["erase"] == 0.5
    assert config["model_args"]["flip_tta"] and config["model_args"]["shift_tta"]
    test = load_dataset("fashion-mnist", "test")
    model, proba = reloaded(run, test.images[:200])
    mirrored = model.predict_proba(test.images[:200, :, ::-1])
    np.testing.assert_allclose(proba, mirrored, atol=2e-3)


@pytest.mark.slow
def test_best_resumes_to_bit_identical_weights_with_augmentation(tmp_path, small_test_split):
    small_test_split(200)
    # Momentum buffers, batch-norm running statistics and the augmentation draws all carry over,
    # and the resumed second epoch trains at full size after a first one at 16×16.
    quick = dict(
        model="best",
        dataset="fashion-mnist",
        train_limit=512,
        epochs=2,
        grow_from=16,
        calibration_size=256,
    )  # a small split: each image is 10 averaged views
    straight, resumed = straight_and_resumed(tmp_path, **quick)
    assert weights(straight) == weights(resumed)


def test_progressive_resizing_feeds_the_schedule_s_sizes_and_the_net_takes_them():
    from mnistlab.training import loop
    from mnistlab.training.settings import settle
    from mnistlab.training.steps import make_stepper

    settings = settle(dict(model="best", grow_from=16, epochs=4, batch_size=32, shift=2))
    model = build_model("best", widths=(8, 8, 8))
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (64, 28, 28), np.uint8), rng.integers(0, 10, 64)
    seen: list[int] = []
    model.net.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[-1]))
    stepper = make_stepper(model, images, labels, settings, "cpu")
    for epoch in range(1, 5):
        for step in loop.epoch_steps(stepper, settings, len(labels), epoch, first_step=0):
            assert np.isfinite(float(step.loss))
    assert seen == [16, 16, 22, 22, 28, 28, 28, 28]  # two steps an epoch
    assert model.predict_proba(images[:4]).shape == (4, 10)  # tested at full size
