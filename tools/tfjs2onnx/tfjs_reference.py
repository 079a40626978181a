#!/usr/bin/python3
"""Independent numpy reference evaluation of a TF.js graph model.

    /usr/bin/python3 tools/tfjs2onnx/tfjs_reference.py MODEL.json \
        --input IN.f32 --shape N,H,W,C --output OUT.f32 [--node NAME ...] [--repair-tfjs-prelu]

Reads MODEL.json and its weight shards directly and evaluates the graph with
straightforward numpy implementations of the TensorFlow op definitions, in
float64. It shares NO code with tfjs2onnx.py on purpose: it is the yardstick
the converter is checked against, so a misreading of the TF.js format must
not be shared by both.

Input:  IN.f32 is raw little-endian float32, shape given by --shape, fed to the
        graph's (single) Placeholder exactly as is (no pre-processing).
Output: one raw little-endian float32 file per requested node. With one node,
        the file is written to OUT.f32 exactly; with several nodes (or none given
        and the model has several outputs) the files are OUT.f32.0, OUT.f32.1, ...
        in the order of --node (or the model's signature outputs). The shape of
        every written tensor is printed on stdout, one line per output:
        "<file> <node> <d0>,<d1>,...".
        The model's weights are decoded with struct (not numpy views) and every
        op is computed in float64.
        Without --node, the outputs are the model's signature outputs if the
        json has them, else the graph's sink nodes (sorted by name).

--repair-tfjs-prelu applies the same documented graph repair as the converter's
option of that name (see docs/converter.md), implemented independently:
  * a Mul of a Const and Sub(y, Abs(y)) (the negative branch of a PReLU written
    as relu(y) + c*(y - |y|)) uses -c: the tensorflowjs converter stored c negated;
  * where a fused conv applies a Relu and an Abs/Sub reads that conv's output,
    the Abs/Sub gets the value before the Relu (the conv is evaluated twice).
"""
import argparse
import base64
import json
import os
import struct
import sys

import numpy as np


# ----------------------------------------------------------------- weights ---
def _read_weights(model_path, model):
    """name -> numpy array, read group by group, shard bytes concatenated."""
    base = os.path.dirname(os.path.abspath(model_path))
    values = {}
    for group in model.get("weightsManifest", []):
        blob = b"".join(open(os.path.join(base, p), "rb").read() for p in group["paths"])
        pos = 0
        for spec in group["weights"]:
            shape = [int(d) for d in spec["shape"]]
            count = 1
            for d in shape:
                count *= d
            quant = spec.get("quantization")
            dtype = spec["dtype"]
            if quant:
                qdt = quant["dtype"]
                if qdt == "float16":
                    nbytes = 2 * count
                    raw = struct.unpack("<%de" % count, blob[pos:pos + nbytes])
                    arr = np.array(raw, dtype=np.float64)
                elif qdt in ("uint8", "uint16"):
                    width = 1 if qdt == "uint8" else 2
                    nbytes = width * count
                    raw = struct.unpack("<%d%s" % (count, "B" if width == 1 else "H"),
                                        blob[pos:pos + nbytes])
                    arr = np.array(raw, dtype=np.float64) * float(quant["scale"]) + float(quant["min"])
                else:
                    sys.exit("tfjs_reference: unsupported quantization dtype %r for %s" % (qdt, spec["name"]))
                if dtype == "int32":
                    arr = np.round(arr).astype(np.int64)
            else:
                if dtype == "float32":
                    nbytes = 4 * count
                    arr = np.array(struct.unpack("<%df" % count, blob[pos:pos + nbytes]), dtype=np.float64)
                elif dtype == "int32":
                    nbytes = 4 * count
                    arr = np.array(struct.unpack("<%di" % count, blob[pos:pos + nbytes]), dtype=np.int64)
                elif dtype == "bool":
                    nbytes = count
                    arr = np.array(struct.unpack("<%dB" % count, blob[pos:pos + nbytes]), dtype=bool)
                else:
                    sys.exit("tfjs_reference: unsupported weight dtype %r for %s" % (dtype, spec["name"]))
            if pos + nbytes > len(blob):
                sys.exit("tfjs_reference: weight data too short for %s" % spec["name"])
            pos += nbytes
            values[spec["name"]] = arr.reshape(shape)
        if pos != len(blob):
            sys.exit("tfjs_reference: %d unread bytes in weight group %s" % (len(blob) - pos, group["paths"]))
    return values


# --------------------------------------------------------------- attributes ---
def _attr(node, key, default=None):
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "i" in a:
        return int(a["i"])
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    if "list" in a:
        lst = a["list"]
        if "s" in lst:
            return [base64.b64decode(x).decode() for x in lst["s"]]
        if "i" in lst:
            return [int(x) for x in lst["i"]]
        if "f" in lst:
            return [float(x) for x in lst["f"]]
        return []
    if "type" in a:
        return a["type"]
    return default


