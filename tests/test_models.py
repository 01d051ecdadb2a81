"""Model registry, shapes, parameter counts and the Keras-like summary."""

import numpy as np
import pytest
import torch

from mnistlab.errors import MnistlabError
from mnistlab.models import MODEL_NAMES, build_model

TORCH_MODELS = [n for n in MODEL_NAMES if n != "numpy"]


def test_cnn_has_the_tutorials_parameter_count():
    assert build_model("cnn").num_parameters() == 1_387_434


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_nets_map_images_to_ten_logits(name):
    net = build_model(name).net
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_summary_totals_equal_the_parameter_count(name):
    model = build_model(name)
    rows = model.summary()
    assert sum(r["params"] for r in rows) == model.num_parameters()
    assert rows[-1]["output_shape"] == [10]
    assert all(set(r) == {"layer", "output_shape", "params"} for r in rows)


def test_lenet5_follows_the_paper_shapes():
    shapes = {r["layer"]: r["output_shape"] for r in build_model("lenet5").summary()}
    assert shapes["ZeroPad2d((2, 2, 2, 2))"] == [1, 32, 32]  # 28×28 padded to the paper's 32×32
    assert shapes["Conv2d(1 → 6, 5×5)"] == [6, 28, 28]  # C1
    assert shapes["Subsample(6)"] == [6, 14, 14]  # S2
    assert shapes["Conv2d(6 → 16, 5×5)"] == [16, 10, 10]  # C3
    assert shapes["Subsample(16)"] == [16, 5, 5]  # S4
    assert shapes["Conv2d(16 → 120, 5×5)"] == [120, 1, 1]  # C5
    assert shapes["Linear(120 → 84)"] == [84]  # F6


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_predict_proba_takes_uint8_or_unit_floats_and_returns_probabilities(name):
    model = build_model(name, mean=0.13, std=0.31)
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    p = model.predict_proba(images)
    assert p.dtype == np.float32 and p.shape == (5, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(model.predict_proba(images / np.float32(255)), p, atol=1e-5)


def test_normalization_lives_inside_the_model():
    plain, shifted = build_model("mlp", seed=1), build_model("mlp", seed=1, mean=0.5, std=0.25)
    x = np.full((1, 28, 28), 0.5, dtype=np.float32)
    # A pixel equal to the mean reaches the first layer as 0: only the biases act.
    first = shifted.net[2]
    expected = torch.softmax(shifted.net[3:](first.bias[None]), 1).detach().numpy()
    np.testing.assert_allclose(shifted.predict_proba(x), expected, rtol=1e-5)
    assert not np.allclose(plain.predict_proba(x), expected)


def test_same_seed_same_weights():
    a, b = build_model("cnn", seed=3).net, build_model("cnn", seed=3).net
    pairs = list(zip(a.parameters(), b.parameters(), strict=True))
    assert pairs and all(torch.equal(p, q) for p, q in pairs)
    assert not torch.equal(a[1].weight, build_model("cnn", seed=4).net[1].weight)


def test_bad_names_and_arguments_are_one_line_errors():
    with pytest.raises(MnistlabError, match="unknown model 'resnet'; choose one of numpy, mlp"):
        build_model("resnet")
    with pytest.raises(MnistlabError, match="model 'cnn' does not take"):
        build_model("cnn", hidden=[10])
