#!/usr/bin/python3
"""dlib_to_onnx: dlib's face recognition ResNet (.dat) as an ONNX model.

    /usr/bin/python3 tools/dlib2onnx/dlib_to_onnx.py dlib_face_recognition_resnet_model_v1.dat OUT.onnx

Needs Debian's python3 with the `onnx` (1.12) and `numpy` packages; no pip.

WHY
  dlib's DNN runs the 29-conv ResNet through OpenBLAS at ~35-49 ms per 150-px
  chip on one core; ONNX Runtime runs the same convolutions several times
  faster. The weights are dlib's: this tool only re-writes them.

WHAT IT READS
  The file `dlib::serialize(net)` writes for the network type of dlib's
  dnn_face_recognition_ex.cpp (the `anet_type` that
  tests/unit/embed_dlib_onnx_test.cpp still builds natively):
    loss_metric< fc_no_bias<128, avg_pool_everything<
      alevel0<alevel1<alevel2<alevel3<alevel4<
      max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2,
      input_rgb_image_sized<150> >>>>>>>>>>>>
  with ares<N> = relu<add_prev1<block<N,1,tag1<x>>>>,
       ares_down<N> = relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<x>>>>>>>,
       block<N,s> = affine<con<N,3,3,1,1, relu<affine<con<N,3,3,s,s, x>>>>>,
       levels 4..0: 3 x ares<32>; ares_down<64> + 3 ares<64>; ares_down<128> + 2 ares<128>;
                    ares_down<256> + 2 ares<256>; ares_down<256>.
  Like dlib itself, the tool knows this type; the file holds no type, only
  each layer's parameters in dlib's serialization format (dlib/serialize.h:
  integers as a control byte (sign bit 0x80, byte count in the low 4 bits)
  followed by little-endian bytes; floats as mantissa and exponent integers;
  strings as length + bytes; bools as '0'/'1'; tensors (dlib/cuda/tensor.h)
  as version 2, four dimensions and raw little-endian float32 values).
  Nesting follows dlib/dnn/core.h: each add_layer writes its version, then its
  whole subnetwork, then its own layer details and training state; tag and
  skip layers write only a version. Every version string, layer kind, filter
  count, kernel size, stride and padding read is checked against the type: a
  different network stops the tool (exit 1) instead of producing a wrong graph.

LAYER MAPPING (dlib -> ONNX, opset 13)
  input_rgb_image_sized  Sub(per-channel mean read from the file) then Mul(1/256),
                         exactly dlib's (pixel - avg) / 256 (dlib/dnn/input.h).
  con + affine           Conv with the affine folded in: W' = W * gamma[o],
                         b' = b * gamma[o] + beta[o]; pads as stored (dlib's
                         default: 0 for stride 2, k/2 for stride 1).
  relu                   Relu
  max_pool<3,3,2,2>      MaxPool 3x3 stride 2, pads 0 (floor, as dlib)
  avg_pool<2,2,2,2>      AveragePool 2x2 stride 2, pads 0
  tag / skip             names of tensors (no node)
  add_prev               Add. dlib adds tensors of different sizes by treating
                         missing elements as 0 (dlib tt::add); where the shapes
                         differ (channels 32->64 etc., and at level 1 a 3x3 vs a
                         4x4 map) the smaller operand gets a Pad with zeros at
                         the end of each dimension first.
  avg_pool_everything    GlobalAveragePool
  fc_no_bias<128>        Flatten + MatMul (dlib's weights are [inputs, outputs])
  loss_metric            nothing (training only)

WHAT IT WRITES
  ONNX opset 13, IR version 8, float32. One input "input" [N, 3, 150, 150]:
  NCHW, RGB, raw 0..255 values (the chip as dlib::extract_image_chip gives
  it); one output "descriptor" [N, 128], not normalised (as dlib's network).
  N is dynamic. The file is byte-for-byte the same on every run for a given
  .dat (no time stamps; the .dat's sha256 is recorded in the metadata).

CHECKS (exit 1 when one fails)
  * the whole file is consumed and matches the type above;
  * onnx.checker and shape inference accept the graph, output [N, 128];
  * the tensor shapes the tool computes (dlib's 1 + (n + 2p - k) / s) agree
    with shape inference at every Add and Pad.
  Equivalence with dlib's own forward pass on LFW chips is the unit test
  DlibOnnx.* (tests/unit/embed_dlib_onnx_test.cpp).
"""
import argparse
import hashlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

