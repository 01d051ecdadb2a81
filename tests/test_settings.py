"""settle(), layer by layer, and the one list of hyper-parameters.

A run's Settings come from layers, each over the one before: the values every model shares
(COMMON), the model's recipe (models.MODELS), its per-dataset values, its per-compute-path
values, what the user gave, and, when resuming, what the run saved. Each table below holds one
layer's cases. No training and no data files: settle() reads only the registries. The tests
of TrainConfig and the `train` flags import torch (training.run does); the tables do not.
"""

import dataclasses
import inspect
import logging
import typing
from dataclasses import fields

import pytest

from mnistlab.data.load import DEFAULT_VAL_SIZE
from mnistlab.errors import MnistlabError
from mnistlab.models import MODELS
from mnistlab.training.settings import COMMON, GIVEN, HELP, Settings, settle

FIELDS = {f.name for f in fields(Settings)}


def case(about: str, given: dict, expected: dict, path: str = "fp32"):
    """One row: settle(given, path=path) holds `expected` (fields as config.json has them)."""
    return pytest.param(given, path, expected, id=about)


def settled(given: dict, saved: dict | None = None, path: str = "fp32") -> dict:
    return settle(given, saved, path).to_dict()


def assert_holds(settings: dict, expected: dict) -> None:
    for name, value in expected.items():
        assert settings[name] == value, f"{name}: {settings[name]!r}, expected {value!r}"


COMMON_CASES = [
    case("no model given: cnn on mnist", {}, dict(model="cnn", dataset="mnist")),
    case("validation split", {}, dict(val_size=DEFAULT_VAL_SIZE)),
    case("seed, limit, patience, budget", {},
         dict(seed=0, train_limit=0, patience=0, budget=0.0)),
    case("no penalty, no smoothing", dict(model="mlp"),
         dict(weight_decay=0.0, label_smoothing=0.0, betas=[0.9, 0.999])),
    case("no augmentation", dict(model="mlp"),
         dict(shift=0, rotate=0.0, scale=0.0, erase=0.0, flip=False, grow_from=0)),
]  # fmt: skip

RECIPE_CASES = [
    case("cnn's optimization", dict(model="cnn"),
         dict(epochs=10, batch_size=128, lr=1e-3, optimizer="adamw", schedule="cosine")),
    case("lenet5's weight decay over common's 0", dict(model="lenet5"),
         dict(weight_decay=5e-4, optimizer="nesterov", lr=0.05, batch_size=64)),
    case("fast's betas and validation split over common's", dict(model="fast"),
         dict(betas=[0.7, 0.9], val_size=0, label_smoothing=0.1, schedule="onecycle")),
    case("best's augmentation", dict(model="best"),
         dict(shift=2, rotate=10.0, scale=0.1, erase=0.0, flip=False, epochs=30)),
    case("numpy's builder arguments", dict(model="numpy"),
         dict(model_args={"hidden": [256], "activation": "relu"}, optimizer="nesterov")),
    case("the recipe names itself", dict(model="lenet5"), dict(recipe="lenet5")),
]  # fmt: skip

PER_DATASET_CASES = [
    case("cnn shifts digits", dict(model="cnn"), dict(shift=2)),
    case("cnn does not shift clothes", dict(model="cnn", dataset="fashion-mnist"),
         dict(shift=0, dataset="fashion-mnist")),
    case("mlp has no per-dataset values", dict(model="mlp", dataset="fashion-mnist"),
         dict(shift=0)),
    case("best on clothes: flips and erasing, no rotation",
         dict(model="best", dataset="fashion-mnist"),
         dict(rotate=0.0, scale=0.05, erase=0.5, flip=True, shift=2)),
    case("best on clothes: flip averaging", dict(model="best", dataset="fashion-mnist"),
         dict(model_args={"flip_tta": True, "shift_tta": True}), path="bf16"),
]  # fmt: skip

