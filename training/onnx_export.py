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
