"""The from-scratch NumPy network: its gradients agree with finite differences and with torch
autograd, its optimizer with torch.optim.SGD, and it really learns MNIST."""

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits
from torch.optim.sgd import sgd as torch_sgd

from mnistlab.data import load_dataset
from mnistlab.errors import MnistlabError
from mnistlab.models import build_model
from mnistlab.models import numpy_net as nn
from mnistlab.training import loop
from mnistlab.training.run import TrainConfig, train
from mnistlab.training.settings import settle
from mnistlab.training.steps import make_stepper

ARCHS = [("relu", (5,)), ("sigmoid", (5,)), ("relu", (5, 4)), ("sigmoid", (5, 4))]


def tiny(activation="relu", hidden=(5,), seed=0):
    """A float64 net small enough to check every weight by finite differences, plus a batch."""
    net = nn.NumpyNet(hidden, activation, n_in=6, n_out=3, seed=seed, dtype=np.float64)
    for b in (v for k, v in net.params.items() if k.startswith("b")):
        b[...] = np.random.default_rng(seed + 1).normal(size=b.shape)  # non-zero biases
    rng = np.random.default_rng(seed + 2)
    return net, rng.random((4, 6)), rng.integers(0, 3, 4)


@pytest.mark.parametrize("activation,hidden", ARCHS)
def test_gradients_match_central_finite_differences(activation, hidden):
    net, x, y = tiny(activation, hidden)
    _, grads = net.loss_and_grads(x, y)
    eps = 1e-6
    for name, p in net.params.items():
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            plus, _ = net.loss_and_grads(x, y)
            p[i] = old - eps
            minus, _ = net.loss_and_grads(x, y)
            p[i] = old
            numeric[i] = (plus - minus) / (2 * eps)
        rel = np.linalg.norm(grads[name] - numeric) / (
            np.linalg.norm(grads[name]) + np.linalg.norm(numeric)
        )
        assert rel < 1e-6, f"{name}: relative error {rel:.2e}"


@pytest.mark.parametrize("activation,hidden", ARCHS)
def test_loss_and_gradients_match_torch_autograd(activation, hidden):
    net, x, y = tiny(activation, hidden, seed=3)
    loss, grads = net.loss_and_grads(x, y)

    tp = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    h = torch_logits(net, tp, torch.tensor(x))
    tloss = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    tloss.backward()

    assert abs(loss - tloss.item()) < 1e-12
    for k, g in grads.items():
        np.testing.assert_allclose(g, tp[k].grad.numpy(), rtol=1e-9, atol=1e-12)


def torch_logits(net, params, x):
    """The same network's logits in torch, from its weights `params` (tensors)."""
    mean, std = (float(net.buffers[k][0]) for k in ("input_mean", "input_std"))
    h = (x - mean) / std
    for i in range(1, net.n_layers + 1):
        h = h @ params[f"W{i}"] + params[f"b{i}"]
        if i < net.n_layers:
            h = torch.relu(h) if net.activation == "relu" else torch.sigmoid(h)
    return h


@pytest.mark.parametrize("activation,hidden", ARCHS)
@pytest.mark.parametrize("temperature", [1.0, 1.7])
def test_input_gradient_matches_torch_autograd(activation, hidden, temperature):
    """The pixels' gradient of the calibrated log-probability (what explanations show for the
    NumPy net) is the hand-written backward pass's, checked against autograd."""
    net, x, y = tiny(activation, hidden, seed=5)
    grad, logits = net.input_gradient(x, y, temperature)

    tx = torch.tensor(x, requires_grad=True)
    params = {k: torch.tensor(v) for k, v in net.params.items()}
    tlogits = torch_logits(net, params, tx)
    logp = torch.log_softmax(tlogits / temperature, dim=1)
    logp[torch.arange(len(y)), torch.tensor(y)].sum().backward()

    np.testing.assert_allclose(logits, tlogits.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_huge_logits_give_finite_probabilities_and_loss():
    net = nn.NumpyNet((8,), "sigmoid", seed=0)
    net.params["W2"] *= 1e6  # logits around ±1e6: exp() alone would overflow
    x = np.random.default_rng(0).random((5, 784), dtype=np.float32) * 1e3
    p = net.predict_proba(x)
    assert p.dtype == np.float32 and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    loss, grads = net.loss_and_grads(x, np.arange(5))
    assert np.isfinite(loss) and grads and all(np.isfinite(g).all() for g in grads.values())
    big = np.array([[1e30, 0.0, -1e30]], dtype=np.float32)
    np.testing.assert_array_equal(np.exp(nn.log_softmax(big)), [[1, 0, 0]])


def test_state_dict_round_trip_reproduces_predictions():
    a, b = nn.NumpyNet((16,), "relu", seed=0), nn.NumpyNet((16,), "relu", seed=1)
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    assert not np.array_equal(a.forward(x), b.forward(x))
    state = a.state_dict()
    assert set(state) == {"W1", "b1", "W2", "b2", "input_mean", "input_std"}
    b.load_state_dict(state)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    state["W1"][...] = 0  # the state dict is a copy, not a view on the weights
    assert a.params["W1"].any()


def test_load_state_dict_rejects_wrong_shapes_and_keys():
    net = nn.NumpyNet((16,), "relu")
    with pytest.raises(MnistlabError, match="W1 has shape"):
        net.load_state_dict(nn.NumpyNet((32,), "relu").state_dict())
    with pytest.raises(MnistlabError, match=r"missing \['W3', 'b3'\]"):
        nn.NumpyNet((16, 8), "relu").load_state_dict(net.state_dict())
    with pytest.raises(MnistlabError, match=r"unexpected \['extra'\]"):
        net.load_state_dict({**net.state_dict(), "extra": np.zeros(1)})


def test_num_parameters_and_bad_activation():
    assert nn.NumpyNet((512,), "relu").num_parameters() == 784 * 512 + 512 + 512 * 10 + 10
    with pytest.raises(MnistlabError, match="unknown activation 'tanh'"):
        nn.NumpyNet((16,), activation="tanh")


@pytest.mark.parametrize(
    "momentum,nesterov,wd", [(0, False, 0), (0.9, False, 0.01), (0.9, True, 0.01)]
)
def test_sgd_matches_torch_sgd(momentum, nesterov, wd):
    # torch.optim.sgd.sgd is the update inside torch.optim.SGD, without the optimizer class
    # (whose first step imports torch._dynamo: seconds, for nothing here).
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}
    tparams, buffers = [torch.tensor(v) for v in params.values()], [None, None]
    opt = nn.SGD(params, 0.1, momentum, nesterov, wd)
    for _ in range(3):
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        opt.step(grads)
        tgrads = [torch.tensor(g) for g in grads.values()]
        sgd = dict(weight_decay=wd, momentum=momentum, lr=0.1, dampening=0.0, nesterov=nesterov)
        torch_sgd(tparams, tgrads, buffers, foreach=False, maximize=False, **sgd)
    for p, t in zip(params.values(), tparams, strict=True):
        np.testing.assert_allclose(p, t.numpy(), rtol=1e-12)


