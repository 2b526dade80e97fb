"""ONNX helpers for Optimum-layout VisionEncoderDecoder exports from torch 1.13:
trace export, an Optimum-style merged decoder (an `If` on use_cache_branch whose
branches share one set of initializers) and name compaction. Same approach as
training/tinymodel/make_tiny_model.py, parameterised by heads/head_dim.

Two cache layouts: GPT-2's self-attention cache only (past_key_values.N.key/value;
NoPast/WithPast, the tiny model), and Optimum's seq2seq layout with the cross-attention
keys/values cached too (past_key_values.N.decoder.* and .encoder.*; NoPastCross/
WithPastCross, the captioner): the no-past branch computes the encoder keys/values once,
the with-past branch takes them as inputs and returns empty placeholders for them."""

import hashlib
import io

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

OPSET = 14


def export(module, args, inputs, outputs, axes, opset=OPSET):
    buf = io.BytesIO()
    torch.onnx.export(module, args, buf, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                      opset_version=opset, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


class NoPast(torch.nn.Module):
    """Decoder as exported without a cache: outputs logits and flat presents."""

    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, input_ids, encoder_hidden_states):
        logits, presents = self.dec(input_ids, encoder_hidden_states)
        return (logits,) + tuple(t for kv in presents for t in kv)


class WithPast(torch.nn.Module):
    """Decoder as exported with a cache: flat (key, value) pasts in, presents out."""

    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, input_ids, encoder_hidden_states, *flat):
        pasts = [(flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)]
        logits, presents = self.dec(input_ids, encoder_hidden_states, pasts)
        return (logits,) + tuple(t for kv in presents for t in kv)


class NoPastCross(torch.nn.Module):
    """Decoder without a cache, Optimum seq2seq layout: logits, then per layer the
    self-attention presents and the cross-attention keys/values of the encoder states."""

    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, input_ids, encoder_hidden_states):
        cross = [blk.cross_kv(encoder_hidden_states) for blk in self.dec.h]
        logits, presents = self.dec(input_ids, encoder_hidden_states, cross=cross)
        return (logits,) + tuple(t for kv, ckv in zip(presents, cross) for t in kv + ckv)


