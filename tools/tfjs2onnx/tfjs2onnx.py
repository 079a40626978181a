#!/usr/bin/python3
"""tfjs2onnx: convert a TF.js graph model (model.json + .bin shards) to ONNX.

    /usr/bin/python3 tools/tfjs2onnx/tfjs2onnx.py MODEL.json OUT.onnx \
        [--input-name NAME] [--output NODE=NAME ...] [--repair-tfjs-prelu]

Needs Debian's python3 with the `onnx` (1.12) and `numpy` packages; no pip.

WHAT IT WRITES
  * One ONNX model, opset 13, IR version 8, float32 throughout (fp16 and
    uint8/uint16-quantized weights are decoded to float32 at conversion time).
  * ONE input, named --input-name (default "input"), float32, in the SAME layout
    as the TF.js Placeholder: NHWC, shape [N, H, W, C] with a dynamic batch
    dimension "N" and the static H, W, C of the original. A Transpose to NCHW
    is inserted inside the graph; callers never see NCHW.
  * The outputs chosen with --output NODE=NAME (repeatable, in that order), or by
    default the signature outputs of the model.json (else its sink nodes), each
    named after its node with non [A-Za-z0-9_] characters replaced by "_".
    Outputs keep TF's layout and shapes (e.g. [N, 192]; 4-D outputs NHWC).
  * No pre-processing is added: the input is exactly what the TF.js graph's
    Placeholder expects. The model file does not say what that is; for the
    models verified on LFW (see docs/converter.md): mobilefacenet.json wants
    RGB (v - 127.5) / 128; faceres.json wants raw 0..255 values (BGR slightly
    better than RGB); mobileface.json wants raw 0..255 (it normalises itself).
  * The output is byte-for-byte deterministic for a given input model and
    command line (no timestamps, fixed node/initializer order).

SUPPORTED TF OPS
  Placeholder, Const, Identity, Conv2D, DepthwiseConv2dNative, _FusedConv2D and
  FusedDepthwiseConv2dNative (fused_ops: BiasAdd, FusedBatchNorm, then one of
  Relu, Relu6, Prelu, LeakyRelu, Elu, Sigmoid, Tanh), MatMul, _FusedMatMul,
  BiasAdd, Add, AddV2, Sub, Mul, RealDiv, Maximum, Minimum, Abs, Neg, Relu,
  Relu6, Prelu, Sigmoid, Tanh, Exp, Square, Sqrt, Rsqrt, Softmax, Mean, Sum,
  Reshape, Squeeze, Pad, MaxPool, AvgPool, ConcatV2, Cast (float<->int32).
  data_format must be NHWC; padding SAME, VALID or EXPLICIT; strides and
  dilations as given. Any other op is an error naming the op and the node, and
  the tool exits non-zero.

--repair-tfjs-prelu
  Undoes two bugs of the tensorflowjs converter that corrupt PReLUs written as
  relu(x) + c * (x - |x|) (e.g. sirius-ai MobileFaceNet), see docs/converter.md:
   1. fuse_prelu.py negates the constant c of every Add(Relu, Mul(Const, .))
      before checking the rest of its pattern, and leaves it negated when the
      pattern then fails to match -> the converter negates c back.
   2. fusing Relu into a (depthwise) conv redirected the PReLU's Abs/Sub to the
      fused, already-rectified output, so the negative branch is always 0 ->
      the converter feeds Abs/Sub with the pre-activation value.
  Without the option the TF.js graph is converted as written (and a warning is
  printed if the damaged pattern is found).
"""
import argparse
import base64
import json
import os
import re
import sys

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # pragma: no cover
    sys.exit("tfjs2onnx: needs the onnx python package (use /usr/bin/python3 on Debian)")

OPSET = 13


class ConversionError(Exception):
    pass


# ------------------------------------------------------------------ weights ---
_PLAIN = {"float32": ("<f4", 4), "int32": ("<i4", 4), "bool": ("u1", 1)}
_QUANT = {"uint8": ("u1", 1), "uint16": ("<u2", 2), "float16": ("<f2", 2)}


