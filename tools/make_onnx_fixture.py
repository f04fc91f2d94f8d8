#!/usr/bin/env python3
"""Write testdata/model/: a small change network in the shape PyTorch exports (stacked dates,
Slice, Conv + BatchNormalization, MaxPool, ConvTranspose, a Resize whose size comes from
Shape/Slice/Concat, Pad, LeakyRelu, AveragePool, a two-class Softmax), its configuration, and
onnxruntime's outputs for fixed inputs, which tests/model.rs compares tuban's engine against.

Needs the `onnx` and `onnxruntime` Python packages (a development tool; the tests do not run
it): python3 -m venv /tmp/ort && /tmp/ort/bin/pip install onnx onnxruntime &&
/tmp/ort/bin/python tools/make_onnx_fixture.py
"""
import os
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "model")
rng = np.random.default_rng(42)


def w(name, *shape, scale=0.3):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


B = 3  # bands per date
inits = [
    w("w1", 8, B, 3, 3), w("b1", 8),
    numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "bn_s"), w("bn_b", 8),
    w("bn_m", 8, scale=0.1), numpy_helper.from_array(rng.uniform(0.5, 2.0, 8).astype(np.float32), "bn_v"),
    w("w2", 12, 8, 3, 3), w("b2", 12),
    w("wt", 12, 6, 2, 2), w("bt", 6),
    w("w3", 2, 6 + 8 + 8, 3, 3), w("b3", 2),
    w("bias_c", 1, 8, 1, 1),
    ints("s0", [0]), ints("s3", [B]), ints("s6", [2 * B]), ints("ax1", [1]),
    ints("i0", [0]), ints("i2", [2]), ints("i4", [4]),
    numpy_helper.from_array(np.array([], dtype=np.float32), "no_roi"),
    ints("pads", [0, 0, 0, 0, 0, 0, 1, 1]),
]
n = helper.make_node
nodes = [
    n("Slice", ["x", "s0", "s3", "ax1"], ["xa"], name="slice_before"),
    n("Slice", ["x", "s3", "s6", "ax1"], ["xb"], name="slice_after"),
]
for d in ("a", "b"):
    nodes += [
        n("Conv", [f"x{d}", "w1", "b1"], [f"c1{d}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name=f"conv1_{d}"),
        n("BatchNormalization", [f"c1{d}", "bn_s", "bn_b", "bn_m", "bn_v"], [f"n1{d}"], epsilon=1e-5, name=f"bn_{d}"),
        n("Relu", [f"n1{d}"], [f"f1{d}"], name=f"relu1_{d}"),
    ]
nodes += [
    n("Sub", ["f1a", "f1b"], ["d1"], name="sub"),
    n("Abs", ["d1"], ["a1"], name="abs"),
    n("Add", ["a1", "bias_c"], ["a1b"], name="add_bias"),
    n("MaxPool", ["a1b"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
    n("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[2, 2, 2, 2], dilations=[2, 2], name="conv2"),
    n("LeakyRelu", ["c2"], ["l2"], alpha=0.1, name="leaky"),
    n("ConvTranspose", ["l2", "wt", "bt"], ["up"], kernel_shape=[2, 2], strides=[2, 2], name="deconv"),
    # F.interpolate(p1, size=a1.shape[2:], mode="bilinear"): sizes from Shape ops.
    n("Shape", ["p1"], ["sh_p"], name="shape_p"),
    n("Shape", ["a1"], ["sh_a"], name="shape_a"),
    n("Slice", ["sh_p", "i0", "i2"], ["nc"], name="take_nc"),
    n("Slice", ["sh_a", "i2", "i4"], ["hw"], name="take_hw"),
    n("Concat", ["nc", "hw"], ["sizes"], axis=0, name="sizes"),
    n("Resize", ["p1", "no_roi", "", "sizes"], ["rp"], mode="linear", coordinate_transformation_mode="half_pixel", name="resize"),
    n("Concat", ["up", "rp", "a1"], ["cat"], axis=1, name="concat"),
    n("Pad", ["cat", "pads"], ["padded"], mode="reflect", name="pad"),
    n("AveragePool", ["padded"], ["smooth"], kernel_shape=[2, 2], strides=[1, 1], name="avg"),
    n("Conv", ["smooth", "w3", "b3"], ["logits"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="head"),
    n("Softmax", ["logits"], ["scores"], axis=1, name="softmax"),
]
graph = helper.make_graph(
    nodes, "fixture_stacked_change_net",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2 * B, "H", "W"])],
    [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 2, "H", "W"])],
    inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tools/make_onnx_fixture.py")
model.ir_version = 8
onnx.checker.check_model(model)
os.makedirs(OUT, exist_ok=True)
path = os.path.join(OUT, "stacked_softmax.onnx")
onnx.save(model, path)
x = rng.standard_normal((1, 2 * B, 24, 32)).astype(np.float32)
y = ort.InferenceSession(path).run(None, {"x": x})[0]
x.tofile(os.path.join(OUT, "stacked_softmax.input.f32"))
y.tofile(os.path.join(OUT, "stacked_softmax.ort.f32"))
with open(os.path.join(OUT, "stacked_softmax.toml"), "w") as f:
    f.write("""# Configuration of stacked_softmax.onnx (see src/model/config.rs).
[input]
layout = "stacked"
bands = ["R", "G", "B"]
scale = "scene"
[tile]
size = 64
overlap = 24
multiple = 2
[output]
kind = "softmax"
channel = 1
threshold = 0.5
""")
print("wrote", path, "output", y.shape, "onnxruntime", ort.__version__)
