"""The precision switch: auto/bf16/fp32 from the flag or MNISTLAB_PRECISION, and what it does."""

import warnings

import pytest
import torch

from mnistlab import precision, runs
from mnistlab.errors import MnistlabError
from mnistlab.models import build_model
from mnistlab.training.run import TrainConfig, train
from train_helpers import interrupted

QUICK = dict(model="fast", train_limit=512, epochs=2)


@pytest.fixture(autouse=True)
def clean_mode(monkeypatch):
    monkeypatch.delenv(precision.ENV, raising=False)
    precision.use(None)
    yield
    precision.use(None)


def test_auto_follows_the_hardware_and_the_environment_or_use_overrides(monkeypatch):
    native = precision.native_bf16("cpu")
    assert precision.compute_path("cpu") == ("bf16" if native else "fp32")
    monkeypatch.setenv(precision.ENV, "FP32")
    assert precision.requested() == "fp32" and precision.compute_path("cpu") == "fp32"
    with precision.using("bf16"):
        assert precision.compute_path("cpu") == "bf16"
    assert precision.requested() == "fp32"  # using() restores what was there
    monkeypatch.setenv(precision.ENV, "half")
    with pytest.raises(MnistlabError, match="unknown MNISTLAB_PRECISION 'half'; choose one of"):
        precision.requested()


def test_forcing_bf16_where_it_is_emulated_warns_once(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device_type: False)
    precision._warn_emulated.cache_clear()
    precision.use("bf16")
    with pytest.warns(precision.EmulatedBf16Warning, match="emulated and slower"):
        assert precision.compute_path("cpu") == "bf16"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        precision.compute_path("cpu")  # once per process is enough
    assert precision.describe("cpu") == "bf16 (bf16, emulated bf16)"


def test_fp32_computes_exactly_what_a_float32_only_net_does():
    x = torch.rand(16, 1, 28, 28)
    for name in ("fast", "best"):
        net = build_model(name, seed=3).net.eval()
        plain = build_model(name, seed=3, bf16=False).net.eval()
        with torch.no_grad(), precision.using("fp32"):
            assert torch.equal(net(x), plain(x))
        with torch.no_grad(), precision.using("bf16"):
            assert (net(x) - plain(x)).abs().max() > 0  # autocast really switched on
            torch.testing.assert_close(net(x), plain(x), atol=0.1, rtol=0.1)


@pytest.mark.slow
def test_the_path_is_recorded_and_a_resume_keeps_it_or_refuses_another(tmp_path, capsys):
    out = tmp_path / "run"
    interrupted(out, precision="fp32", **QUICK)
    assert "precision fp32 (fp32)" in capsys.readouterr().err  # the training header
    assert runs.load_config(out)["precision"] == "fp32"
    with pytest.raises(MnistlabError, match="computed in fp32, and bf16 was asked; resume with"):
        train(TrainConfig(out=str(out), resume=True, precision="bf16"))
    run = train(TrainConfig(out=str(out), resume=True))  # auto: keeps the saved path
    assert run.config["precision"] == "fp32" and len(run.history) == 2
    cnn = train(TrainConfig(model="cnn", train_limit=256, epochs=1, precision="bf16",
                            out=str(tmp_path / "cnn")))  # fmt: skip
    assert cnn.config["precision"] == "fp32"  # cnn has no bf16 path: the record says so


def test_fasts_fp32_recipe_sees_the_central_24x24_through_a_fixed_whitened_stem(tmp_path):
    run = train(TrainConfig(precision="fp32", out=str(tmp_path / "run"), **QUICK))
    args = run.config["model_args"]
    assert (run.config["recipe"], args["widths"], args["crop"]) == ("fast/fp32", [16, 48], 2)
    model = runs.load_model(run.dir)
    dense = model.net[7]
    assert dense.in_features == 48 * 4 * 4  # 24×24 → 10×10 → 8×8 → pooled 4×4
    x = torch.rand(3, 1, 28, 28)
    framed = x.clone()
    framed[..., :2, :] = framed[..., -2:, :] = framed[..., :2] = framed[..., -2:] = 1.0
    with torch.no_grad():  # the outer 2 px are not seen; the inner ones are
        torch.testing.assert_close(model.net(framed), model.net(x))
        x[..., 14, 14] += 1.0
        assert not torch.allclose(model.net(framed), model.net(x))