PER_PATH_CASES = [
    case("fast on bf16: its recipe as it is", dict(model="fast"),
         dict(precision="bf16", recipe="fast", model_args={}), path="bf16"),
    case("fast on fp32: the narrower net", dict(model="fast"),
         dict(precision="fp32", recipe="fast/fp32",
              model_args={"widths": [16, 48], "dense": 128, "whitened_stem": True, "crop": 2})),
    case("best on fp32: progressive resizing", dict(model="best"),
         dict(precision="fp32", recipe="best/fp32", grow_from=16,
              model_args={"widen_after_pool": True})),
    case("best on bf16: full size throughout", dict(model="best"),
         dict(precision="bf16", recipe="best", grow_from=0, model_args={}), path="bf16"),
    case("per path over per dataset: both builder arguments",
         dict(model="best", dataset="fashion-mnist"),
         dict(grow_from=16, erase=0.5, model_args={
             "flip_tta": True, "shift_tta": True, "widen_after_pool": True})),
    case("a model without bf16 computes in fp32", dict(model="cnn"),
         dict(precision="fp32", recipe="cnn"), path="bf16"),
]  # fmt: skip

GIVEN_CASES = [
    case("over the recipe", dict(model="cnn", lr=3e-3, epochs=2), dict(lr=3e-3, epochs=2)),
    case("over common", dict(model="mlp", seed=7, val_size=500), dict(seed=7, val_size=500)),
    case("0 over the per-dataset value", dict(model="cnn", shift=0), dict(shift=0)),
    case("over the per-path value", dict(model="best", grow_from=0), dict(grow_from=0)),
    case("betas as numbers", dict(model="mlp", betas=["0.8", 0.99]), dict(betas=[0.8, 0.99])),
    case("a builder argument over the recipe's", dict(model="numpy", hidden=("64", 32)),
         dict(model_args={"hidden": [64, 32], "activation": "relu"})),
    case("the other builder argument", dict(model="numpy", activation="sigmoid"),
         dict(model_args={"hidden": [256], "activation": "sigmoid"})),
    case("None is not given", dict(model=None, lr=None, seed=None),
         dict(model="cnn", lr=1e-3, seed=0)),
    case("the dataset picks the per-dataset layer", dict(model="best", dataset="fashion-mnist",
                                                       erase=0.0), dict(erase=0.0, flip=True)),
]  # fmt: skip


LAYERS_CASES = {"common": COMMON_CASES, "recipe": RECIPE_CASES, "per dataset": PER_DATASET_CASES,
                "per path": PER_PATH_CASES, "given": GIVEN_CASES}  # fmt: skip
LAYERED_CASES = [  # each layer of settle() over the ones before it
    pytest.param(layer, *c.values, id=f"{layer}: {c.id}")
    for layer, cases in LAYERS_CASES.items()
    for c in cases
]


@pytest.mark.parametrize(("layer", "given", "path", "expected"), LAYERED_CASES)
def test_each_layer_of_settle(layer, given, path, expected):
    assert_holds(settled(given, path=path), expected)


LAYERS = ("recipe", "per dataset", "per path", "given", "saved")  # each over the ones before


@pytest.mark.parametrize(
    "layers",
    [(), ("recipe",), ("per dataset",), ("per path",), ("recipe", "per dataset"),
     ("per dataset", "per path"), ("recipe", "per dataset", "per path"),
     ("recipe", "per dataset", "per path", "given"), ("per path", "given"),
     ("recipe", "per dataset", "per path", "saved"), ("given",), ("saved",)],
    ids=lambda layers: " > ".join(("common", *layers)),
)  # fmt: skip
def test_each_layer_wins_over_the_ones_before(monkeypatch, layers):
    """A recipe whose layers all set weight_decay and builder arguments: the last layer that
    sets a value gives it; builder arguments merge key by key, or come from the saved run."""
    value = {layer: 0.1 * (i + 1) for i, layer in enumerate(LAYERS)}
    recipe = {layer: {"weight_decay": value[layer], "model_args": {layer: True, "last": layer}}
              for layer in LAYERS[:3] if layer in layers}  # fmt: skip
    fast = MODELS["fast"]
    monkeypatch.setitem(MODELS, "fast", dataclasses.replace(
        fast, defaults={**fast.defaults, **recipe.get("recipe", {})},
        per_dataset={"mnist": recipe.get("per dataset", {}), "fashion-mnist": {"erase": 0.9}},
        per_precision={"fp32": recipe.get("per path", {}), "bf16": {"weight_decay": 0.9}},
    ))  # fmt: skip
    saved = None
    if "saved" in layers:
        saved = {**settled(dict(model="fast")), "weight_decay": value["saved"],
                 "model_args": {"saved": True}}  # fmt: skip
    given = dict(model="fast") | ({"weight_decay": value["given"]} if "given" in layers else {})
    settings = settle(given, saved, path="fp32")
    assert settings.weight_decay == (value[layers[-1]] if layers else COMMON["weight_decay"])
    model_args = {k: v for layer in recipe.values() for k, v in layer["model_args"].items()}
    assert settings.model_args == ({"saved": True} if saved else model_args)
    assert settings.erase == 0.0  # another dataset's layer, and another path's, stay out


