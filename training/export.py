#!/usr/bin/python3
"""Stage 5: export the trained captioner in the Optimum/transformers.js layout.

    /usr/bin/python3 -m training.export [--backbone B] [--run RUN] [--out DIR] [--data DIR]

Writes, into --out (default training/work/model; run.sh --install puts it in models/),
onnx/encoder_model.onnx (pixel_values -> last_hidden_state: backbone, projection, 2-D
positions, encoder layer; with CenterNet in the backbone also detector_scores [batch, 80],
the sigmoid of each COCO class's heatmap maximum, in training/coco.py's CLASSES order; with a
fine-tuned CenterNet, of the ORIGINAL detector's heatmap: centernet.SharedDetector runs the
layers fine-tuning changed a second time with the converted weights, for the scores only),
onnx/decoder_model_merged.onnx (If on use_cache_branch; Optimum's seq2seq cache:
past_key_values.N.decoder.* for self-attention and past_key_values.N.encoder.*, the
cross-attention keys/values, computed once by the no-past branch), and
onnx/decoder_model.onnx when the folder stays under --max-mb; config.json,
generation_config.json, preprocessor_config.json, tokenizer.json, tokenizer_config.json.
Then captions a few test images in PyTorch from the raw pixels (float32 end to end) into
training/work/export_reference.json, for comparison with `go run . caption`.
"""

import argparse
import json
import os

import onnx
import torch

from training import recipe
from training.backbone import centernet
from training.backbones import BACKBONES, detector_channels, load_finetuned, parts
from training.data import WORK, data_dir, read_split, save_json
from training.decode import beam_search, greedy_batch
from training.images import MEAN, RESCALE, STD, preprocess
from training.model import Encoder, load_run
from training.onnx_export import (NoPastCross, WithPastCross, compact, decoder_axes, exact_fp16_initializers, fold_encoder,
                                  export, merge_decoders, past_names, set_output_shape)
from training.text import BOS, EOS, PAD, SPECIALS, decode

PRODUCER = "captionai-training"
N_REFERENCE = 20


class EncoderWithScores(torch.nn.Module):
    """The encoder plus detector_scores: CenterNet's class logits are already max-pooled onto
    the grid, so their maximum over the cells is the heatmap's, and its sigmoid the
    detector's best score for that class anywhere in the image. With a fine-tuned CenterNet
    (detector: its centernet.SharedDetector in the backbone) the scores come from the
    original detector's logits instead, which that pass computes beside the features."""

    def __init__(self, enc, channels, detector=None):
        super().__init__()
        self.enc, (self.lo, self.hi) = enc, channels
        self.detector = detector

    def forward(self, pixel_values):
        f = self.enc.features(pixel_values)
        if self.detector is not None:
            return self.enc.head(f), torch.sigmoid(self.detector.detector_logits.amax((2, 3)))
        return self.enc.head(f), torch.sigmoid(f[:, :, self.lo:self.hi].amax(1))


def original_detector(backbone):
    """When fine-tuning changed the backbone's CenterNet, put a centernet.SharedDetector in its
    place (same features, plus the original detector's class logits for detector_scores) and
    return it; else None."""
    models = getattr(backbone, "models", [backbone])
    for i, m in enumerate(models):
        if isinstance(m, centernet.CenterNetFeatures):
            original = centernet.CenterNetFeatures(centernet.load_graph(WORK, (centernet.CLASS_LOGITS,))).eval()
            shared = centernet.SharedDetector(m, original).eval()
            if not shared.rerun:
                return None
            if models is backbone:
                raise ValueError("a fine-tuned CenterNet alone: export it as part of a combination")
            backbone.models[i] = shared
            return shared
    return None


def tokenizer_files(itos, n_positions):
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(SPECIALS)]
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        # text.words(): lowercase, anything but [a-z0-9 ] becomes a space, split on whitespace.
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Lowercase"}, {"type": "Replace", "pattern": {"Regex": "[^a-z0-9\\s]+"}, "content": " "}]},
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<bos>": {"id": "<bos>", "ids": [BOS], "tokens": ["<bos>"]}}},
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {t: i for i, t in enumerate(itos)}, "unk_token": "<unk>"},
    }
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<bos>", "eos_token": "<eos>",
           "unk_token": "<unk>", "pad_token": "<pad>", "model_max_length": n_positions,
           "clean_up_tokenization_spaces": False, "added_tokens_decoder": {
               str(i): {k: v for k, v in a.items() if k != "id"} for i, a in enumerate(added)}}
    return tok, cfg