class WithPastCross(torch.nn.Module):
    """Decoder with a cache, Optimum seq2seq layout: per layer (decoder key, value, encoder
    key, value) in, logits and the self-attention presents out. encoder_hidden_states is
    not used (the cached encoder keys/values replace it), so the trace drops it."""

    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, input_ids, encoder_hidden_states, *flat):
        layers = [flat[4 * i:4 * i + 4] for i in range(len(flat) // 4)]
        pasts, cross = [(l[0], l[1]) for l in layers], [(l[2], l[3]) for l in layers]
        logits, presents = self.dec(input_ids, None, pasts, cross=cross)
        return (logits,) + tuple(t for kv in presents for t in kv)


def past_names(prefix, n_layer, cross=False, parts=("decoder", "encoder")):
    """Cache names per layer: N.key, N.value (self-attention only), or with cross=True
    Optimum's seq2seq N.decoder.key, N.decoder.value, N.encoder.key, N.encoder.value
    (parts=("decoder",) for the self-attention half alone)."""
    if not cross:
        return [f"{prefix}.{i}.{kv}" for i in range(n_layer) for kv in ("key", "value")]
    return [f"{prefix}.{i}.{part}.{kv}" for i in range(n_layer) for part in parts for kv in ("key", "value")]


def set_output_shape(model, name, dims):
    """Overwrite an output's declared shape (torch 1.13's shape inference gives a channel
    slice's maximum the dynamic name of an unrelated axis)."""
    (o,) = [o for o in model.graph.output if o.name == name]
    o.CopyFrom(helper.make_tensor_value_info(name, o.type.tensor_type.elem_type, dims))


def decoder_axes(n_layer, cross=False):
    """dynamic_axes for the no-past and with-past decoder exports."""
    presents = past_names("present", n_layer, cross, ("decoder",))
    pasts = past_names("past_key_values", n_layer, cross, ("decoder",))
    base = {"input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
            "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
            "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    nopast = dict(base, **{n: {0: "batch_size", 2: "decoder_sequence_length"} for n in presents})
    withpast = dict(base, **{n: {0: "batch_size", 2: "past_decoder_sequence_length"} for n in pasts})
    withpast.update({n: {0: "batch_size", 2: "past_decoder_sequence_length + 1"} for n in presents})
    if cross:
        enc = {0: "batch_size", 2: "encoder_sequence_length"}
        nopast.update({n: enc for n in past_names("present", n_layer, True, ("encoder",))})
        withpast.update({n: enc for n in past_names("past_key_values", n_layer, True, ("encoder",))})
    return nopast, withpast


def merge_decoders(nopast, withpast, heads, head_dim, producer):
    """One graph: If(use_cache_branch) then with-past else no-past; identical
    initializers are stored once in the outer graph. The inputs are both graphs'
    (no-past first); the outputs are the no-past graph's, and those the with-past graph
    lacks (the encoder keys/values) come out of it as empty constants [0, heads, 1,
    head_dim], as in Optimum's merge: clients keep the first step's."""
    shared, by_key, used = [], {}, set()
    out_names = [o.name for o in nopast.graph.output]

    def branch(model, tag):
        g = model.graph
        rename = {}
        for init in g.initializer:
            arr = numpy_helper.to_array(init)
            key = hashlib.sha256(str((arr.dtype, arr.shape)).encode() + arr.tobytes()).hexdigest()
            if key not in by_key:
                name = init.name
                while name in used:
                    name = tag + "_" + name
                used.add(name)
                by_key[key] = name
                shared.append(numpy_helper.from_array(arr, name))
            rename[init.name] = by_key[key]
        outer = {i.name for i in g.input}
        for node in g.node:
            for o in node.output:
                if o and o not in rename:
                    rename[o] = f"{tag}/{o}"
        nodes = []
        for node in g.node:
            n = onnx.NodeProto()
            n.CopyFrom(node)
            n.name = f"{tag}/{node.name}"
            n.input[:] = [i if i in outer else rename.get(i, i) for i in node.input]
            n.output[:] = [rename.get(o, o) for o in node.output]
            nodes.append(n)
        have = {o.name for o in g.output}
        for name in out_names:
            if name not in have:
                rename[name] = f"{tag}/{name}"
                empty = helper.make_tensor("empty", TensorProto.FLOAT, [0, heads, 1, head_dim], [])
                nodes.append(helper.make_node("Constant", [], [rename[name]], name=f"{tag}/empty/{name}", value=empty))
        outs = [helper.make_tensor_value_info(rename[o], TensorProto.FLOAT, None) for o in out_names]
        return helper.make_graph(nodes, f"{tag}_graph", [], outs)

    then_g = branch(withpast, "with_past")
    else_g = branch(nopast, "no_past")
    node = helper.make_node("If", ["use_cache_branch"], out_names, name="optimum::if",
                            then_branch=then_g, else_branch=else_g)
    inputs, seen = [], set()
    for i in list(nopast.graph.input) + list(withpast.graph.input):
        if i.name not in seen:
            seen.add(i.name)
            inputs.append(i)
    inputs.append(helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]))
    outputs = []
    for o in nopast.graph.output:
        if o.name == "logits":
            dims = ["batch_size", "decoder_sequence_length", o.type.tensor_type.shape.dim[2].dim_value]
        elif ".encoder." in o.name:
            dims = ["batch_size", heads, "encoder_sequence_length", head_dim]
        else:
            dims = ["batch_size", heads, "present_sequence_length", head_dim]
        outputs.append(helper.make_tensor_value_info(o.name, TensorProto.FLOAT, dims))
    graph = helper.make_graph([node], "merged_decoder", inputs, outputs, initializer=shared)
    merged = helper.make_model(graph, opset_imports=withpast.opset_import, producer_name=producer)
    merged.ir_version = withpast.ir_version
    onnx.checker.check_model(merged)
    return merged


def compact(model, producer):
    """Drop torch's doc strings and shorten internal value names."""
    model.producer_name = producer
    model.producer_version = ""
    keep = {v.name for v in model.graph.input} | {v.name for v in model.graph.output}
    keep |= {i.name for i in model.graph.initializer}
    names = {}

    def short(name):
        if not name or name in keep:
            return name
        if name not in names:
            names[name] = f"t{len(names)}"
        return names[name]

    def walk(g, outer):
        inner = outer | {i.name for i in g.initializer}
        for n in g.node:
            n.doc_string = ""
            n.name = ""
            n.input[:] = [i if i in inner else short(i) for i in n.input]
            n.output[:] = [short(o) for o in n.output]
            for a in n.attribute:
                if a.HasField("g"):
                    walk(a.g, inner)
        if g is not model.graph:
            for o in g.output:
                o.name = short(o.name)

    walk(model.graph, keep)
    return model


def exact_fp16_initializers(model, min_size=1024):
    """Store float32 initializers that float16 holds exactly (CenterNet's weights were
    float16 to begin with) as float16 behind a Cast. Lossless; ONNX Runtime folds the
    Casts when it loads the model, so inference still runs in float32."""
    g = model.graph
    casts, kept = [], []
    for init in g.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and a.size >= min_size and np.array_equal(a.astype(np.float16).astype(np.float32), a):
            half = numpy_helper.from_array(a.astype(np.float16), init.name + "_fp16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
        else:
            kept.append(init)
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return model, len(casts)


def _constant(name, producers, initializers, cache):
    """The value of a tensor computed from constants only (numpy), or None. torch 1.13 exports
    F.pad's pads as a small Constant/ConstantOfShape/Concat/... subgraph that its constant
    folding leaves in place."""
    if name in cache:
        return cache[name]
    if name in initializers:
        return numpy_helper.to_array(initializers[name])
    n = producers.get(name)
    if n is None:
        return None
    a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
    ins = [_constant(i, producers, initializers, cache) if i else None for i in n.input]
    if any(v is None for v, i in zip(ins, n.input) if i):
        return None
    if n.op_type == "Constant":
        v = numpy_helper.to_array(a["value"])
    elif n.op_type == "ConstantOfShape":
        fill = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        v = np.full(ins[0].astype(np.int64), fill[0], fill.dtype)
    elif n.op_type == "Concat":
        v = np.concatenate(ins, axis=a["axis"])
    elif n.op_type == "Reshape":
        v = ins[0].reshape(ins[1])
    elif n.op_type == "Transpose":
        v = ins[0].transpose(a.get("perm"))
    elif n.op_type == "Cast":
        v = ins[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]])
    elif n.op_type == "Slice" and len(ins) >= 4:
        axes = ins[3] if ins[3] is not None else range(len(ins[1]))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(ins[1])
        sl = [slice(None)] * ins[0].ndim
        for s, e, ax, st in zip(ins[1], ins[2], axes, steps):
            sl[ax] = slice(int(s), int(e), int(st))  # numpy clamps like ONNX does
        v = ins[0][tuple(sl)]
    else:
        return None
    cache[name] = v
    return v