PIXELS = {"mean": 0.1307, "std": 0.3081}  # what train() adds to a new run's model_args
PLAN = {"epochs": 7, "budget": 60.0}


def saved_run(began: dict, changes: dict) -> dict:
    """config.json of a run that settle(began) started: the settled values, its builder
    arguments with the pixel statistics, what else the run folder records; then `changes`
    (what training set, or None: a field an older config.json lacks)."""
    settings = settle(began)
    config = {
        **settings.to_dict(),
        "model_args": {**settings.model_args, **PIXELS},
        "classes": list("0123456789"),
        "device": "cpu",
        "versions": {},
        **changes,
    }
    return {k: v for k, v in config.items() if v is not None}


CNN = dict(model="cnn", lr=0.123, epochs=3, seed=5, shift=1)  # runs that began so
NUMPY = dict(model="numpy", hidden=(64,), optimizer="sgd")
FAST = dict(model="fast", epochs=2)
NUMPY_ARGS = {"hidden": [64], "activation": "relu", **PIXELS}

RESUMED_CASES = [
    pytest.param(CNN, {}, {}, dict(lr=0.123, epochs=3, seed=5, shift=1, model="cnn"),
                 id="keeps its saved values over the recipe's"),
    pytest.param(CNN, {}, dict(lr=0.123, model="cnn"), dict(lr=0.123),
                 id="a given value equal to the saved one"),
    pytest.param(CNN, {}, dict(model=None, lr=None), dict(lr=0.123), id="None is not given"),
    pytest.param(NUMPY, {}, {}, dict(model_args=NUMPY_ARGS, optimizer="sgd"),
                 id="keeps its builder arguments and pixel statistics"),
    pytest.param(NUMPY, {}, dict(hidden=(64,)), dict(model_args=NUMPY_ARGS),
                 id="a given builder argument equal to the saved one"),
    pytest.param(FAST, {}, dict(betas=(0.7, 0.9)), dict(betas=[0.7, 0.9]),
                 id="betas saved as a list, given as numbers"),
    pytest.param(dict(model="mlp", budget=60.0), {"epochs": 7, "budget_plan": PLAN}, {},
                 dict(epochs=7, budget=60.0, budget_plan=PLAN),
                 id="keeps the epochs its budget planned"),
    pytest.param(CNN, {"grow_from": None, "label_smoothing": None}, {},
                 dict(grow_from=0, label_smoothing=0.0, lr=0.123),
                 id="a field an older run lacks: the recipe's"),
]  # fmt: skip


@pytest.mark.parametrize(("began", "changes", "given", "expected"), RESUMED_CASES)
def test_a_resumed_run_keeps_what_it_saved(began, changes, given, expected):
    assert_holds(settled(given, saved_run(began, changes)), expected)