# ------------------------------------------------------------------ op defs ---
def _same_or_valid(size, k, stride, dil, padding):
    eff = (k - 1) * dil + 1
    if padding == "VALID":
        out = (size - eff) // stride + 1
        return out, 0
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2
    raise ValueError(padding)


def _patches(x, kh, kw, sh, sw, dh, dw, padding, explicit=None):
    """x: N,H,W,C -> list over (i,j) of strided views N,OH,OW,C (zero padded)."""
    n, h, w, c = x.shape
    if padding == "EXPLICIT":
        pt, pb, pl, pr = explicit[2], explicit[3], explicit[4], explicit[5]
        oh = (h + pt + pb - ((kh - 1) * dh + 1)) // sh + 1
        ow = (w + pl + pr - ((kw - 1) * dw + 1)) // sw + 1
    else:
        oh, pt = _same_or_valid(h, kh, sh, dh, padding)
        ow, pl = _same_or_valid(w, kw, sw, dw, padding)
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    xp = np.zeros((n, max(need_h, h + pt), max(need_w, w + pl), c), dtype=x.dtype)
    xp[:, pt:pt + h, pl:pl + w, :] = x
    out = {}
    for i in range(kh):
        for j in range(kw):
            out[(i, j)] = xp[:, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw, :]
    return out


def _conv2d(x, k, node):
    """tf.nn.conv2d, NHWC, kernel HWIO."""
    fmt = _attr(node, "data_format", "NHWC")
    if fmt != "NHWC":
        raise NotImplementedError("data_format %s" % fmt)
    s = _attr(node, "strides", [1, 1, 1, 1])
    d = _attr(node, "dilations", [1, 1, 1, 1])
    pad = _attr(node, "padding")
    kh, kw, ci, co = k.shape
    if x.shape[3] != ci:
        raise ValueError("conv channel mismatch at %s" % node["name"])
    ps = _patches(x, kh, kw, s[1], s[2], d[1], d[2], pad, _attr(node, "explicit_paddings"))
    y = None
    for (i, j), p in ps.items():
        t = np.tensordot(p, k[i, j], axes=([3], [0]))
        y = t if y is None else y + t
    return y


def _depthwise(x, k, node):
    """tf.nn.depthwise_conv2d_native, NHWC, kernel H,W,C,M -> output channel c*M+m."""
    s = _attr(node, "strides", [1, 1, 1, 1])
    d = _attr(node, "dilations", [1, 1, 1, 1])
    pad = _attr(node, "padding")
    kh, kw, c, m = k.shape
    ps = _patches(x, kh, kw, s[1], s[2], d[1], d[2], pad, _attr(node, "explicit_paddings"))
    y = None
    for (i, j), p in ps.items():
        t = p[..., :, None] * k[i, j][None, None, None, :, :]
        y = t if y is None else y + t
    n, oh, ow = y.shape[:3]
    return y.reshape(n, oh, ow, c * m)


def _activation(y, name, node, extra):
    if name is None:
        return y
    if name == "Relu":
        return np.maximum(y, 0)
    if name == "Relu6":
        return np.minimum(np.maximum(y, 0), 6)
    if name == "Prelu":
        alpha = extra[0]
        return np.where(y >= 0, y, y * alpha)
    if name == "Elu":
        return np.where(y > 0, y, np.exp(y) - 1)
    if name == "Sigmoid":
        return 1 / (1 + np.exp(-y))
    if name == "Tanh":
        return np.tanh(y)
    if name == "LeakyRelu":
        a = _attr(node, "leakyrelu_alpha", 0.2)
        return np.where(y >= 0, y, y * a)
    raise NotImplementedError("fused activation %s at %s" % (name, node["name"]))


def _fused_tail(y, node, args, skip_activation=False):
    ops = _attr(node, "fused_ops", [])
    rest = list(args)
    for op in ops:
        if op == "BiasAdd":
            y = y + rest.pop(0)
        elif op == "FusedBatchNorm":
            scale, offset, mean, var = rest[0], rest[1], rest[2], rest[3]
            rest = rest[4:]
            eps = _attr(node, "epsilon", 0.0)
            y = (y - mean) / np.sqrt(var + eps) * scale + offset
        elif op in ("Relu", "Relu6", "Prelu", "Elu", "Sigmoid", "Tanh", "LeakyRelu"):
            if not skip_activation:
                y = _activation(y, op, node, rest)
        else:
            raise NotImplementedError("fused op %s at %s" % (op, node["name"]))
    return y


