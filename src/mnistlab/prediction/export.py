"""A run's model as one ONNX file, and an onnxruntime model that predicts like `Model`.

The file is the whole model as `Model.predict_proba` computes it: the input standardization,
the network, the test-time averaging of `best` (it lives in the network's eval forward) and
the softmax. Its input `images` is float32 (N, 1, 28, 28) in [0, 1] with a dynamic batch
axis; its output `probabilities` is float32 (N, 10). Probabilities rather than logits, so
every runtime answers the same numbers without knowing how `best` averages its views.
`fast` and `best` are exported in float32 (their bf16 autocast is traced as float32), so the
file is the same on every machine. The NumPy network's graph is written directly with
`onnx.helper` from its weights (no torch); torch networks go through `torch.onnx.export`
(the dynamo exporter, onnxscript underneath).

The file's metadata names the run, the model, its classes and the sha256 of the
model.safetensors it came from, so `load_onnx_model` can tell whether RUN/model.onnx is
still the model of the run folder.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnistlab import atomic, precision, runs
from mnistlab.errors import MnistlabError
from mnistlab.models.calibration import EDGE, KEEP_TOP, Calibration
from mnistlab.models.model import PREDICT_BATCH, NumpyModel, as_unit_float, in_batches

if TYPE_CHECKING:
    import onnx

    from mnistlab.models import Model
    from mnistlab.models.numpy_net import NumpyNet

FORMATS = ("onnx",)
RUNTIMES = ("torch", "onnx")  # torch: the run's own Model (PyTorch, or NumPy for `numpy`)


def check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise MnistlabError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")


ONNX_FILE = "model.onnx"
INPUT, OUTPUT, SCORE = "images", "probabilities", "reject_score"
OPSET = 20  # what torch 2.13's exporter writes; onnxruntime ≥ 1.17 runs it
EXPORT_VERSION = "2"  # bump when the graph changes, so older files count as out of date
log = logging.getLogger(__name__)


def export_run(run_dir: str | Path, out: str | Path | None = None, fmt: str = "onnx") -> Path:
    """Write the run's model as ONNX to `out` (default RUN_DIR/model.onnx), atomically."""
    if fmt not in FORMATS:
        raise MnistlabError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    run_dir = Path(run_dir)
    path = Path(out) if out is not None else run_dir / ONNX_FILE
    data = onnx_bytes(run_dir)
    try:
        atomic.write_bytes(path, data)
    except OSError as e:
        raise MnistlabError(f"cannot write {path}: {e.strerror}") from None
    return path


def onnx_bytes(run_dir: str | Path) -> bytes:
    """The run's model as a serialized, checked ONNX model, with mnistlab metadata."""
    onnx = _require("onnx")
    config, model = runs.load_config(run_dir), runs.load_model(run_dir)
    calibrated, arrays = runs.load_calibration(run_dir), runs.load_reject(run_dir)
    scored = calibrated is not None and arrays is not None and "reject" in calibrated
    if isinstance(model, NumpyModel):
        proto = _numpy_proto(model.net)
    else:
        proto = _torch_proto(model, features=scored)
    metadata = _metadata(Path(run_dir), config, model)
    if calibrated is not None:
        found = Calibration.of(calibrated)
        _add_temperature(proto, found.temperature)
        metadata["mnistlab.temperature"] = repr(found.temperature)
        if found.top_map is not None:
            _add_top_map(proto, found.top_map, len(config["classes"]))
            metadata["mnistlab.top_map"] = json.dumps(list(found.top_map))
    if scored:
        from mnistlab.prediction import export_reject

        numpy = isinstance(model, NumpyModel)
        penultimate = _penultimate(model) if numpy else "features"
        export_reject.add_score(proto, arrays, penultimate, "logits", None if numpy else "maps",
                                OUTPUT, INPUT, SCORE)  # fmt: skip
        metadata["mnistlab.reject_threshold"] = repr(float(calibrated["reject"]["threshold"]))
        metadata["mnistlab.unsure_below"] = repr(float(calibrated["reject"]["unsure_below"]))
    onnx.helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _metadata(run_dir: Path, config: dict, model: Model) -> dict[str, str]:
    return {
        "mnistlab.export_version": EXPORT_VERSION,
        "mnistlab.run": run_dir.resolve().name,
        "mnistlab.dataset": str(config.get("dataset")),
        "mnistlab.model": model.name,
        "mnistlab.model_args": json.dumps(model.model_args, sort_keys=True),
        "mnistlab.classes": json.dumps(list(config["classes"])),
        "mnistlab.parameters": str(model.num_parameters()),
        "mnistlab.weights_sha256": runs.weights_sha256(run_dir),
        "mnistlab.calibration_sha256": calibration_sha256(run_dir),
        "mnistlab.output": "probabilities",
    }