@pytest.mark.parametrize(
    ("began", "given", "message"),
    [
        (CNN, dict(lr=0.5), "cannot resume: lr is 0.5 here but 0.123 in the saved run"),
        (CNN, dict(model="mlp"), "cannot resume: model is mlp here but cnn"),
        (CNN, dict(shift=0), "cannot resume: shift is 0 here but 1"),
        (CNN, dict(budget=60.0), "cannot resume: budget is 60.0 here but 0.0"),
        (NUMPY, dict(hidden=(128,)), "cannot resume: hidden is [128] here but [64]"),
        (NUMPY, dict(activation="sigmoid"), "activation is sigmoid here but relu"),
        (FAST, dict(betas=(0.9, 0.999)), "betas is (0.9, 0.999) here but (0.7, 0.9)"),
    ],
    ids=["lr", "model", "shift", "budget", "hidden", "activation", "betas"],
)  # fmt: skip
def test_a_resumed_run_refuses_a_different_value(began, given, message):
    with pytest.raises(MnistlabError) as e:
        settle(given, saved_run(began, {}))
    assert message in str(e.value)
    assert "drop that setting or start a new run" in str(e.value)


@pytest.mark.parametrize(
    ("saved", "asked", "environment", "expected"),
    [
        (None, None, None, None),  # a new run: as asked (None: the environment's, else auto)
        (None, "fp32", None, "fp32"),
        ({"model": "fast", "precision": "bf16"}, None, None, "bf16"),
        ({"model": "fast", "precision": "bf16"}, "auto", None, "bf16"),
        ({"model": "fast", "precision": "fp32"}, None, "bf16", "refused"),
        ({"model": "fast", "precision": "bf16"}, "fp32", None, "refused"),
        ({"model": "best"}, "bf16", None, "refused"),  # saved before the bf16 path: fp32
        ({"model": "cnn", "precision": "fp32"}, "bf16", None, "bf16"),
    ],
    ids=["new run: as asked", "new run: fp32 asked", "resumed: the saved path",
         "resumed: auto is the saved path", "resumed: the environment's other path",
         "resumed: the other path asked", "resumed: saved before bf16",
         "resumed: no bf16 path to keep"],
)  # fmt: skip
def test_a_resumed_run_keeps_its_compute_path(monkeypatch, saved, asked, environment, expected):
    from mnistlab.precision import ENV
    from mnistlab.training.run import _precision_mode

    monkeypatch.delenv(ENV, raising=False)
    if environment is not None:
        monkeypatch.setenv(ENV, environment)
    if expected != "refused":
        assert _precision_mode(asked, saved) == expected
        return
    with pytest.raises(MnistlabError, match="cannot resume: this run computed in"):
        _precision_mode(asked, saved)


RENAMED = "is now called {new}; the old name goes in 0.3"


@pytest.mark.parametrize(
    ("optimizer", "expected", "warned"),
    [("momentum", "nesterov", True), ("nesterov", "nesterov", False), ("sgd", "sgd", False)],
)
def test_the_old_optimizer_name_still_works_with_a_warning(caplog, optimizer, expected, warned):
    with caplog.at_level(logging.WARNING):
        settings = settle(dict(model="lenet5", optimizer=optimizer))
    assert settings.optimizer == expected
    message = "--optimizer momentum " + RENAMED.format(new="nesterov")
    assert (message in caplog.text) == warned, caplog.text


def train_flags() -> dict[str, inspect.Parameter]:
    from mnistlab.cli.train import train_cmd

    return dict(inspect.signature(train_cmd, eval_str=True).parameters)


@pytest.mark.parametrize(
    ("augment", "shift", "expected", "warned"),
    [(3, None, 3, True), (None, 2, 2, False), (3, 2, 2, True), (None, None, None, False)],
)
def test_the_old_augment_flag_is_shift_with_a_warning(caplog, augment, shift, expected, warned):
    from mnistlab.cli.train import train_config

    options = {name: p.default for name, p in train_flags().items()}
    with caplog.at_level(logging.WARNING):
        config = train_config({**options, "augment": augment, "shift": shift})
    assert config.shift == expected
    assert ("--augment " + RENAMED.format(new="--shift") in caplog.text) == warned, caplog.text