def _strided_slice(x, node, begin, end, strides):
    bm = _attr(node, "begin_mask", 0)
    em = _attr(node, "end_mask", 0)
    sam = _attr(node, "shrink_axis_mask", 0)
    if _attr(node, "ellipsis_mask", 0) or _attr(node, "new_axis_mask", 0):
        raise NotImplementedError("StridedSlice ellipsis/new_axis at %s" % node["name"])
    sl = []
    for a in range(len(begin)):
        b = None if bm >> a & 1 else int(begin[a])
        e = None if em >> a & 1 else int(end[a])
        if sam >> a & 1:
            e = b + 1 if b != -1 else None
        sl.append(slice(b, e, int(strides[a])))
    y = x[tuple(sl)]
    shrink = [a for a in range(len(begin)) if sam >> a & 1]
    return np.squeeze(y, axis=tuple(shrink)) if shrink else y


def evaluate(model, weights, feed, wanted, fix_fused_prelu=False):
    nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
    cache = {}
    consumers = {}
    for n in nodes.values():
        for i in n.get("input", []):
            consumers.setdefault(i.split(":")[0].lstrip("^"), []).append(n)

    def pre_activation_for(reader, src):
        # The repair: a PReLU-expansion reader (Abs/Sub) of a fused conv that
        # applied a Relu reads the value before that Relu.
        if not fix_fused_prelu:
            return False
        sn = nodes[src]
        if sn["op"] not in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            return False
        if "Relu" not in _attr(sn, "fused_ops", []):
            return False
        return reader["op"] in ("Abs", "Sub")

    def value(name, reader=None):
        name = name.lstrip("^")
        base, _, idx = name.partition(":")
        if idx not in ("", "0"):
            raise NotImplementedError("multi-output reference %s" % name)
        if reader is not None and pre_activation_for(reader, base):
            key = base + "#preact"
            if key not in cache:
                cache[key] = run(nodes[base], skip_activation=True)
            return cache[key]
        if base not in cache:
            cache[base] = run(nodes[base])
        return cache[base]

    def run(node, skip_activation=False):
        op = node["op"]
        name = node["name"]
        ins = [i for i in node.get("input", []) if not i.startswith("^")]
        a = lambda k: value(ins[k], node)
        if op == "Const":
            if name not in weights:
                raise KeyError("no weight for Const %s" % name)
            return weights[name]
        if op == "Placeholder":
            return feed
        if op in ("Identity", "StopGradient", "NoOp"):
            return a(0)
        if op == "Conv2D":
            return _conv2d(a(0), a(1), node)
        if op == "DepthwiseConv2dNative":
            return _depthwise(a(0), a(1), node)
        if op == "_FusedConv2D":
            y = _conv2d(a(0), a(1), node)
            return _fused_tail(y, node, [a(k) for k in range(2, len(ins))], skip_activation)
        if op == "FusedDepthwiseConv2dNative":
            y = _depthwise(a(0), a(1), node)
            return _fused_tail(y, node, [a(k) for k in range(2, len(ins))], skip_activation)
        if op in ("MatMul", "_FusedMatMul"):
            x, w = a(0), a(1)
            if _attr(node, "transpose_a", False):
                x = x.T
            if _attr(node, "transpose_b", False):
                w = w.T
            y = x @ w
            if op == "_FusedMatMul":
                y = _fused_tail(y, node, [a(k) for k in range(2, len(ins))], skip_activation)
            return y
        if op == "BiasAdd":
            return a(0) + a(1)
        if op in ("Add", "AddV2"):
            return a(0) + a(1)
        if op == "AddN":
            return sum(a(k) for k in range(len(ins)))
        if op == "Sub":
            return a(0) - a(1)
        if op == "Mul":
            if fix_fused_prelu:
                kinds = [nodes[i.split(":")[0]]["op"] for i in ins]
                if sorted(kinds) == ["Const", "Sub"]:
                    sub = nodes[ins[kinds.index("Sub")].split(":")[0]]
                    absn = nodes[sub["input"][1].split(":")[0]]
                    if absn["op"] == "Abs" and absn["input"][0] == sub["input"][0]:
                        # relu(y) + c*(y - |y|): c was stored negated by tensorflowjs
                        return -(a(0) * a(1))
            return a(0) * a(1)
        if op == "RealDiv":
            return a(0) / a(1)
        if op == "Maximum":
            return np.maximum(a(0), a(1))
        if op == "Minimum":
            return np.minimum(a(0), a(1))
        if op == "Abs":
            return np.abs(a(0))
        if op == "Neg":
            return -a(0)
        if op == "Relu":
            return np.maximum(a(0), 0)
        if op == "Relu6":
            return np.clip(a(0), 0, 6)
        if op == "Prelu":
            x, al = a(0), a(1)
            return np.where(x >= 0, x, x * al)
        if op == "Sigmoid":
            return 1 / (1 + np.exp(-a(0)))
        if op == "Tanh":
            return np.tanh(a(0))
        if op == "Exp":
            return np.exp(a(0))
        if op == "Square":
            return a(0) * a(0)
        if op == "Sqrt":
            return np.sqrt(a(0))
        if op == "Rsqrt":
            return 1 / np.sqrt(a(0))
        if op == "Softmax":
            x = a(0)
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        if op in ("Mean", "Sum", "Max"):
            x = a(0)
            axes = np.array(a(1)).reshape(-1).astype(int)
            axes = tuple(int(v) % x.ndim for v in axes)
            keep = _attr(node, "keep_dims", False)
            f = {"Mean": np.mean, "Sum": np.sum, "Max": np.max}[op]
            return f(x, axis=axes, keepdims=keep)
        if op == "Reshape":
            x = a(0)
            return x.reshape([int(v) for v in np.array(a(1)).reshape(-1)])
        if op == "Squeeze":
            x = a(0)
            dims = _attr(node, "squeeze_dims", []) or [i for i, s in enumerate(x.shape) if s == 1]
            return np.squeeze(x, axis=tuple(int(d) % x.ndim for d in dims))
        if op == "Pad":
            p = np.array(a(1)).astype(int)
            return np.pad(a(0), [(int(r[0]), int(r[1])) for r in p])
        if op in ("MaxPool", "AvgPool"):
            x = a(0)
            k = _attr(node, "ksize")
            s = _attr(node, "strides")
            pad = _attr(node, "padding")
            if op == "MaxPool":
                fill = -np.inf
                xp = x
            ps = _patches(x, k[1], k[2], s[1], s[2], 1, 1, pad)
            if op == "MaxPool":
                # padded cells must not win: compute with -inf padding
                ones = _patches(np.ones_like(x[..., :1]), k[1], k[2], s[1], s[2], 1, 1, pad)
                return np.max(np.stack([np.where(ones[key] > 0, v, fill) for key, v in ps.items()]), axis=0)
            ones = _patches(np.ones_like(x[..., :1]), k[1], k[2], s[1], s[2], 1, 1, pad)
            return sum(ps.values()) / sum(ones.values())
        if op == "ConcatV2":
            axis = int(np.array(a(len(ins) - 1)))
            return np.concatenate([a(k) for k in range(len(ins) - 1)], axis=axis)
        if op == "Cast":
            dst = _attr(node, "DstT")
            x = a(0)
            return x.astype(np.int64) if dst == "DT_INT32" else x.astype(np.float64)
        if op == "StridedSlice":
            return _strided_slice(a(0), node, np.array(a(1)).reshape(-1), np.array(a(2)).reshape(-1),
                                  np.array(a(3)).reshape(-1))
        raise NotImplementedError("unsupported op %s (node %s)" % (op, name))

    return [value(w) for w in wanted]