def calibration_sha256(run_dir: Path) -> str:
    """The digest of the run's calibration files ("none" without them): an export holds the
    temperature, so a run calibrated again needs a new one."""
    import hashlib

    digest, found = hashlib.sha256(), False
    for name in (runs.CALIBRATION, runs.REJECT):
        path = Path(run_dir) / name
        if path.is_file():
            digest.update(path.read_bytes())
            found = True
    return digest.hexdigest() if found else "none"


def _add_temperature(proto: onnx.ModelProto, temperature: float) -> None:
    """Calibrate the graph's output in place: probabilities = softmax(log(max(p, 1e-38)) / T),
    as mnistlab.models.calibration.scaled computes it."""
    from onnx import helper, numpy_helper

    graph = proto.graph
    raw = "uncalibrated_probabilities"
    for node in graph.node:
        node.output[:] = [raw if name == OUTPUT else name for name in node.output]
    graph.initializer.extend([
        numpy_helper.from_array(np.array(1e-38, np.float32), "probability_floor"),
        numpy_helper.from_array(np.array(temperature, np.float32), "temperature"),
    ])  # fmt: skip
    graph.node.extend([
        helper.make_node("Max", [raw, "probability_floor"], ["floored"]),
        helper.make_node("Log", ["floored"], ["log_probabilities"]),
        helper.make_node("Div", ["log_probabilities", "temperature"], ["scaled_logits"]),
        helper.make_node("Softmax", ["scaled_logits"], [OUTPUT], axis=1),
    ])  # fmt: skip


def _add_top_map(proto: onnx.ModelProto, top_map: tuple[float, float, float], classes: int
                 ) -> None:  # fmt: skip
    """Map the graph's top probability in place, as mnistlab.models.calibration.top_mapped
    does: g = sigmoid(a ln c - b ln(1 - c) + d), kept above where the runner-up would tie,
    the other classes scaled by (1 - g) / (1 - c)."""
    from onnx import helper, numpy_helper

    graph = proto.graph
    before = "temperature_probabilities"
    for node in graph.node:
        node.output[:] = [before if name == OUTPUT else name for name in node.output]
    a, b, d = top_map
    constants = {"tm_a": a, "tm_b": b, "tm_d": d, "tm_one": 1.0, "tm_edge": EDGE,
                 "tm_high": 1 - EDGE, "tm_keep": float(KEEP_TOP)}  # fmt: skip
    graph.initializer.extend(
        [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in constants.items()]
        + [numpy_helper.from_array(np.array([2], np.int64), "tm_k"),
           numpy_helper.from_array(np.arange(classes, dtype=np.int64), "tm_classes")]
    )  # fmt: skip

    def node(op: str, inputs: list[str], output: str, **kw) -> onnx.NodeProto:
        return helper.make_node(op, inputs, [output], **kw)

    graph.node.extend([
        helper.make_node("TopK", [before, "tm_k"], ["tm_top2", "tm_index2"], axis=1),
        helper.make_node("Split", ["tm_top2"], ["tm_first", "tm_second"], axis=1, num_outputs=2),
        node("Clip", ["tm_first", "tm_edge", "tm_high"], "tm_c"),
        node("Log", ["tm_c"], "tm_log_c"),
        node("Sub", ["tm_one", "tm_c"], "tm_rest"),
        node("Log", ["tm_rest"], "tm_log_rest"),
        node("Mul", ["tm_a", "tm_log_c"], "tm_alog"),
        node("Mul", ["tm_b", "tm_log_rest"], "tm_blog"),
        node("Sub", ["tm_alog", "tm_blog"], "tm_z0"),
        node("Add", ["tm_z0", "tm_d"], "tm_z"),
        node("Sigmoid", ["tm_z"], "tm_g0"),
        node("Sub", ["tm_one", "tm_first"], "tm_left"),  # 1 - c, unclipped
        node("Add", ["tm_left", "tm_second"], "tm_tie_den"),
        node("Div", ["tm_second", "tm_tie_den"], "tm_tie"),
        node("Mul", ["tm_tie", "tm_keep"], "tm_floor"),
        node("Max", ["tm_g0", "tm_floor"], "tm_g1"),
        node("Min", ["tm_g1", "tm_one"], "tm_g"),
        node("Sub", ["tm_one", "tm_g"], "tm_gleft"),
        node("Max", ["tm_left", "tm_edge"], "tm_left_safe"),
        node("Div", ["tm_gleft", "tm_left_safe"], "tm_s"),
        node("Mul", [before, "tm_s"], "tm_others"),
        helper.make_node("Split", ["tm_index2"], ["tm_index", "tm_index_2nd"], axis=1,
                         num_outputs=2),  # fmt: skip
        node("Equal", ["tm_classes", "tm_index"], "tm_is_top"),
        node("Where", ["tm_is_top", "tm_g", "tm_others"], OUTPUT),
    ])  # fmt: skip