def _legacy_resize_axis(add, producers, consumers, constant):
    """Matches out = lo + (hi - lo) * f with lo, hi = Gather(x, LO/HI, axis) and f constant, as
    training/backbone/tf_graph_torch.py's resize_bilinear_legacy exports one axis; returns
    (x, axis, scale, nodes) when LO, HI and f are those of an integer upscale, else None."""
    if add.op_type != "Add":
        return None
    lo, mul = (producers.get(i) for i in add.input)
    if lo is None or mul is None or lo.op_type != "Gather" or mul.op_type != "Mul":
        lo, mul = mul, lo
    if lo is None or mul is None or lo.op_type != "Gather" or mul.op_type != "Mul":
        return None
    sub, f = producers.get(mul.input[0]), constant(mul.input[1])
    if sub is None or sub.op_type != "Sub" or f is None or sub.input[1] != lo.output[0]:
        return None
    hi = producers.get(sub.input[0])
    if hi is None or hi.op_type != "Gather" or hi.input[0] != lo.input[0]:
        return None
    axis = {x.name: x.i for x in lo.attribute}.get("axis", 0)
    if {x.name: x.i for x in hi.attribute}.get("axis", 0) != axis:
        return None
    lo_i, hi_i = constant(lo.input[1]), constant(hi.input[1])
    if lo_i is None or hi_i is None or lo_i.ndim != 1:
        return None
    n_in, n_out = int(hi_i.max()) + 1, len(lo_i)
    if n_out % n_in:
        return None
    src = np.arange(n_out) / (n_out // n_in)
    want_lo = np.floor(src).astype(np.int64)
    if not (np.array_equal(lo_i, want_lo) and np.array_equal(hi_i, np.minimum(want_lo + 1, n_in - 1))
            and np.allclose(f.reshape(-1), src - want_lo)):
        return None
    inner = [lo, hi, sub, mul]
    if any(len(consumers.get(o, [])) != (2 if n is lo else 1) for n in inner for o in n.output):
        return None
    return lo.input[0], axis, n_out // n_in, inner + [add]


def fold_encoder(model):
    """Rewrites two patterns of the converted backbones for ONNX Runtime, exactly:
    - F.pad (zeros) before a Conv becomes the Conv's own pads (TF's SAME padding is asymmetric,
      torch's conv2d padding is not), so no padded copy is made;
    - TF1's legacy bilinear resize, exported as index Gathers, becomes one Resize (linear,
      asymmetric: the same source coordinates, dst / scale) per upsampling.
    Both were plain copies that also broke ONNX Runtime's blocked-layout chains.
    Returns (model, pads folded, resizes)."""
    g = model.graph
    producers = {o: n for n in g.node for o in n.output}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    initializers = {i.name: i for i in g.initializer}
    cache = {}

    def constant(name):
        return _constant(name, producers, initializers, cache)

    drop = _fold_pads(g, consumers, constant)
    pads_folded = len(drop)
    rename = _fold_resizes(g, producers, consumers, constant, drop)
    kept = [rename.get(id(n), n) for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(kept)
    _drop_unused(g)
    onnx.checker.check_model(model)
    return model, pads_folded, len(rename)


def _fold_pads(g, consumers, constant):
    """Moves zero Pads into the Conv after them (and drops no-op Pads); returns the ids of the
    Pad nodes to drop."""
    drop = set()
    outputs = {o.name for o in g.output}
    for n in g.node:
        if n.op_type != "Pad" or n.output[0] in outputs:
            continue
        pads = constant(n.input[1])
        if pads is not None and not pads.any():  # a no-op copy
            for c in consumers.get(n.output[0], []):
                c.input[:] = [n.input[0] if i == n.output[0] else i for i in c.input]
            drop.add(id(n))
            continue
        if len(consumers.get(n.output[0], [])) != 1:
            continue
        conv = consumers[n.output[0]][0]
        mode = {x.name: x.s for x in n.attribute}.get("mode", b"constant")
        value = constant(n.input[2]) if len(n.input) > 2 and n.input[2] else np.zeros(1)
        if conv.op_type != "Conv" or mode != b"constant" or pads is None or value is None or np.any(value != 0):
            continue
        if pads.shape != (8,) or np.any(pads < 0) or np.any(pads[[0, 1, 4, 5]] != 0):
            continue
        attr = next((x for x in conv.attribute if x.name == "pads"), None)
        old = list(attr.ints) if attr else [0, 0, 0, 0]
        new = [old[0] + int(pads[2]), old[1] + int(pads[3]), old[2] + int(pads[6]), old[3] + int(pads[7])]
        if attr:
            conv.attribute.remove(attr)
        conv.attribute.append(helper.make_attribute("pads", new))
        conv.input[0] = n.input[0]
        drop.add(id(n))
    return drop


def _fold_resizes(g, producers, consumers, constant, drop):
    """Replaces each legacy resize (both axes when they follow each other) by one Resize: adds
    its scales initializer, the replaced nodes' ids to drop; returns {id(last node): Resize}."""
    rename, claimed = {}, set()
    for n in g.node:
        first = _legacy_resize_axis(n, producers, consumers, constant) if id(n) not in claimed else None
        if first is None:
            continue
        x, axis, scale, nodes = first
        scales = [1.0, 1.0, 1.0, 1.0]
        scales[axis] = float(scale)
        out = n
        # the other axis's resize of this one's output joins it (bilinear is separable)
        lo2 = [c for c in consumers.get(n.output[0], []) if c.op_type == "Gather"]
        add2 = [c for lo in lo2 for c in consumers.get(lo.output[0], []) if c.op_type == "Add"]
        second = _legacy_resize_axis(add2[0], producers, consumers, constant) if len(add2) == 1 else None
        if second and second[0] == n.output[0] and second[1] != axis and len(consumers[n.output[0]]) == 2:
            scales[second[1]] = float(second[2])
            nodes += second[3]
            out = add2[0]
        claimed.update(id(d) for d in nodes)
        name = out.output[0] + "_scales"
        g.initializer.append(numpy_helper.from_array(np.array(scales, np.float32), name))
        rename[id(out)] = helper.make_node("Resize", [x, "", name], [out.output[0]], mode="linear",
                                           coordinate_transformation_mode="asymmetric")
        drop.update(id(d) for d in nodes if d is not out)
    return rename


def _drop_unused(g):
    """Removes the nodes and initializers no graph output depends on (what the folds left:
    the pads' constant subgraphs, the Gathers' indices)."""
    used = {o.name for o in g.output}
    kept = []
    for n in reversed(g.node):  # topological order: consumers come after producers
        if any(o in used for o in n.output):
            kept.append(n)
            used.update(n.input)
    del g.node[:]
    g.node.extend(reversed(kept))
    inits = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)