def load_weights(json_path, model):
    """Decode every weight of weightsManifest: {name: np.ndarray (float32 / int64 / bool)}."""
    folder = os.path.dirname(os.path.abspath(json_path))
    out = {}
    for group in model.get("weightsManifest", []):
        data = bytearray()
        for shard in group["paths"]:
            with open(os.path.join(folder, shard), "rb") as f:
                data += f.read()
        offset = 0
        for w in group["weights"]:
            shape = tuple(int(s) for s in w["shape"])
            n = int(np.prod(shape, dtype=np.int64)) if shape else 1
            q = w.get("quantization")
            if q:
                if q["dtype"] not in _QUANT:
                    raise ConversionError("weight %s: unsupported quantization dtype %s" % (w["name"], q["dtype"]))
                np_dt, size = _QUANT[q["dtype"]]
                raw = np.frombuffer(bytes(data[offset:offset + n * size]), dtype=np_dt, count=n)
                if q["dtype"] == "float16":
                    arr = raw.astype(np.float32)
                else:
                    arr = (raw.astype(np.float64) * float(q["scale"]) + float(q["min"])).astype(np.float32)
                if w["dtype"] == "int32":
                    arr = np.rint(arr).astype(np.int64)
            else:
                if w["dtype"] not in _PLAIN:
                    raise ConversionError("weight %s: unsupported dtype %s" % (w["name"], w["dtype"]))
                np_dt, size = _PLAIN[w["dtype"]]
                if offset + n * size > len(data):
                    raise ConversionError("weight %s runs past the end of its shards" % w["name"])
                arr = np.frombuffer(bytes(data[offset:offset + n * size]), dtype=np_dt, count=n)
                arr = arr.astype({"float32": np.float32, "int32": np.int64, "bool": np.bool_}[w["dtype"]])
            offset += n * size
            out[w["name"]] = arr.reshape(shape)
        if offset != len(data):
            raise ConversionError("weight group %s: %d bytes of shard data, manifest accounts for %d"
                                  % (group["paths"], len(data), offset))
    return out


# --------------------------------------------------------------- node attrs ---
def attr(node, key, default=None):
    v = node.get("attr", {}).get(key)
    if v is None:
        return default
    if "list" in v:
        lst = v["list"]
        if "s" in lst:
            return [base64.b64decode(s).decode("utf-8") for s in lst["s"]]
        if "i" in lst:
            return [int(i) for i in lst["i"]]
        if "f" in lst:
            return [float(f) for f in lst["f"]]
        return []
    for k, conv in (("s", lambda s: base64.b64decode(s).decode("utf-8")), ("i", int), ("f", float),
                    ("b", bool), ("type", str)):
        if k in v:
            return conv(v[k])
    return default


def sanitize(name):
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


# ---------------------------------------------------------------- converter ---
class Value:
    """A converted TF tensor: ONNX name, logical (TF) shape, and whether a 4-D
    activation is held transposed to NCHW."""

    def __init__(self, name, shape, nchw=False, const=None):
        self.name = name
        self.shape = list(shape) if shape is not None else None
        self.nchw = nchw
        self.const = const  # numpy value when known at conversion time