def parser():
    r = recipe.settings("export")
    ap = argparse.ArgumentParser(description="Stage 5: ONNX + JSON model folder.")
    ap.add_argument("--backbone", default=r["backbone"], choices=sorted(BACKBONES))
    ap.add_argument("--data")
    ap.add_argument("--run", help="default training/work/runs/<backbone>")
    ap.add_argument("--out", default=os.path.join(WORK, "model"), help="model folder (default training/work/model)")
    ap.add_argument("--max-mb", type=float, default=r["max_mb"])
    ap.add_argument("--threads", type=int, default=r["threads"])
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    data = data_dir(args.data)
    spec = BACKBONES[args.backbone]
    run = args.run or os.path.join(WORK, "runs", args.backbone)
    model, ck = load_run(run)
    c = model.c
    itos = ck["vocab"]
    with open(os.path.join(run, "decoding.json")) as f:
        decoding = json.load(f)
    backbone = load_finetuned(args.backbone, ck)
    shared = original_detector(backbone) if detector_channels(args.backbone) else None
    if shared:
        print(f"detector_scores: the original CenterNet's class logits; {len(shared.rerun)} of "
              f"{len(shared.original.nodes)} nodes run a second time with the original weights")
    enc_model = Encoder(backbone, model.head).eval()
    onnx_dir = os.path.join(args.out, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)

    size = spec["size"]
    pixels = torch.zeros(1, 3, size, size)
    detector = detector_channels(args.backbone)
    enc_axes = {"pixel_values": {0: "batch_size"}, "last_hidden_state": {0: "batch_size", 1: "encoder_sequence_length"}}
    if detector:
        enc_axes["detector_scores"] = {0: "batch_size"}
    with torch.no_grad():
        encoder = export(EncoderWithScores(enc_model, detector, shared).eval() if detector else enc_model, (pixels,),
                         ["pixel_values"], list(enc_axes)[1:], enc_axes)
        if detector:
            set_output_shape(encoder, "detector_scores", ["batch_size", detector[1] - detector[0]])
        hidden = enc_model(pixels)
        ids = torch.tensor([[BOS, 5]], dtype=torch.int64)
        nopast_axes, withpast_axes = decoder_axes(c.n_layer, cross=True)
        presents = past_names("present", c.n_layer, cross=True)
        nopast = export(NoPastCross(model.dec).eval(), (ids, hidden), ["input_ids", "encoder_hidden_states"],
                        ["logits"] + presents, nopast_axes)
        pasts = past_names("past_key_values", c.n_layer, cross=True)
        dummy = tuple(torch.randn(1, c.n_head, hidden.shape[1] if ".encoder." in n else 3, c.head_dim) for n in pasts)
        withpast = export(WithPastCross(model.dec).eval(), (ids[:, :1], hidden) + dummy,
                          ["input_ids", "encoder_hidden_states"] + pasts,
                          ["logits"] + past_names("present", c.n_layer, True, ("decoder",)), withpast_axes)
    merged = merge_decoders(nopast, withpast, c.n_head, c.head_dim, PRODUCER)
    encoder, n_pads, n_resizes = fold_encoder(encoder)
    print(f"encoder: {n_pads} pads folded into convolutions, {n_resizes} legacy resizes as Resize")
    encoder, n_half = exact_fp16_initializers(encoder)
    print(f"encoder: {n_half} initializers stored as float16 (exact)")
    files = [("encoder_model", encoder), ("decoder_model_merged", merged), ("decoder_model", nopast)]
    total = 0
    for name, m in files:
        onnx.checker.check_model(m)
        path = os.path.join(onnx_dir, name + ".onnx")
        data_bytes = compact(m, PRODUCER).SerializeToString()
        if name == "decoder_model" and (total + len(data_bytes)) / 2 ** 20 > args.max_mb - 0.5:
            print(f"skipping {name}.onnx ({len(data_bytes) / 2**20:.1f} MB): the folder would pass {args.max_mb} MB")
            if os.path.exists(path):
                os.remove(path)
            continue
        with open(path, "wb") as f:
            f.write(data_bytes)
        total += len(data_bytes)
        print(f"wrote {path} ({len(data_bytes) / 2**20:.1f} MB)")

    ids = {"bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD, "decoder_start_token_id": BOS}
    config = {
        "architectures": ["VisionEncoderDecoderModel"], "model_type": "vision-encoder-decoder",
        "is_encoder_decoder": True, "tie_word_embeddings": True, **ids,
        "encoder": {
            "model_type": args.backbone,
            "image_size": size, "num_channels": 3, "hidden_size": c.n_embd,
            "backbone_channels": c.feat_channels, "grid_size": c.grid, "num_hidden_layers": c.enc_layers,
            "num_attention_heads": c.n_head, "intermediate_size": c.n_inner,
            "backbone_source": " + ".join(BACKBONES[p]["source"] for p in parts(args.backbone)),
        },
        # A GPT-2 block with cross-attention, described as TrOCR's decoder: transformers.js
        # feeds the past_key_values.N.encoder.* inputs only for decoder types it maps to
        # encoder-decoder caches (its getNormalizedConfig: trocr reads decoder_layers,
        # decoder_attention_heads, d_model); with "gpt2" it would feed N.key/N.value only.
        # The GPT-2 names stay for readers (and the Go app, which reads either).
        "decoder": dict(ids, model_type="trocr", vocab_size=len(itos), d_model=c.n_embd,
                        decoder_attention_heads=c.n_head, decoder_layers=c.n_layer, decoder_ffn_dim=c.n_inner,
                        max_position_embeddings=c.n_positions, n_embd=c.n_embd, n_head=c.n_head,
                        n_layer=c.n_layer, n_inner=c.n_inner, n_positions=c.n_positions,
                        add_cross_attention=True, is_decoder=True, activation_function="gelu_new",
                        layer_norm_epsilon=1e-5, tie_word_embeddings=True, scale_attn_weights=True),
    }
    generation = dict(ids, max_length=decoding["max_length"], num_beams=decoding["num_beams"],
                      no_repeat_ngram_size=decoding["no_repeat_ngram_size"],
                      length_penalty=decoding["length_penalty"], early_stopping=decoding["early_stopping"],
                      bad_words_ids=decoding["bad_words_ids"])
    preprocessor = {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": MEAN,
                    "image_std": STD, "image_processor_type": "ViTImageProcessor", "resample": 2,
                    "rescale_factor": RESCALE, "size": {"height": size, "width": size}}
    tok, tok_cfg = tokenizer_files(itos, c.n_positions)
    for name, obj in [("config.json", config), ("generation_config.json", generation),
                      ("preprocessor_config.json", preprocessor), ("tokenizer.json", tok),
                      ("tokenizer_config.json", tok_cfg)]:
        save_json(os.path.join(args.out, name), obj)

    # PyTorch reference captions from raw pixels for the Go comparison. torch.onnx.export
    # restores each wrapper's train/eval mode afterwards; make sure dropout is off.
    model.eval()
    enc_model.eval()
    assert not any(mod.training for mod in list(model.modules()) + list(enc_model.modules()))
    test = read_split(data, "test")[:N_REFERENCE]
    refs = []
    g = dict(max_length=decoding["max_length"], no_repeat=decoding["no_repeat_ngram_size"],
             bad_words=decoding["bad_words_ids"])
    with torch.no_grad():
        for img in test:
            path = os.path.join(data, "images", img)
            h = enc_model(torch.from_numpy(preprocess(path, size))[None])
            b, score = beam_search(model.dec, h, decoding["num_beams"], g["max_length"], g["no_repeat"], g["bad_words"],
                                   decoding["length_penalty"])
            gr = greedy_batch(model.dec, h, g["max_length"], g["no_repeat"], g["bad_words"])[0]
            refs.append({"image": img, "beam": {"ids": b, "text": decode(b, itos), "score": score},
                         "greedy": {"ids": gr, "text": decode(gr, itos)},
                         "encoder_first": [round(float(v), 6) for v in h.reshape(-1)[:4]]})
            print(f"{img}\tbeam: {decode(b, itos)}\tgreedy: {decode(gr, itos)}")
    save_json(os.path.join(WORK, "export_reference.json"), {"model": args.out, "images": refs})
    print(f"wrote {args.out} and {WORK}/export_reference.json")


if __name__ == "__main__":
    main()