# The one list of hyper-parameters is Settings. TrainConfig repeats its fields (None: not
# given) so that they stay typed, and `mnistlab train` declares a flag for each (in the order
# --help shows them, with the field's help); the tests below fail, naming the field, when the
# three disagree. What is not a Settings field is listed here.
BUILDER_ARGS = {"hidden", "activation"}  # TrainConfig fields and flags that go to model_args
TEXT_FLAGS = {"betas": "0.9,0.999", "budget": "30m"}  # flags whose text train_config converts
OWN_HELP = {"budget"}  # a wall time (30m), where the field holds seconds
NOT_SETTINGS = {  # train's flags that set no hyper-parameter: how, where, how many runs
    "seeds", "nproc", "threads", "device", "precision", "out_dir", "resume", "from_run",
    "log_every", "data_dir", "json_out", "reject_outliers",
    "augment",  # 0.1's --shift (test_the_old_augment_flag_is_shift_with_a_warning)
}  # fmt: skip


@pytest.mark.parametrize("name", GIVEN)
def test_each_hyper_parameter_is_a_train_config_field_and_a_train_flag(name):
    from mnistlab.training.run import RUN_FIELDS, TrainConfig

    wanted = typing.get_type_hints(Settings)[name] | None
    assert name in RUN_FIELDS, f"Settings.{name} has no TrainConfig field (training/run.py)"
    assert typing.get_type_hints(TrainConfig)[name] == wanted, f"TrainConfig.{name} is not {wanted}"
    flags = train_flags()
    assert name in flags, f"Settings.{name} has no `mnistlab train` flag (cli/train.py)"
    flag_type, option = typing.get_args(flags[name].annotation)
    text = str | None if name in TEXT_FLAGS else wanted
    assert flag_type == text, f"--{name.replace('_', '-')} takes {flag_type}, not {text}"
    if name not in OWN_HELP:
        assert option.help.startswith(HELP[name]), f"--{name.replace('_', '-')}: not its help"


def test_train_config_and_the_train_flags_hold_no_other_hyper_parameter():
    from mnistlab.training.run import HOW_FIELDS, RUN_FIELDS

    others = sorted(set(RUN_FIELDS) - set(GIVEN) - BUILDER_ARGS)
    assert not others, f"TrainConfig fields that are no Settings field: {others}"
    others = sorted(set(train_flags()) - set(GIVEN) - BUILDER_ARGS - NOT_SETTINGS)
    assert not others, f"`mnistlab train` flags that are no Settings field: {others}"
    reached = set(train_flags()) - {"out_dir"} | {"out"}  # --out fills TrainConfig.out
    unreached = sorted(set(HOW_FIELDS) - reached)
    assert not unreached, f"TrainConfig fields that no `mnistlab train` flag fills: {unreached}"


@pytest.mark.parametrize("name", sorted(BUILDER_ARGS))
def test_each_builder_flag_is_some_recipes_builder_argument(name):
    from mnistlab.training.run import RUN_FIELDS

    takers = [m for m, spec in MODELS.items() if name in spec.defaults.get("model_args", {})]
    assert takers, f"--{name} is no model's builder argument"
    assert name in RUN_FIELDS and name in train_flags() and name not in FIELDS


def test_common_and_every_recipe_name_settings_fields():
    assert set(COMMON) <= set(GIVEN), set(COMMON) - set(GIVEN)
    for model, spec in MODELS.items():
        layers = (spec.defaults, *spec.per_dataset.values(), *spec.per_precision.values())
        for layer in layers:
            unknown = set(layer) - set(GIVEN) - {"model_args"}
            assert not unknown, f"{model}'s recipe sets {sorted(unknown)}: no Settings field"


def test_the_values_train_config_converts_reach_train_config():
    from mnistlab.cli.train import train_config

    options = {name: p.default for name, p in train_flags().items()}
    config = train_config({**options, **TEXT_FLAGS, "hidden": "64,32", "out_dir": "r"})
    assert (config.betas, config.budget, config.hidden, config.out) == (
        (0.9, 0.999), 1800.0, (64, 32), "r")  # fmt: skip