def default_outputs(model):
    sig = model.get("signature") or model.get("userDefinedMetadata", {}).get("signature") or {}
    outs = sig.get("outputs")
    if outs:
        return [v.get("name", k).split(":")[0] for k, v in outs.items()]
    nodes = model["modelTopology"]["node"]
    used = {i.split(":")[0].lstrip("^") for n in nodes for i in n.get("input", [])}
    return sorted(n["name"] for n in nodes if n["name"] not in used and n["op"] != "Const")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--input", required=True)
    ap.add_argument("--shape", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--node", action="append", default=[])
    ap.add_argument("--repair-tfjs-prelu", action="store_true")
    args = ap.parse_args()
    model = json.load(open(args.model))
    weights = _read_weights(args.model, model)
    shape = [int(s) for s in args.shape.split(",")]
    x = np.fromfile(args.input, dtype="<f4")
    if x.size != int(np.prod(shape)):
        sys.exit("tfjs_reference: %s has %d floats, shape %s needs %d" % (args.input, x.size, shape, int(np.prod(shape))))
    x = x.reshape(shape).astype(np.float64)
    wanted = [n.split(":")[0] for n in args.node] or default_outputs(model)
    try:
        results = evaluate(model, weights, x, wanted, args.repair_tfjs_prelu)
    except (NotImplementedError, KeyError, ValueError) as e:
        sys.exit("tfjs_reference: %s" % e)
    for k, (name, r) in enumerate(zip(wanted, results)):
        path = args.output if len(wanted) == 1 else "%s.%d" % (args.output, k)
        np.asarray(r, dtype="<f4").tofile(path)
        print("%s %s %s" % (path, name, ",".join(str(d) for d in np.shape(r))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