def test_sgd_state_round_trip_continues_exactly():
    net, x, y = tiny("relu", (5, 4))
    opt = nn.SGD(net.params, 0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    for _ in range(3):
        opt.step(net.loss_and_grads(x, y)[1])
    saved_net, saved_opt = net.state_dict(), opt.state_dict()
    assert set(saved_opt) == {f"velocity.{k}" for k in net.params}
    for _ in range(2):
        opt.step(net.loss_and_grads(x, y)[1])

    resumed = tiny("relu", (5, 4), seed=9)[0]
    resumed.load_state_dict(saved_net)
    resumed_opt = nn.SGD(resumed.params, 0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    resumed_opt.load_state_dict(saved_opt)
    for _ in range(2):
        resumed_opt.step(resumed.loss_and_grads(x, y)[1])
    for k, p in net.params.items():
        np.testing.assert_array_equal(p, resumed.params[k])
    with pytest.raises(MnistlabError, match="optimizer state does not fit"):
        nn.SGD(resumed.params, 0.1).load_state_dict(saved_opt)


def test_a_full_batch_epoch_of_the_training_loop_is_one_gradient_step():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 32)
    settings = settle(dict(model="numpy", batch_size=0, epochs=1, lr=0.5, optimizer="sgd",
                    schedule="constant", hidden=[5], activation="sigmoid"))  # fmt: skip
    model = build_model("numpy", **settings.model_args)
    x = images.reshape(32, -1).astype(np.float32) / np.float32(255)
    loss_before, grads = model.net.loss_and_grads(x, labels)
    acc_before = (model.net.forward(x).argmax(axis=1) == labels).mean()
    expected = {k: p - 0.5 * grads[k] for k, p in model.net.params.items()}
    stepper = make_stepper(model, images, labels, settings, "cpu")
    steps = list(loop.epoch_steps(stepper, settings, len(labels), epoch=1, first_step=0))
    assert [(step.images, step.lr) for step in steps] == [(32, 0.5)]
    # measured before the step
    assert (steps[0].loss, steps[0].hits / 32) == pytest.approx((loss_before, acc_before))
    for k, p in model.net.params.items():
        np.testing.assert_allclose(p, expected[k], rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_learns_mnist_subset_and_same_seed_gives_same_weights(tmp_path):
    def trained(seed):
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        config = TrainConfig(model="numpy", train_limit=5000, epochs=2, seed=seed, out=str(out))
        # One BLAS thread: on shared cores, threads waiting on each other make it ~10x slower.
        with threadpool_limits(limits=1, user_api="blas"):
            return train(config)

    run = trained(seed=0)
    acc, loss = run.metrics["accuracy"], run.metrics["loss"]
    assert acc > 0.88, f"test accuracy {acc:.3f} after 2 epochs on 5,000 images"  # 0.925 (Zen 5)
    test = load_dataset("mnist", "test")
    probs = run.model.predict_proba(test.images)
    p_true = np.clip(probs[np.arange(len(test)), test.labels], 1e-7, 1)
    np.testing.assert_allclose(loss, -np.log(p_true).mean(), rtol=1e-4)
    assert acc == (probs.argmax(axis=1) == test.labels).mean()

    again = trained(seed=0)
    for k, p in run.model.net.params.items():
        np.testing.assert_array_equal(p, again.model.net.params[k])
    assert not np.array_equal(run.model.net.params["W1"], trained(seed=1).model.net.params["W1"])