INPUT_SIZE = 150


def fail(message: str) -> None:
    print(f"dlib_to_onnx: ERROR: {message}", file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------
# The network type, innermost layer first (the order data flows through it).


def con(n, k, s):
    return {"kind": "con", "filters": n, "size": k, "stride": s}


def affine():
    return {"kind": "affine"}


def relu():
    return {"kind": "relu"}


def tag(i):
    return {"kind": "tag", "id": i}


def skip(i):
    return {"kind": "skip", "id": i}


def add_prev(i):
    return {"kind": "add_prev", "id": i}


def pool(kind, k, s):
    return {"kind": kind, "size": k, "stride": s}


def block(n, stride):
    # affine<con<N,3,3,1,1, relu<affine<con<N,3,3,s,s, SUB>>>>>
    return [con(n, 3, stride), affine(), relu(), con(n, 3, 1), affine()]


def ares(n):
    # relu<add_prev1<block<N,1,tag1<SUB>>>>
    return [tag(1)] + block(n, 1) + [add_prev(1), relu()]


def ares_down(n):
    # relu<add_prev2<avg_pool<2,2,2,2, skip1<tag2<block<N,2,tag1<SUB>>>>>>>
    return ([tag(1)] + block(n, 2) + [tag(2), skip(1), pool("avg_pool", 2, 2), add_prev(2)] +
            [relu()])


def network():
    layers = [con(32, 7, 2), affine(), relu(), pool("max_pool", 3, 2)]
    layers += ares(32) * 3                                       # alevel4
    layers += ares_down(64) + ares(64) * 3                        # alevel3
    layers += ares_down(128) + ares(128) * 2                      # alevel2
    layers += ares_down(256) + ares(256) * 2                      # alevel1
    layers += ares_down(256)                                      # alevel0
    layers += [{"kind": "avg_pool_everything"}, {"kind": "fc_no_bias", "outputs": 128}]
    return [dict(layer) for layer in layers]


# --------------------------------------------------------------------------
# dlib's serialization format (dlib/serialize.h, dlib/cuda/tensor.h).


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _bytes(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            fail(f"unexpected end of file at byte {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        """A signed integer: control byte (0x80 = negative, low 4 bits = byte count)."""
        control = self._bytes(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8:
            fail(f"bad integer control byte 0x{control:02x} at byte {self.pos - 1}")
        value = int.from_bytes(self._bytes(size), "little")
        return -value if control & 0x80 else value

    def uint(self) -> int:
        control = self._bytes(1)[0]
        size = control & 0x8F
        if size == 0 or size > 8:
            fail(f"bad unsigned control byte 0x{control:02x} at byte {self.pos - 1}")
        return int.from_bytes(self._bytes(size), "little")

    def string(self) -> str:
        return self._bytes(self.uint()).decode("latin-1")

    def bool(self) -> bool:
        c = self._bytes(1)
        if c not in (b"0", b"1"):
            fail(f"bad bool {c!r} at byte {self.pos - 1}")
        return c == b"1"

    def float(self) -> float:
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            fail(f"old ASCII float format at byte {self.pos}: not supported")
        mantissa = self.int()
        exponent = self.int()
        if exponent >= 32000:
            fail(f"non-finite float at byte {self.pos}")
        # dlib: std::ldexp((float)mantissa, exponent)
        return float(np.float32(np.ldexp(np.float32(mantissa), exponent)))

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            fail(f"tensor version {version} (expected 2) at byte {self.pos}")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self._bytes(4 * count), dtype="<f4").astype(np.float32)
        return values.reshape(shape)

    def alias_tensor(self) -> tuple:
        version = self.int()
        if version != 1:
            fail(f"alias_tensor version {version} (expected 1) at byte {self.pos}")
        return tuple(self.int() for _ in range(4))


def expect(condition: bool, message: str) -> None:
    if not condition:
        fail(f"the file is not dlib_face_recognition_resnet_model_v1's network: {message}")


def read_con(r: Reader, layer: dict) -> None:
    version = r.string()
    expect(version in ("con_4", "con_5"), f"expected a con_ layer, found '{version}'")
    params = r.tensor().reshape(-1)
    filters = r.int()
    nr, nc = r.int(), r.int()
    stride_y, stride_x = r.int(), r.int()
    pad_y, pad_x = r.int(), r.int()
    shape = r.alias_tensor()
    bias_shape = r.alias_tensor()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.float()
    use_bias = r.bool() if version == "con_5" else True
    k, s = layer["size"], layer["stride"]
    expect((filters, nr, nc, stride_y, stride_x) == (layer["filters"], k, k, s, s),
           f"con: found {filters} filters {nr}x{nc} stride {stride_y}x{stride_x}, expected "
           f"{layer['filters']} {k}x{k} stride {s}")
    # dlib's default padding (dlib/dnn/layers.h): 0 for strides != 1, else k/2.
    expect(pad_y == pad_x == (0 if s != 1 else k // 2), f"con: padding {pad_y}x{pad_x}")
    expect(shape[0] == filters and shape[2:] == (k, k), f"con: filter tensor {shape}")
    n_weights = int(np.prod(shape))
    expect(params.size == n_weights + (filters if use_bias else 0),
           f"con: {params.size} parameters for filters {shape}")
    layer["weight"] = params[:n_weights].reshape(shape)
    layer["bias"] = (params[n_weights:] if use_bias else np.zeros(filters, np.float32))
    if use_bias:
        expect(int(np.prod(bias_shape)) == filters, f"con: bias tensor {bias_shape}")


def read_affine(r: Reader, layer: dict) -> None:
    version = r.string()
    expect(version in ("affine_", "affine_2"),
           f"expected an affine_ layer, found '{version}' (a bn_ layer is not supported)")
    params = r.tensor().reshape(-1)
    gamma, beta = r.alias_tensor(), r.alias_tensor()
    mode = r.int()
    disabled = r.bool() if version == "affine_2" else False
    expect(mode == 0, f"affine mode {mode} (expected CONV_MODE)")
    n = int(np.prod(gamma))
    expect(int(np.prod(beta)) == n and params.size == 2 * n, f"affine: {params.size} parameters")
    layer["gamma"] = params[:n]
    layer["beta"] = params[n:]
    layer["disabled"] = disabled


def read_pool(r: Reader, layer: dict) -> None:
    version = r.string()
    name = "max_pool_2" if layer["kind"] == "max_pool" else "avg_pool_2"
    expect(version == name, f"expected {name}, found '{version}'")
    nr, nc = r.int(), r.int()
    stride_y, stride_x = r.int(), r.int()
    pad_y, pad_x = r.int(), r.int()
    if layer["kind"] == "avg_pool_everything":
        want = (0, 0, 1, 1, 0, 0)
    else:
        want = (layer["size"], layer["size"], layer["stride"], layer["stride"], 0, 0)
    expect((nr, nc, stride_y, stride_x, pad_y, pad_x) == want,
           f"{name}: found {(nr, nc, stride_y, stride_x, pad_y, pad_x)}, expected {want}")


def read_fc(r: Reader, layer: dict) -> None:
    version = r.string()
    expect(version in ("fc_2", "fc_3"), f"expected an fc_ layer, found '{version}'")
    outputs, inputs = r.uint(), r.uint()
    params = r.tensor().reshape(-1)
    weights = r.alias_tensor()
    r.alias_tensor()  # biases (absent: fc_no_bias)
    bias_mode = r.int()
    for _ in range(4):
        r.float()
    if version == "fc_3":
        r.bool()
    expect(bias_mode == 1, "fc: expected fc_no_bias")
    expect(outputs == layer["outputs"] and params.size == inputs * outputs and
           weights[:2] == (inputs, outputs), f"fc: {inputs} x {outputs}, weights {weights}")
    layer["weight"] = params.reshape(inputs, outputs)  # output = input x weight


def read_simple(r: Reader, name: str) -> None:
    version = r.string()
    expect(version == name, f"expected {name}, found '{version}'")


def read_details(r: Reader, layer: dict) -> None:
    kind = layer["kind"]
    if kind == "con":
        read_con(r, layer)
    elif kind == "affine":
        read_affine(r, layer)
    elif kind in ("max_pool", "avg_pool", "avg_pool_everything"):
        read_pool(r, layer)
    elif kind == "fc_no_bias":
        read_fc(r, layer)
    elif kind == "relu":
        read_simple(r, "relu_")
    elif kind == "add_prev":
        read_simple(r, "add_prev_")
    else:
        fail(f"internal: no reader for {kind}")


def read_network(data: bytes) -> tuple:
    """(input means (r, g, b), layers with their parameters), innermost layer first."""
    layers = network()
    r = Reader(data)
    expect(r.int() == 1, "add_loss_layer version")
    loss = r.string()
    expect(loss in ("loss_metric_", "loss_metric_2"), f"loss layer '{loss}'")
    if loss == "loss_metric_2":
        r.float()  # margin
        r.float()  # distance threshold
    # Outermost to innermost: the version of every layer but the one holding the input.
    for layer in reversed(layers[1:]):
        version = r.int()
        if layer["kind"] in ("tag", "skip"):
            expect(version == 1, f"{layer['kind']} layer version {version}")
        else:
            expect(version in (1, 2), f"add_layer version {version} ({layer['kind']})")
        layer["version"] = version
    # The innermost add_layer, specialised for an input layer (dlib/dnn/core.h).
    version = r.int()
    expect(version in (2, 3), f"input add_layer version {version}")
    expect(r.string() == "input_rgb_image_sized", "input layer")
    means = (r.float(), r.float(), r.float())
    expect((r.uint(), r.uint()) == (INPUT_SIZE, INPUT_SIZE), "input size")
    read_details(r, layers[0])
    for _ in range(3):
        r.bool()
    for _ in range(3):  # x_grad, cached_output, grad_final
        r.tensor()
    if version >= 3:
        r.uint()  # sample expansion factor
    # Innermost to outermost: each add_layer's own details and training state.
    for layer in layers[1:]:
        if layer["kind"] in ("tag", "skip"):
            continue
        read_details(r, layer)
        for _ in range(3):
            r.bool()
        r.tensor()  # x_grad
        r.tensor()  # cached_output
        if layer["version"] == 2:
            r.tensor()  # params_grad
    expect(r.pos == len(data), f"{len(data) - r.pos} bytes left after the network")
    return means, layers


# --------------------------------------------------------------------------
# The ONNX graph.


def out_size(n: int, k: int, s: int, p: int) -> int:
    return 1 + (n + 2 * p - k) // s  # dlib's (and ONNX's floor-mode) output size


class Graph:
    def __init__(self):
        self.nodes, self.initializers = [], []
        self.count = {}

    def name(self, prefix: str) -> str:
        self.count[prefix] = self.count.get(prefix, 0) + 1
        return f"{prefix}_{self.count[prefix]}"

    def const(self, prefix: str, array: np.ndarray) -> str:
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list, prefix: str = None, **attrs) -> str:
        out = self.name(prefix or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def build(means: tuple, layers: list, source_sha256: str) -> onnx.ModelProto:
    g = Graph()
    mean = np.array(means, np.float32).reshape(1, 3, 1, 1)
    x = g.node("Sub", ["input", g.const("input_mean", mean)], "centred")
    x = g.node("Mul", [x, g.const("input_scale", np.array(1.0 / 256.0, np.float32))], "scaled")
    shape = [3, INPUT_SIZE, INPUT_SIZE]  # channels, rows, columns (no batch)
    tags = {}
    pad_checks = []  # (tensor name, expected [C, H, W]) for shape inference
    i = 0
    while i < len(layers):
        layer = layers[i]
        kind = layer["kind"]
        if kind == "con":
            nxt = layers[i + 1] if i + 1 < len(layers) else {}
            expect(nxt.get("kind") == "affine", "every con is followed by an affine")
            w, b = layer["weight"], layer["bias"]
            if not nxt["disabled"]:
                # Folded in float64, rounded once to float32.
                gamma = nxt["gamma"].astype(np.float64)
                w = (w.astype(np.float64) * gamma[:, None, None, None]).astype(np.float32)
                b = (b.astype(np.float64) * gamma + nxt["beta"]).astype(np.float32)
            k, s = layer["size"], layer["stride"]
            p = 0 if s != 1 else k // 2
            x = g.node("Conv", [x, g.const("conv_w", w), g.const("conv_b", b)], "conv",
                       kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])
            shape = [layer["filters"], out_size(shape[1], k, s, p), out_size(shape[2], k, s, p)]
            i += 2
            continue
        if kind == "affine":
            fail("internal: an affine layer without a preceding con")
        if kind == "relu":
            x = g.node("Relu", [x], "relu")
        elif kind in ("max_pool", "avg_pool"):
            k, s = layer["size"], layer["stride"]
            op = "MaxPool" if kind == "max_pool" else "AveragePool"
            x = g.node(op, [x], kind, kernel_shape=[k, k], strides=[s, s], pads=[0, 0, 0, 0])
            shape = [shape[0], out_size(shape[1], k, s, 0), out_size(shape[2], k, s, 0)]
        elif kind == "tag":
            tags[layer["id"]] = (x, list(shape))
        elif kind == "skip":
            x, shape = tags[layer["id"]][0], list(tags[layer["id"]][1])
        elif kind == "add_prev":
            other, other_shape = tags[layer["id"]]
            target = [max(a, b) for a, b in zip(shape, other_shape)]
            operands = []
            for name, dims in ((x, shape), (other, other_shape)):
                if dims != target:
                    # dlib adds missing elements as zeros: pad at the end of C, H, W.
                    pads = np.array([0, 0, 0, 0, 0] + [t - v for t, v in zip(target, dims)],
                                    np.int64)
                    name = g.node("Pad", [name, g.const("pads", pads)], "pad", mode="constant")
                    pad_checks.append((name, target))
                operands.append(name)
            x = g.node("Add", operands, "add")
            pad_checks.append((x, target))
            shape = target
        elif kind == "avg_pool_everything":
            x = g.node("GlobalAveragePool", [x], "global_pool")
            shape = [shape[0], 1, 1]
        elif kind == "fc_no_bias":
            x = g.node("Flatten", [x], "flatten", axis=1)
            w = layer["weight"]
            expect(w.shape[0] == int(np.prod(shape)), f"fc input {w.shape[0]} vs {shape}")
            x = g.node("MatMul", [x, g.const("fc_w", w)], "fc")
            shape = [w.shape[1]]
        else:
            fail(f"internal: no mapping for {kind}")
        i += 1
    g.nodes[-1].output[0] = "descriptor"
    g.nodes[-1].name = "descriptor"

    graph = helper.make_graph(
        g.nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, INPUT_SIZE,
                                                                   INPUT_SIZE])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", shape[0]])],
        g.initializers)
    model = helper.make_model(graph, producer_name="likeness tools/dlib2onnx",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.doc_string = ("dlib_face_recognition_resnet_model_v1 (dlib, CC0), converted by "
                        "tools/dlib2onnx/dlib_to_onnx.py. Input: RGB 0..255, NCHW 150x150 "
                        "(dlib's face chip); the graph subtracts dlib's mean and divides by 256. "
                        "Output: dlib's 128-d descriptor, not normalised.")
    helper.set_model_props(model, {"source_sha256": source_sha256})
    check(model, pad_checks)
    return model


def check(model: onnx.ModelProto, pad_checks: list) -> None:
    onnx.checker.check_model(model)
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
    for name, expected in pad_checks:
        got = shapes.get(name)
        if got is None or got[1:] != expected:
            fail(f"shape inference gives {got} for {name}, dlib's arithmetic {expected}")
    if shapes.get("descriptor") != ["N", 128]:
        fail(f"output shape {shapes.get('descriptor')}, expected [N, 128]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="dlib_face_recognition_resnet_model_v1.dat")
    parser.add_argument("output", help="the ONNX file to write")
    args = parser.parse_args()
    with open(args.source, "rb") as f:
        data = f.read()
    means, layers = read_network(data)
    model = build(means, layers, hashlib.sha256(data).hexdigest())
    with open(args.output, "wb") as f:
        f.write(model.SerializeToString())
    convs = sum(1 for n in model.graph.node if n.op_type == "Conv")
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(f"dlib_to_onnx: {convs} Conv, {len(model.graph.node)} nodes, {params} values; "
          f"input mean {tuple(round(m, 3) for m in means)}; wrote {args.output}")


if __name__ == "__main__":
    main()
