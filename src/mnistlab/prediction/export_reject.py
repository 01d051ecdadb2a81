"""The reject score inside an exported graph: mnistlab.models.reject.RejectRule.score as ONNX
nodes, so any runtime answers "not like any training image" as Classifier does, with the
threshold in the file's metadata (prediction/export.py)."""

from __future__ import annotations

import numpy as np

from mnistlab.models.reject import POOL


def add_score(proto, arrays: dict[str, np.ndarray], features: str, logits: str,
              maps: str | None, probabilities: str, images: str, score: str
              ) -> None:  # fmt: skip
    """Append the nodes that compute `score` (N,) from the graph's tensors named `features`
    (penultimate activations), `logits`, `maps` (the pooled convolutional map; None for a
    network without one), `probabilities` (calibrated) and `images` (the input); `features`,
    `logits` and `maps` stop being outputs of the file."""
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    d = arrays["whiten"].shape[0]
    w2 = arrays["W2"][:, 1] - arrays["W2"][:, 0]  # the log-odds: out[1] - out[0]
    b2 = arrays["b2"][1] - arrays["b2"][0]
    constants = {
        "r_feature_mean": arrays["feature_mean"], "r_whiten": arrays["whiten"],
        "r_class_means": arrays["class_means"][None], "r_sqrt_d": np.sqrt(d),
        "r_eps": 1e-6, "r_ten": 10.0, "r_input_mean": arrays["input_mean"],
        "r_input_std": arrays["input_std"], "r_w1": arrays["W1"], "r_b1": arrays["b1"],
        "r_w2": w2[:, None], "r_b2": b2, "r_d": float(d),
    }  # fmt: skip
    graph.initializer.extend(
        numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in constants.items()
    )
    ints = {"r_axis1": [1], "r_axis2": [2], "r_k2": [2], "r_first": [0], "r_second": [1],
            "r_end1": [1], "r_end2": [2]}  # fmt: skip
    graph.initializer.extend(
        numpy_helper.from_array(np.array(v, np.int64), k) for k, v in ints.items()
    )
    # A rule fitted before it read the map (no map_width) leaves it out, as RejectRule does.
    width = int(np.asarray(arrays.get("map_width", [0])).ravel()[0])
    read_maps = [maps] if maps is not None and width else []
    node = helper.make_node
    graph.node.extend([
        node("Sub", [features, "r_feature_mean"], ["r_centred"]),
        node("MatMul", ["r_centred", "r_whiten"], ["r_z"]),
        node("Unsqueeze", ["r_z", "r_axis1"], ["r_z3"]),
        node("Sub", ["r_z3", "r_class_means"], ["r_diff"]),
        node("Mul", ["r_diff", "r_diff"], ["r_sq"]),
        node("ReduceSum", ["r_sq", "r_axis2"], ["r_dist"], keepdims=0),
        node("ReduceMin", ["r_dist", "r_axis1"], ["r_dmin"], keepdims=1),
        node("Div", ["r_dmin", "r_d"], ["r_dmean"]),
        node("Add", ["r_dmean", "r_eps"], ["r_dpos"]),
        node("Log", ["r_dpos"], ["r_logd"]),
        node("ReduceLogSumExp", [logits, "r_axis1"], ["r_lse"], keepdims=1),
        node("Neg", ["r_lse"], ["r_energy"]),
        node("Div", ["r_energy", "r_ten"], ["r_energy10"]),
        node("TopK", [probabilities, "r_k2"], ["r_top2", "r_top2_index"], axis=1),
        node("Slice", ["r_top2", "r_first", "r_end1", "r_axis1"], ["r_top"]),
        node("Slice", ["r_top2", "r_second", "r_end2", "r_axis1"], ["r_next"]),
        node("Sub", ["r_top", "r_next"], ["r_margin"]),
        node("Div", ["r_z", "r_sqrt_d"], ["r_zs"]),
        node("AveragePool", [images], ["r_pooled4"], kernel_shape=[POOL, POOL],
             strides=[POOL, POOL]),
        node("Flatten", ["r_pooled4"], ["r_pooled"], axis=1),
        node("Concat", ["r_zs", "r_logd", "r_energy10", "r_top", "r_margin", *read_maps,
                        "r_pooled"], ["r_x"], axis=1),
        node("Sub", ["r_x", "r_input_mean"], ["r_xc"]),
        node("Div", ["r_xc", "r_input_std"], ["r_xs"]),
        node("MatMul", ["r_xs", "r_w1"], ["r_h1"]),
        node("Add", ["r_h1", "r_b1"], ["r_h1b"]),
        node("Relu", ["r_h1b"], ["r_h"]),
        node("MatMul", ["r_h", "r_w2"], ["r_out"]),
        node("Add", ["r_out", "r_b2"], ["r_out_b"]),
        node("Flatten", ["r_out_b"], ["r_out2"], axis=0),
        node("Squeeze", ["r_out2", "r_first"], [score]),
    ])  # fmt: skip
    keep = [o for o in graph.output if o.name not in (features, logits, maps)]
    del graph.output[:]
    graph.output.extend(keep)
    graph.output.append(helper.make_tensor_value_info(score, TensorProto.FLOAT, ["batch"]))