class Converter:
    def __init__(self, model, weights, input_name, repair):
        self.model = model
        self.weights = weights
        self.input_name = input_name
        self.repair = repair
        self.nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
        self.onnx_nodes = []
        self.initializers = []
        self.init_names = {}
        self.values = {}
        self.used_names = set()
        self.graph_inputs = []
        self.counter = 0
        self.negated_alpha = set()
        self.preact_readers = set()
        self.warnings = []
        self._find_prelu_damage()

    # ---- helpers
    def fresh(self, base):
        base = sanitize(base)
        name = base
        while name in self.used_names:
            self.counter += 1
            name = "%s__%d" % (base, self.counter)
        self.used_names.add(name)
        return name

    def add(self, op, inputs, base, **attrs):
        out = self.fresh(base)
        self.onnx_nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def const_tensor(self, arr, base):
        arr = np.ascontiguousarray(arr)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        key = (base, arr.dtype.str, arr.shape, arr.tobytes())
        if key in self.init_names:
            return self.init_names[key]
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(arr, name))
        self.init_names[key] = name
        return name

    def ints(self, values, base):
        return self.const_tensor(np.array(values, dtype=np.int64), base)

    def to_nchw(self, v, base):
        if v.nchw or v.shape is None or len(v.shape) != 4:
            return v.name
        if v.const is not None:
            return self.const_tensor(v.const.transpose(0, 3, 1, 2), base + "_nchw")
        return self.add("Transpose", [v.name], base + "_to_nchw", perm=[0, 3, 1, 2])

    def to_native(self, v, base):
        if not v.nchw:
            if v.const is not None:
                return self.const_tensor(v.const, base)
            return v.name
        return self.add("Transpose", [v.name], base + "_to_nhwc", perm=[0, 2, 3, 1])

    # ---- the PReLU damage left by the tensorflowjs converter
    def _src(self, ref):
        return ref.lstrip("^").split(":")[0]

    def _find_prelu_damage(self):
        """Find relu(y) + c*(y - |y|) expansions (see --repair-tfjs-prelu)."""
        found = 0
        for n in self.nodes.values():
            if n["op"] not in ("Add", "AddV2") or len(n.get("input", [])) != 2:
                continue
            a, b = [self.nodes.get(self._src(i)) for i in n["input"]]
            if a is None or b is None or b["op"] != "Mul":
                continue
            mins = [self.nodes.get(self._src(i)) for i in b["input"]]
            consts = [m for m in mins if m is not None and m["op"] == "Const"]
            subs = [m for m in mins if m is not None and m["op"] == "Sub"]
            if len(consts) != 1 or len(subs) != 1:
                continue
            sub = subs[0]
            y = self._src(sub["input"][0])
            absn = self.nodes.get(self._src(sub["input"][1]))
            if absn is None or absn["op"] != "Abs" or self._src(absn["input"][0]) != y:
                continue
            ynode = self.nodes[y]
            if a["op"] == "Relu" and self._src(a["input"][0]) == y:
                pass  # relu(y) + c*(y-|y|): the expansion as written
            elif a["name"] == y and ynode["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative") \
                    and "Relu" in attr(ynode, "fused_ops", []):
                # Relu fused into the conv and Abs/Sub redirected to its output
                self.preact_readers.add(sub["name"])
                self.preact_readers.add(absn["name"])
            else:
                continue
            self.negated_alpha.add(consts[0]["name"])
            found += 1
        if found and not self.repair:
            self.warnings.append(
                "found %d PReLU expansions relu(x)+c*(x-|x|) of the kind the tensorflowjs converter "
                "damages (%d with a fused Relu); converting as written. Use --repair-tfjs-prelu "
                "to undo the damage (see docs/converter.md)." % (found, len(self.preact_readers) // 2))

    # ---- evaluation
    def value(self, ref, reader=None):
        src = self._src(ref)
        if ":" in ref and not ref.endswith(":0"):
            raise ConversionError("node %s reads output %s; only single-output nodes are supported"
                                  % (reader, ref))
        if self.repair and reader in self.preact_readers and src in self.nodes and \
                self.nodes[src]["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            key = src + "#preact"
            if key not in self.values:
                self.values[key] = self.convert(self.nodes[src], pre_activation=True)
            return self.values[key]
        if src not in self.values:
            if src not in self.nodes:
                raise ConversionError("node %s reads unknown node %s" % (reader, src))
            self.values[src] = self.convert(self.nodes[src])
        return self.values[src]

    def convert_all(self, outputs):
        # iterative DFS so deep graphs do not hit Python's recursion limit
        order = []
        seen = set()
        for out in outputs:
            stack = [(out, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    order.append(name)
                    continue
                if name in seen:
                    continue
                seen.add(name)
                if name not in self.nodes:
                    raise ConversionError("no node named %s in the graph" % name)
                stack.append((name, True))
                for i in reversed(self.nodes[name].get("input", [])):
                    if not i.startswith("^"):
                        stack.append((self._src(i), False))
        for name in order:
            self.value(name)
        return [self.values[o] for o in outputs]

    def const_of(self, ref, reader):
        v = self.value(ref, reader)
        if v.const is None:
            raise ConversionError("node %s: input %s must be a constant" % (reader, ref))
        return v.const

    # ---- ops
    def convert(self, node, pre_activation=False):
        op = node["op"]
        name = node["name"]
        ins = [i for i in node.get("input", []) if not i.startswith("^")]
        fn = getattr(self, "op_" + op, None)
        if fn is None:
            raise ConversionError("unsupported op %s (node %s)" % (op, name))
        if pre_activation:
            return fn(node, ins, pre_activation=True)
        return fn(node, ins)

    def op_Const(self, node, ins):
        if node["name"] not in self.weights:
            raise ConversionError("Const node %s has no entry in weightsManifest" % node["name"])
        arr = self.weights[node["name"]]
        if self.repair and node["name"] in self.negated_alpha:
            arr = -arr
        return Value(None, arr.shape, const=arr)

    def op_Placeholder(self, node, ins):
        shape = node.get("attr", {}).get("shape", {}).get("shape", {}).get("dim", [])
        shape = [int(d.get("size", -1)) for d in shape]
        if len(shape) != 4 or any(s <= 0 for s in shape[1:]):
            raise ConversionError("Placeholder %s: need a 4-D NHWC input with static H, W, C; got %s"
                                  % (node["name"], shape))
        if self.graph_inputs:
            raise ConversionError("only graphs with a single Placeholder are supported")
        self.used_names.add(self.input_name)
        self.graph_inputs.append(helper.make_tensor_value_info(
            self.input_name, TensorProto.FLOAT, ["N", shape[1], shape[2], shape[3]]))
        return Value(self.input_name, [-1] + shape[1:])

    def op_Identity(self, node, ins):
        return self.value(ins[0], node["name"])

    op_StopGradient = op_Identity

    # convolution family
    def _pads(self, node, in_hw, k_hw, strides, dil):
        padding = attr(node, "padding")
        if padding == "EXPLICIT":
            ep = attr(node, "explicit_paddings", [])
            if len(ep) != 8:
                raise ConversionError("node %s: explicit_paddings %s" % (node["name"], ep))
            pt, pb, pl, pr = ep[2], ep[3], ep[4], ep[5]
            out = [(in_hw[0] + pt + pb - (k_hw[0] - 1) * dil[0] - 1) // strides[0] + 1,
                   (in_hw[1] + pl + pr - (k_hw[1] - 1) * dil[1] - 1) // strides[1] + 1]
            return [pt, pl, pb, pr], out
        pads_begin, pads_end, out = [], [], []
        for d in range(2):
            eff = (k_hw[d] - 1) * dil[d] + 1
            if padding == "VALID":
                o = (in_hw[d] - eff) // strides[d] + 1
                total = 0
            elif padding == "SAME":
                o = (in_hw[d] + strides[d] - 1) // strides[d]
                total = max((o - 1) * strides[d] + eff - in_hw[d], 0)
            else:
                raise ConversionError("node %s: padding %r not supported" % (node["name"], padding))
            pads_begin.append(total // 2)
            pads_end.append(total - total // 2)
            out.append(o)
        return pads_begin + pads_end, out

    def _check_nhwc(self, node):
        fmt = attr(node, "data_format", "NHWC")
        if fmt != "NHWC":
            raise ConversionError("node %s (%s): data_format %s not supported" % (node["name"], node["op"], fmt))

    def _conv(self, node, ins, depthwise, fused, pre_activation=False):
        self._check_nhwc(node)
        name = node["name"]
        x = self.value(ins[0], name)
        k = self.const_of(ins[1], name).astype(np.float32)
        if x.shape is None or len(x.shape) != 4:
            raise ConversionError("node %s: input must be 4-D" % name)
        strides = attr(node, "strides", [1, 1, 1, 1])
        dil = attr(node, "dilations", [1, 1, 1, 1])
        if strides[0] != 1 or strides[3] != 1 or dil[0] != 1 or dil[3] != 1:
            raise ConversionError("node %s: batch/channel strides or dilations not supported" % name)
        kh, kw = k.shape[0], k.shape[1]
        c_in = x.shape[3]
        if depthwise:
            if k.shape[2] != c_in:
                raise ConversionError("node %s: depthwise kernel %s vs %d channels" % (name, k.shape, c_in))
            mult = k.shape[3]
            w = k.transpose(2, 3, 0, 1).reshape(c_in * mult, 1, kh, kw)
            group = c_in
            c_out = c_in * mult
        else:
            if k.shape[2] != c_in:
                raise ConversionError("node %s: kernel %s vs %d input channels" % (name, k.shape, c_in))
            w = k.transpose(3, 2, 0, 1)
            group = 1
            c_out = k.shape[3]
        pads, out_hw = self._pads(node, x.shape[1:3], (kh, kw), strides[1:3], dil[1:3])
        inputs = [self.to_nchw(x, name + "_in"), self.const_tensor(w, name + "_W")]
        fused_ops = attr(node, "fused_ops", []) if fused else []
        args = ins[2:]
        bias = None
        post = []
        i = 0
        for f in fused_ops:
            if f == "BiasAdd":
                bias = self.const_of(args[i], name).astype(np.float32)
                i += 1
            elif f == "FusedBatchNorm":
                post.append(("bn", [self.const_of(a, name).astype(np.float32) for a in args[i:i + 4]]))
                i += 4
            elif f in ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "LeakyRelu"):
                post.append((f, None))
            elif f == "Prelu":
                post.append((f, self.const_of(args[i], name).astype(np.float32)))
                i += 1
            else:
                raise ConversionError("node %s: unsupported fused op %s" % (name, f))
        if fused and i != attr(node, "num_args", i):
            raise ConversionError("node %s: num_args %s but fused_ops %s use %d" % (name, attr(node, "num_args"), fused_ops, i))
        if bias is not None:
            inputs.append(self.const_tensor(bias.reshape(c_out), name + "_B"))
        y = self.add("Conv", inputs, name + ("_conv" if post else ""), kernel_shape=[kh, kw],
                     strides=list(strides[1:3]), dilations=list(dil[1:3]), pads=pads, group=group)
        for kind, data in post:
            if kind == "bn":
                scale, offset, mean, var = data
                y = self.add("BatchNormalization", [y] + [self.const_tensor(t.reshape(c_out), name + "_bn")
                                                          for t in (scale, offset, mean, var)],
                             name + "_bn", epsilon=float(attr(node, "epsilon", 1e-3)))
            elif pre_activation:
                break
            else:
                y = self._activation(kind, y, name, data, c_out, nchw=True)
        return Value(y, [x.shape[0], out_hw[0], out_hw[1], c_out], nchw=True)

    def _activation(self, kind, y, name, data, channels, nchw):
        if kind == "Relu":
            return self.add("Relu", [y], name)
        if kind == "Relu6":
            return self.add("Clip", [y, self.const_tensor(np.array(0, np.float32), "zero"),
                                     self.const_tensor(np.array(6, np.float32), "six")], name)
        if kind == "Elu":
            return self.add("Elu", [y], name, alpha=1.0)
        if kind == "Sigmoid":
            return self.add("Sigmoid", [y], name)
        if kind == "Tanh":
            return self.add("Tanh", [y], name)
        if kind == "LeakyRelu":
            return self.add("LeakyRelu", [y], name, alpha=0.2)
        if kind == "Prelu":
            slope = data.reshape(-1)
            if nchw:
                slope = slope.reshape(-1, 1, 1) if slope.size > 1 else slope
            return self.add("PRelu", [y, self.const_tensor(slope, name + "_alpha")], name)
        raise ConversionError("node %s: activation %s" % (name, kind))

    def op_Conv2D(self, node, ins):
        return self._conv(node, ins, depthwise=False, fused=False)

    def op_DepthwiseConv2dNative(self, node, ins):
        return self._conv(node, ins, depthwise=True, fused=False)

    def op__FusedConv2D(self, node, ins, pre_activation=False):
        return self._conv(node, ins, depthwise=False, fused=True, pre_activation=pre_activation)

    def op_FusedDepthwiseConv2dNative(self, node, ins, pre_activation=False):
        return self._conv(node, ins, depthwise=True, fused=True, pre_activation=pre_activation)

    def op_MatMul(self, node, ins, fused=False):
        name = node["name"]
        a = self.value(ins[0], name)
        b = self.value(ins[1], name)
        if len(a.shape) != 2 or len(b.shape) != 2:
            raise ConversionError("node %s: MatMul needs 2-D operands" % name)
        an = self.to_native(a, name + "_a")
        if attr(node, "transpose_a", False):
            an = self.add("Transpose", [an], name + "_at", perm=[1, 0])
            ash = [a.shape[1], a.shape[0]]
        else:
            ash = list(a.shape)
        if b.const is not None:
            bw = b.const.T if attr(node, "transpose_b", False) else b.const
            bn = self.const_tensor(bw.astype(np.float32), name + "_W")
            n_out = bw.shape[1]
        else:
            bn = self.to_native(b, name + "_b")
            if attr(node, "transpose_b", False):
                bn = self.add("Transpose", [bn], name + "_bt", perm=[1, 0])
                n_out = b.shape[0]
            else:
                n_out = b.shape[1]
        y = self.add("MatMul", [an, bn], name + "_matmul" if fused else name)
        if fused:
            args = ins[2:]
            i = 0
            for f in attr(node, "fused_ops", []):
                if f == "BiasAdd":
                    y = self.add("Add", [y, self.const_tensor(self.const_of(args[i], name).astype(np.float32),
                                                               name + "_B")], name + "_bias")
                    i += 1
                elif f in ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "LeakyRelu"):
                    y = self._activation(f, y, name, None, n_out, nchw=False)
                elif f == "Prelu":
                    y = self._activation(f, y, name, self.const_of(args[i], name).astype(np.float32), n_out, False)
                    i += 1
                else:
                    raise ConversionError("node %s: unsupported fused op %s" % (name, f))
            if i != attr(node, "num_args", i):
                raise ConversionError("node %s: num_args mismatch" % name)
        return Value(y, [ash[0], n_out])

    def op__FusedMatMul(self, node, ins):
        return self.op_MatMul(node, ins, fused=True)

    # element-wise
    def _broadcast_shape(self, s1, s2):
        r = max(len(s1), len(s2))
        a = [1] * (r - len(s1)) + list(s1)
        b = [1] * (r - len(s2)) + list(s2)
        out = []
        for x, y in zip(a, b):
            if x == 1:
                out.append(y)
            elif y == 1 or x == y:
                out.append(x)
            elif x == -1 or y == -1:
                out.append(max(x, y))
            else:
                raise ConversionError("shapes %s and %s do not broadcast" % (s1, s2))
        return out

    def _const_for_layout(self, arr, nchw_rank4):
        arr = np.asarray(arr)
        if arr.dtype == np.int64 or arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        if not nchw_rank4 or arr.ndim == 0:
            return arr
        if arr.ndim == 4:
            return arr.transpose(0, 3, 1, 2)
        if arr.ndim < 4:
            full = arr.reshape([1] * (4 - arr.ndim) + list(arr.shape))
            return full.transpose(0, 3, 1, 2)
        raise ConversionError("constant of rank %d" % arr.ndim)

    def _binary(self, node, ins, onnx_op, numpy_fn):
        name = node["name"]
        a = self.value(ins[0], name)
        b = self.value(ins[1], name)
        shape = self._broadcast_shape(a.shape, b.shape)
        if a.const is not None and b.const is not None:
            c = numpy_fn(a.const, b.const)
            return Value(None, c.shape, const=c)
        act = [v for v in (a, b) if v.const is None]
        nchw = len(shape) == 4 and all(v.nchw or len(v.shape) != 4 for v in act) and any(v.nchw for v in act)
        names = []
        for v in (a, b):
            if v.const is not None:
                names.append(self.const_tensor(self._const_for_layout(v.const, nchw), name + "_c"))
            elif nchw:
                if len(v.shape) == 4:
                    names.append(v.name)
                else:
                    raise ConversionError("node %s: mixing a 4-D activation with a lower-rank one" % name)
            else:
                names.append(self.to_native(v, name))
        return Value(self.add(onnx_op, names, name), shape, nchw=nchw)

    def op_Add(self, node, ins):
        return self._binary(node, ins, "Add", np.add)

    op_AddV2 = op_Add

    def op_BiasAdd(self, node, ins):
        self._check_nhwc(node)
        return self._binary(node, ins, "Add", np.add)

    def op_Sub(self, node, ins):
        return self._binary(node, ins, "Sub", np.subtract)

    def op_Mul(self, node, ins):
        return self._binary(node, ins, "Mul", np.multiply)

    def op_RealDiv(self, node, ins):
        return self._binary(node, ins, "Div", np.divide)

    def op_Maximum(self, node, ins):
        return self._binary(node, ins, "Max", np.maximum)

    def op_Minimum(self, node, ins):
        return self._binary(node, ins, "Min", np.minimum)

    def _unary(self, node, ins, onnx_op, **kw):
        name = node["name"]
        x = self.value(ins[0], name)
        if x.const is not None:
            raise ConversionError("node %s: %s of a constant is not supported" % (name, node["op"]))
        return Value(self.add(onnx_op, [x.name], name, **kw), x.shape, nchw=x.nchw)

    def op_Relu(self, node, ins):
        return self._unary(node, ins, "Relu")

    def op_Abs(self, node, ins):
        return self._unary(node, ins, "Abs")

    def op_Neg(self, node, ins):
        return self._unary(node, ins, "Neg")

    def op_Sigmoid(self, node, ins):
        return self._unary(node, ins, "Sigmoid")

    def op_Tanh(self, node, ins):
        return self._unary(node, ins, "Tanh")

    def op_Exp(self, node, ins):
        return self._unary(node, ins, "Exp")

    def op_Sqrt(self, node, ins):
        return self._unary(node, ins, "Sqrt")

    def op_Relu6(self, node, ins):
        x = self.value(ins[0], node["name"])
        return Value(self._activation("Relu6", x.name, node["name"], None, None, x.nchw), x.shape, nchw=x.nchw)

    def op_Rsqrt(self, node, ins):
        x = self.value(ins[0], node["name"])
        s = self.add("Sqrt", [x.name], node["name"] + "_sqrt")
        return Value(self.add("Reciprocal", [s], node["name"]), x.shape, nchw=x.nchw)

    def op_Square(self, node, ins):
        x = self.value(ins[0], node["name"])
        return Value(self.add("Mul", [x.name, x.name], node["name"]), x.shape, nchw=x.nchw)

    def op_Prelu(self, node, ins):
        name = node["name"]
        x = self.value(ins[0], name)
        alpha = self.const_of(ins[1], name).astype(np.float32)
        slope = self._const_for_layout(alpha, x.nchw and len(x.shape) == 4)
        if x.nchw and alpha.ndim == 1:
            slope = alpha.reshape(-1, 1, 1)
        return Value(self.add("PRelu", [x.name, self.const_tensor(slope, name + "_alpha")], name), x.shape, nchw=x.nchw)

    def op_Softmax(self, node, ins):
        name = node["name"]
        x = self.value(ins[0], name)
        return Value(self.add("Softmax", [self.to_native(x, name)], name, axis=-1), x.shape)

    # reductions and shapes
    def _axes(self, x, axes):
        rank = len(x.shape)
        axes = [int(a) % rank for a in np.array(axes).reshape(-1)]
        if x.nchw and rank == 4:
            m = {0: 0, 1: 2, 2: 3, 3: 1}
            return [m[a] for a in axes], axes
        return axes, axes

    def _reduce(self, node, ins, kind):
        name = node["name"]
        x = self.value(ins[0], name)
        onnx_axes, tf_axes = self._axes(x, self.const_of(ins[1], name))
        keep = bool(attr(node, "keep_dims", False))
        if keep:
            shape = [1 if i in tf_axes else s for i, s in enumerate(x.shape)]
        else:
            shape = [s for i, s in enumerate(x.shape) if i not in tf_axes]
        nchw = x.nchw and keep
        if x.nchw and not keep and len(shape) == 4:
            raise ConversionError("node %s: reduction leaves a 4-D tensor" % name)
        if kind == "ReduceSum":  # opset 13: axes is an input
            y = self.add("ReduceSum", [x.name, self.ints(onnx_axes, name + "_axes")], name, keepdims=int(keep))
        else:
            y = self.add(kind, [x.name], name, axes=onnx_axes, keepdims=int(keep))
        if x.nchw and not keep:
            # remaining axes keep NCHW order among themselves; transpose back if needed
            rest = [a for a in [0, 2, 3, 1] if a not in onnx_axes]
            native_rest = [a for a in [0, 1, 2, 3] if a not in onnx_axes]
            if rest != native_rest:
                # rest lists remaining NCHW axes in NHWC order; permute into it
                perm = [native_rest.index(a) for a in rest]
                y = self.add("Transpose", [y], name + "_perm", perm=perm)
        return Value(y, shape, nchw=nchw)

    def op_Mean(self, node, ins):
        return self._reduce(node, ins, "ReduceMean")

    def op_Sum(self, node, ins):
        return self._reduce(node, ins, "ReduceSum")

    def op_Max(self, node, ins):
        return self._reduce(node, ins, "ReduceMax")

    def op_Squeeze(self, node, ins):
        name = node["name"]
        x = self.value(ins[0], name)
        dims = attr(node, "squeeze_dims", []) or [i for i, s in enumerate(x.shape) if s == 1]
        onnx_axes, tf_axes = self._axes(x, dims)
        shape = [s for i, s in enumerate(x.shape) if i not in tf_axes]
        y = self.add("Squeeze", [x.name, self.ints(sorted(onnx_axes), name + "_axes")], name)
        if x.nchw:
            rest = [a for a in [0, 2, 3, 1] if a not in onnx_axes]
            native_rest = [a for a in [0, 1, 2, 3] if a not in onnx_axes]
            if rest != native_rest:
                perm = [native_rest.index(a) for a in rest]
                y = self.add("Transpose", [y], name + "_perm", perm=perm)
        if len(shape) == 4:
            raise ConversionError("node %s: Squeeze leaves a 4-D tensor" % name)
        return Value(y, shape)

    def op_Reshape(self, node, ins):
        name = node["name"]
        x = self.value(ins[0], name)
        target = [int(v) for v in np.array(self.const_of(ins[1], name)).reshape(-1)]
        xn = self.to_native(x, name)
        y = self.add("Reshape", [xn, self.ints(target, name + "_shape")], name)
        known = [s for s in x.shape]
        shape = list(target)
        if -1 in shape and all(s > 0 for s in known[1:]) and shape[0] == -1:
            pass
        elif -1 in shape and known[0] > 0:
            total = int(np.prod(known))
            rest = int(np.prod([s for s in shape if s != -1]))
            shape[shape.index(-1)] = total // rest
        return Value(y, shape)

    def op_Pad(self, node, ins):
        name = node["name"]
        x = self.value(ins[0], name)
        p = np.array(self.const_of(ins[1], name)).astype(np.int64).reshape(-1, 2)
        if len(ins) > 2:
            cv = float(np.array(self.const_of(ins[2], name)))
        else:
            cv = 0.0
        if x.nchw:
            p = p[[0, 3, 1, 2]]
        pads = list(p[:, 0]) + list(p[:, 1])
        y = self.add("Pad", [x.name, self.ints(pads, name + "_pads"),
                             self.const_tensor(np.array(cv, np.float32), name + "_value")], name, mode="constant")
        tp = p if not x.nchw else p[[0, 2, 3, 1]]
        shape = [s + int(a + b) if s > 0 else s for s, (a, b) in zip(x.shape, tp)]
        return Value(y, shape, nchw=x.nchw)

    op_PadV2 = op_Pad

    def _pool(self, node, ins, onnx_op):
        self._check_nhwc(node)
        name = node["name"]
        x = self.value(ins[0], name)
        k = attr(node, "ksize")
        s = attr(node, "strides")
        if k[0] != 1 or k[3] != 1 or s[0] != 1 or s[3] != 1:
            raise ConversionError("node %s: pooling over batch/channels" % name)
        pads, out_hw = self._pads(node, x.shape[1:3], k[1:3], s[1:3], [1, 1])
        kw = dict(kernel_shape=list(k[1:3]), strides=list(s[1:3]), pads=pads)
        if onnx_op == "AveragePool":
            kw["count_include_pad"] = 0
        y = self.add(onnx_op, [self.to_nchw(x, name)], name, **kw)
        return Value(y, [x.shape[0], out_hw[0], out_hw[1], x.shape[3]], nchw=True)

    def op_MaxPool(self, node, ins):
        return self._pool(node, ins, "MaxPool")

    def op_AvgPool(self, node, ins):
        return self._pool(node, ins, "AveragePool")

    def op_ConcatV2(self, node, ins):
        name = node["name"]
        vals = [self.value(i, name) for i in ins[:-1]]
        axis = int(np.array(self.const_of(ins[-1], name)))
        rank = len(vals[0].shape)
        axis %= rank
        nchw = rank == 4 and all(v.nchw or v.const is not None for v in vals)
        names = []
        for v in vals:
            if v.const is not None:
                names.append(self.const_tensor(self._const_for_layout(v.const, nchw), name + "_c"))
            elif nchw:
                names.append(v.name)
            else:
                names.append(self.to_native(v, name))
        onnx_axis = {0: 0, 1: 2, 2: 3, 3: 1}[axis] if nchw else axis
        shape = list(vals[0].shape)
        shape[axis] = sum(v.shape[axis] for v in vals) if all(v.shape[axis] > 0 for v in vals) else -1
        return Value(self.add("Concat", names, name, axis=onnx_axis), shape, nchw=nchw)

    def op_Cast(self, node, ins):
        name = node["name"]
        x = self.value(ins[0], name)
        dst = attr(node, "DstT")
        if x.const is not None:
            c = x.const.astype(np.int64 if dst == "DT_INT32" else np.float32)
            return Value(None, c.shape, const=c)
        to = {"DT_FLOAT": TensorProto.FLOAT, "DT_INT32": TensorProto.INT32}.get(dst)
        if to is None:
            raise ConversionError("node %s: Cast to %s not supported" % (name, dst))
        return Value(self.add("Cast", [x.name], name, to=to), x.shape, nchw=x.nchw)

    # ---- model
    def build(self, outputs):
        names = [self.input_name] + [n for _, n in outputs]
        if len(set(names)) != len(names):
            raise ConversionError("input/output names must be distinct: %s" % names)
        # reserve the interface names so no internal tensor takes them
        reserved = set(names[1:])
        self.used_names |= reserved
        vals = self.convert_all([o for o, _ in outputs])
        graph_outputs = []
        for (node, out_name), v in zip(outputs, vals):
            if v.const is not None:
                raise ConversionError("output %s is a constant" % node)
            src = self.to_native(v, out_name)
            self.onnx_nodes.append(helper.make_node("Identity", [src], [out_name], name=out_name + "_out"))
            dims = ["N" if (i == 0 and s == -1) else (s if s > 0 else None) for i, s in enumerate(v.shape)]
            graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, dims))
        graph = helper.make_graph(self.onnx_nodes, "tfjs2onnx", self.graph_inputs, graph_outputs,
                                  initializer=self.initializers)
        model = helper.make_model(graph, producer_name="likeness-tfjs2onnx", producer_version="1",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        return model


def default_outputs(model):
    sig = model.get("signature") or model.get("userDefinedMetadata", {}).get("signature") or {}
    outs = sig.get("outputs")
    if outs:
        return [v.get("name", k).split(":")[0] for k, v in outs.items()]
    nodes = model["modelTopology"]["node"]
    used = {i.lstrip("^").split(":")[0] for n in nodes for i in n.get("input", [])}
    return sorted(n["name"] for n in nodes if n["name"] not in used and n["op"] != "Const")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a TF.js graph model to ONNX (opset 13).")
    ap.add_argument("model_json")
    ap.add_argument("out_onnx")
    ap.add_argument("--input-name", default="input", help="name of the ONNX input (default: input)")
    ap.add_argument("--output", action="append", default=[], metavar="NODE[=NAME]",
                    help="graph node to expose as an output, optionally renamed; repeatable, in order")
    ap.add_argument("--repair-tfjs-prelu", action="store_true",
                    help="undo the tensorflowjs converter's PReLU damage (see the file header)")
    args = ap.parse_args(argv)
    try:
        with open(args.model_json) as f:
            model = json.load(f)
        if model.get("format") not in (None, "graph-model"):
            raise ConversionError("%s is a %s, not a graph-model" % (args.model_json, model.get("format")))
        weights = load_weights(args.model_json, model)
        outputs = []
        for spec in args.output or default_outputs(model):
            node, _, out_name = spec.partition("=")
            node = node.split(":")[0]
            outputs.append((node, out_name or sanitize(node)))
        conv = Converter(model, weights, args.input_name, args.repair_tfjs_prelu)
        onnx_model = conv.build(outputs)
        for w in conv.warnings:
            print("tfjs2onnx: warning: " + w, file=sys.stderr)
        onnx.checker.check_model(onnx_model)
        data = onnx_model.SerializeToString()
        tmp = args.out_onnx + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, args.out_onnx)
    except ConversionError as e:
        print("tfjs2onnx: error: %s" % e, file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError) as e:
        print("tfjs2onnx: error: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    except Exception as e:  # e.g. onnx.checker.ValidationError: a converter bug
        print("tfjs2onnx: internal error: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 2
    ins = ", ".join("%s %s" % (i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
                    for i in onnx_model.graph.input)
    outs = ", ".join("%s %s" % (o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim])
                     for o in onnx_model.graph.output)
    print("tfjs2onnx: wrote %s (%d nodes); inputs: %s; outputs: %s"
          % (args.out_onnx, len(onnx_model.graph.node), ins, outs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