def _penultimate(model: NumpyModel) -> str:
    return f"h{model.net.n_layers - 1}"


def _torch_proto(model: Model, features: bool = False) -> onnx.ModelProto:
    """Trace the network in eval mode and float32, softmax appended, batch axis dynamic;
    with `features`, the penultimate activations, the logits and the pooled convolutional
    map are outputs too (as Model.look computes them), for the reject score."""
    import torch

    from mnistlab.models.torch_model import through

    _require("onnxscript")  # what torch's exporter builds the graph with

    class Probabilities(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net
            self.averaged = getattr(net, "flip_tta", False) or getattr(net, "shift_tta", False)

        def forward(self, images: torch.Tensor):
            if not features:
                return torch.softmax(self.net(images).float(), dim=1)
            h, logits, maps = (a.float() for a in through(self.net, images))
            proba = torch.softmax(self.net(images).float() if self.averaged else logits, dim=1)
            return (proba, h, logits, maps) if has_map else (proba, h, logits)

    wrapper = Probabilities(copy.deepcopy(model.net).cpu()).eval()  # the caller's stays as is
    example = (torch.rand(2, 1, 28, 28),)
    with torch.no_grad():
        has_map = through(wrapper.net, example[0])[2].shape[1] > 0
    names = [OUTPUT, "features", "logits", "maps"][: 4 if has_map else 3] if features else [OUTPUT]
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # "torchvision is not installed" notes, not for users
    try:
        with precision.using("fp32"), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's own deprecation notes
            program = torch.onnx.export(
                wrapper, example, None, dynamo=True, opset_version=OPSET, verbose=False,
                input_names=[INPUT],
                output_names=names,
                dynamic_shapes=({0: torch.export.Dim("batch")},),
            )  # fmt: skip
    finally:
        exporter_log.setLevel(level)
    return program.model_proto


def _numpy_proto(net: NumpyNet) -> onnx.ModelProto:
    """The from-scratch MLP as Flatten → standardize → (MatMul + Add → activation)… → Softmax."""
    from onnx import TensorProto, helper, numpy_helper

    arrays = {"input_mean": net.buffers["input_mean"], "input_std": net.buffers["input_std"]}
    nodes = [
        helper.make_node("Flatten", [INPUT], ["flat"], axis=1),
        helper.make_node("Sub", ["flat", "input_mean"], ["centred"]),
        helper.make_node("Div", ["centred", "input_std"], ["h0"]),
    ]
    activation = {"relu": "Relu", "sigmoid": "Sigmoid"}[net.activation]
    for i in range(1, net.n_layers + 1):
        arrays |= {f"W{i}": net.params[f"W{i}"], f"b{i}": net.params[f"b{i}"]}
        nodes += [
            helper.make_node("MatMul", [f"h{i - 1}", f"W{i}"], [f"z{i}"]),
            helper.make_node(
                "Add", [f"z{i}", f"b{i}"], [f"a{i}" if i < net.n_layers else "logits"]
            ),
        ]
        if i < net.n_layers:
            nodes.append(helper.make_node(activation, [f"a{i}"], [f"h{i}"]))
    nodes.append(helper.make_node("Softmax", ["logits"], [OUTPUT], axis=1))
    graph = helper.make_graph(
        nodes,
        "mnistlab_numpy",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", net.sizes[-1]])],
        [numpy_helper.from_array(np.asarray(a, np.float32), k) for k, a in arrays.items()],
    )
    opsets = [helper.make_opsetid("", OPSET)]
    # IR 10 (onnx 1.16): what onnxruntime releases of the last two years all read.
    return helper.make_model(graph, opset_imports=opsets, producer_name="mnistlab", ir_version=10)


class OnnxModel:
    """An exported model run by onnxruntime, with `Model.predict_proba`'s contract, so the
    code that predicts (Classifier, the server) never asks which runtime it holds."""

    def __init__(self, data: bytes | Path, threads: int | None = None) -> None:
        """`data`: a serialized model or a file. `threads`: onnxruntime's intra-op threads
        (None: OMP_NUM_THREADS when set, as for torch, else one per physical core)."""
        ort = _require("onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads if threads is not None else _omp_threads()
        options.inter_op_num_threads = 1  # one graph at a time; the ops are what run wide
        source = str(data) if isinstance(data, Path) else data
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own (Fail, InvalidGraph, NoSuchFile…)
            raise MnistlabError(f"onnxruntime cannot load the model: {e}") from None
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.name = self.metadata.get("mnistlab.model", "onnx")
        self.calibrated = "mnistlab.temperature" in self.metadata  # the graph scales already
        self.scored = SCORE in {o.name for o in self.session.get_outputs()}

    def predict_proba(self, images: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Class probabilities float32 (N, 10) for uint8 0..255 or float [0, 1] (N, 28, 28)."""

        def proba(x: np.ndarray) -> np.ndarray:
            return self.session.run([OUTPUT], {INPUT: x[:, None]})[0]

        return in_batches(proba, as_unit_float(images), batch_size)

    def predict_scored(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(calibrated probabilities, reject scores) from a file that computes both."""
        x = as_unit_float(images)
        if not len(x):
            return np.zeros((0, 10), np.float32), np.zeros(0, np.float32)
        proba, score = self.session.run([OUTPUT, SCORE], {INPUT: x[:, None]})
        return proba.astype(np.float32), score.astype(np.float32)

    def num_parameters(self) -> int:
        """The trained model's parameter count (the graph may have folded some together)."""
        return int(self.metadata.get("mnistlab.parameters", 0))


def load_onnx_model(
    run_dir: str | Path, threads: int | None = None, path: str | Path | None = None
) -> OnnxModel:
    """The run's model in onnxruntime: the file at `path` (default RUN_DIR/model.onnx) when
    it was exported from the run's current weights and model arguments, else a fresh export
    held in memory (the run folder is only read, never written)."""
    run_dir = Path(run_dir)
    _require("onnxruntime")  # before an export that would be thrown away
    path = Path(path) if path is not None else run_dir / ONNX_FILE
    if path.is_file():
        model = OnnxModel(path, threads)
        if _up_to_date(model.metadata, run_dir):
            return model
        log.info("%s is out of date for %s; exporting in memory (refresh it with "
                 "`mnistlab export %s`)", path, run_dir, run_dir)  # fmt: skip
    return OnnxModel(onnx_bytes(run_dir), threads)


def shared_file(run_dir: str | Path, folder: str | Path) -> Path:
    """An up-to-date export of the run that many processes can load: RUN_DIR/model.onnx if
    it is one, else a fresh export written into `folder`. The server makes it once, so its
    workers (and a restarted one) load a file instead of each exporting (seconds apiece)."""
    run_dir = Path(run_dir)
    onnx_module = _require("onnx")
    path = run_dir / ONNX_FILE
    if path.is_file():
        try:
            proto = onnx_module.load(path, load_external_data=False)
            metadata = {prop.key: prop.value for prop in proto.metadata_props}
        except Exception:  # whatever cannot be read is simply not up to date
            metadata = {}
        if _up_to_date(metadata, run_dir):
            return path
    return export_run(run_dir, Path(folder) / ONNX_FILE)


def _up_to_date(metadata: dict[str, str], run_dir: Path) -> bool:
    """Exported by this exporter from the run's weights, with the model arguments the run
    rebuilds its model with (the recipe's under config.json's: `best`'s averaging, say)."""
    from mnistlab.models import get_model_spec

    config = runs.load_config(run_dir)
    args = {**get_model_spec(config["model"]).defaults.get("model_args", {}),
            **config.get("model_args", {})}  # fmt: skip
    return (
        metadata.get("mnistlab.export_version") == EXPORT_VERSION
        and metadata.get("mnistlab.model") == config["model"]
        and metadata.get("mnistlab.model_args") == json.dumps(args, sort_keys=True)
        and metadata.get("mnistlab.weights_sha256") == runs.weights_sha256(run_dir)
        and metadata.get("mnistlab.calibration_sha256") == calibration_sha256(run_dir)
    )


def _omp_threads() -> int:
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() else 0  # 0: onnxruntime's default


def _require(module: str):
    """Import an optional runtime dependency, or say in one line how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MnistlabError(
            f"{module} is not installed; install it with `pip install {module}` "
            "(the project's dependencies include it), or use runtime torch"
        ) from None
