#!/usr/bin/python3
"""Build a tiny random ViT + GPT-2 captioner in Hugging Face Optimum's ONNX layout.

The output is test data for the Go inference package: the same file layout,
tensor names and merged-decoder `If` structure as Optimum's
VisionEncoderDecoder exports (e.g. Xenova/vit-gpt2-image-captioning), a
byte-level BPE tokenizer.json, and reference.json with pixel values, encoder
checksums and greedy / beam-search token ids computed here in PyTorch without
a KV cache.

Needs only Debian's python3-torch, python3-onnx, python3-numpy and python3-pil.

    /usr/bin/python3 -m training.tinymodel.make_tiny_model [--out DIR]   (from the repository root)
"""

import argparse
import base64
import collections
import hashlib
import json
import os
import re

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

# The export helpers are shared with the real model's pipeline (package training).
from training.decode import ban
from training.model import attend, gelu_new, merge_heads, split_heads
from training.onnx_export import NoPast, WithPast, compact, decoder_axes, export, merge_decoders, past_names

PRODUCER = "make_tiny_model"

SEED = 7

IMAGE_SIZE = 32
PATCH = 8
HIDDEN = 32
ENC_LAYERS = 2
ENC_HEADS = 2
ENC_INNER = 64

N_EMBD = HIDDEN
N_HEAD = 2
HEAD_DIM = N_EMBD // N_HEAD
N_LAYER = 2
N_INNER = 64
N_POSITIONS = 64
N_MERGES = 63  # vocab = 256 byte symbols + merges + <|endoftext|>

HEAD_STD = 0.6  # lm_head weight std: logits spread enough for clear argmaxes
EOS_BIAS = 8.0
WORD_BIAS = 3.0
BYTE_BIAS = -1.0
CROSS_GAIN = 2.0
MAX_LENGTH = 12
NUM_BEAMS = 3
NO_REPEAT_NGRAM = 3
MEAN = [0.5, 0.5, 0.5]
STD = [0.5, 0.5, 0.5]
RESCALE = 1 / 255

CORPUS = [
    "a dog sitting on a couch in a living room",
    "a man riding a wave on top of a surfboard",
    "a cat laying on a bed next to a window",
    "a group of people standing in a field",
    "a plate of food with broccoli and rice",
    "a red stop sign on the side of a street",
    "a woman holding an umbrella in the rain",
    "two giraffes standing next to each other",
    "a train traveling down the tracks near a station",
    "a bowl of fruit on a wooden table",
    "a man and a woman sitting at a table",
    "a large clock tower in the middle of a city",
    "a small bird sitting on a tree branch",
    "a kitchen with a stove and a sink",
    "a person riding a bike down the street",
    "a cafe with a view of the sea",
]


# ---------------------------------------------------------------- tokenizer


def byte_alphabet():
    """GPT-2's reversible byte -> printable unicode character mapping."""
    keep = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\u00a1"), ord("\u00ac") + 1))
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    )
    order = list(keep)
    chars = list(keep)
    extra = 0
    for b in range(256):
        if b not in keep:
            order.append(b)
            chars.append(256 + extra)
            extra += 1
    return order, {b: chr(c) for b, c in zip(order, chars)}


def train_bpe(corpus, n_merges):
    order, b2u = byte_alphabet()
    words = collections.Counter()
    for line in corpus:
        for w in re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+", line):
            words[tuple(b2u[b] for b in w.encode("utf-8"))] += 1
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], [-ord(c) for c in kv[0][0] + kv[0][1]]))[0]
        merges.append(best)
        merged = collections.Counter()
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    vocab = {}
    for b in order:
        vocab[b2u[b]] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    eos = len(vocab)
    vocab["<|endoftext|>"] = eos
    return vocab, merges, eos


def tokenizer_json(vocab, merges, eos):
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": eos,
                "content": "<|endoftext|>",
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": True,
                "special": True,
            }
        ],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": dict(byte_level, trim_offsets=False),
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": vocab,
            "merges": [a + " " + b for a, b in merges],
        },
    }


def decode_text(ids, inv_vocab, special):
    """Byte-level decode + HF clean_up_tokenization, trimmed."""
    _, b2u = byte_alphabet()
    u2b = {u: b for b, u in b2u.items()}
    s = "".join(inv_vocab[i] for i in ids if i not in special)
    text = bytes(u2b[c] for c in s).decode("utf-8", errors="replace")
    for a, b in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]:
        text = text.replace(a, b)
    return text.strip()


# ---------------------------------------------------------------- model


class ViTLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.qkv = nn.Linear(HIDDEN, 3 * HIDDEN)
        self.proj = nn.Linear(HIDDEN, HIDDEN)
        self.ln2 = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.fc1 = nn.Linear(HIDDEN, ENC_INNER)
        self.fc2 = nn.Linear(ENC_INNER, HIDDEN)

    def forward(self, x):
        q, k, v = self.qkv(self.ln1(x)).split(HIDDEN, dim=-1)
        a = attend(split_heads(q, ENC_HEADS), split_heads(k, ENC_HEADS), split_heads(v, ENC_HEADS), HIDDEN // ENC_HEADS)
        x = x + self.proj(merge_heads(a))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ViTEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        n = (IMAGE_SIZE // PATCH) ** 2
        self.patch = nn.Conv2d(3, HIDDEN, PATCH, stride=PATCH)
        self.cls = nn.Parameter(torch.randn(1, 1, HIDDEN) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, n + 1, HIDDEN) * 0.5)
        self.layers = nn.ModuleList([ViTLayer() for _ in range(ENC_LAYERS)])
        self.ln = nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, pixel_values):
        x = self.patch(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.ln(x)


class GPT2Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(N_EMBD)
        self.c_attn = nn.Linear(N_EMBD, 3 * N_EMBD)
        self.c_proj = nn.Linear(N_EMBD, N_EMBD)
        self.ln_cross = nn.LayerNorm(N_EMBD)
        self.q_attn = nn.Linear(N_EMBD, N_EMBD)
        self.kv_attn = nn.Linear(N_EMBD, 2 * N_EMBD)
        self.cross_proj = nn.Linear(N_EMBD, N_EMBD)
        self.ln_2 = nn.LayerNorm(N_EMBD)
        self.c_fc = nn.Linear(N_EMBD, N_INNER)
        self.mlp_proj = nn.Linear(N_INNER, N_EMBD)
        with torch.no_grad():
            # Make the caption depend more on the picture than on the previous tokens.
            self.kv_attn.weight.mul_(CROSS_GAIN)
            self.cross_proj.weight.mul_(CROSS_GAIN)

    def forward(self, x, enc, mask, past):
        q, k, v = self.c_attn(self.ln_1(x)).split(N_EMBD, dim=-1)
        q, k, v = split_heads(q, N_HEAD), split_heads(k, N_HEAD), split_heads(v, N_HEAD)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        x = x + self.c_proj(merge_heads(attend(q, k, v, HEAD_DIM, mask)))
        cq = split_heads(self.q_attn(self.ln_cross(x)), N_HEAD)
        ck, cv = self.kv_attn(enc).split(N_EMBD, dim=-1)
        x = x + self.cross_proj(merge_heads(attend(cq, split_heads(ck, N_HEAD), split_heads(cv, N_HEAD), HEAD_DIM)))
        x = x + self.mlp_proj(gelu_new(self.c_fc(self.ln_2(x))))
        return x, (k, v)


class GPT2Decoder(nn.Module):
    def __init__(self, vocab, eos):
        super().__init__()
        vocab_size = len(vocab)
        self.wte = nn.Embedding(vocab_size, N_EMBD)
        self.wpe = nn.Embedding(N_POSITIONS, N_EMBD)
        self.h = nn.ModuleList([GPT2Block() for _ in range(N_LAYER)])
        self.ln_f = nn.LayerNorm(N_EMBD)
        # Untied on purpose: a random tied head mostly repeats its input token.
        self.lm_head = nn.Linear(N_EMBD, vocab_size)
        with torch.no_grad():
            self.lm_head.weight.normal_(0, HEAD_STD)
            # Favour the merged (word-like) tokens over raw bytes so captions read as words.
            for tok, i in vocab.items():
                if i < 256:
                    self.lm_head.bias[i] = BYTE_BIAS
                elif tok.startswith("\u0120"):
                    self.lm_head.bias[i] = WORD_BIAS
                else:
                    self.lm_head.bias[i] = WORD_BIAS / 2
            self.lm_head.bias[eos] = EOS_BIAS

    def forward(self, input_ids, enc, pasts=None):
        t = input_ids.shape[1]
        p = pasts[0][0].shape[2] if pasts is not None else 0
        q_pos = torch.arange(t) + p
        k_pos = torch.arange(p + t)
        mask = k_pos.unsqueeze(0) <= q_pos.unsqueeze(1)
        x = self.wte(input_ids) + self.wpe(q_pos).unsqueeze(0)
        presents = []
        for i, block in enumerate(self.h):
            x, present = block(x, enc, mask, pasts[i] if pasts is not None else None)
            presents.append(present)
        logits = self.lm_head(self.ln_f(x))
        return logits, presents



# ---------------------------------------------------------------- export


def export_all(enc, dec):
    pixels = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    encoder = export(
        enc, (pixels,), ["pixel_values"], ["last_hidden_state"],
        {"pixel_values": {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"},
         "last_hidden_state": {0: "batch_size", 1: "encoder_sequence_length"}},
    )
    hidden = enc(pixels).detach()
    ids = torch.tensor([[1, 2]], dtype=torch.int64)
    presents = past_names("present", N_LAYER)
    pasts = past_names("past_key_values", N_LAYER)
    nopast_axes, withpast_axes = decoder_axes(N_LAYER)
    nopast = export(NoPast(dec), (ids, hidden), ["input_ids", "encoder_hidden_states"],
                    ["logits"] + presents, nopast_axes)
    dummy = tuple(torch.randn(1, N_HEAD, 3, HEAD_DIM) for _ in pasts)
    withpast = export(WithPast(dec), (ids[:, :1], hidden) + dummy,
                      ["input_ids", "encoder_hidden_states"] + pasts, ["logits"] + presents, withpast_axes)
    return encoder, nopast, withpast


# ---------------------------------------------------------------- images and generation


def make_images():
    """Deterministic test pictures; two need resizing."""
    yy, xx = np.mgrid[0:32, 0:32]
    a = np.stack([xx * 8, yy * 8, (xx + yy) * 4], axis=-1).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:40, 0:48]
    b = np.zeros((40, 48, 3), np.uint8)
    b[..., 0] = np.where(((xx // 6) + (yy // 5)) % 2 == 0, 230, 20)
    b[..., 1] = np.where((xx - 24) ** 2 + (yy - 20) ** 2 < 150, 200, 60)
    b[..., 2] = (yy * 6).clip(0, 255)
    rng = np.random.RandomState(3)
    c = rng.randint(0, 256, size=(64, 64, 3)).astype(np.uint8)
    c[16:48, 16:48, 2] = 255
    return [("gradient.png", a), ("checker.png", b), ("noise.png", c)]


def preprocess(arr):
    """The ViTImageProcessor pipeline: PIL bilinear resize, rescale, normalize, CHW."""
    img = Image.fromarray(arr, "RGB")
    if img.size != (IMAGE_SIZE, IMAGE_SIZE):
        img = img.resize((IMAGE_SIZE, IMAGE_SIZE), resample=Image.BILINEAR, reducing_gap=None)
    x = (np.asarray(img).astype(np.float64) * RESCALE).astype(np.float32)
    x = (x - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return x.transpose(2, 0, 1).copy()


class Margins:
    def __init__(self):
        self.greedy = float("inf")
        self.beam = float("inf")


@torch.no_grad()
def greedy(dec, hidden, start, eos, bad_words, margins):
    seq = [start]
    while len(seq) < MAX_LENGTH:
        logits, _ = dec(torch.tensor([seq]), hidden)
        scores = ban([seq], logits[:, -1, :].clone(), NO_REPEAT_NGRAM, bad_words, eos)[0]
        top = torch.topk(scores, 2).values
        margins.greedy = min(margins.greedy, float(top[0] - top[1]))
        tok = int(torch.argmax(scores))
        seq.append(tok)
        if tok == eos:
            break
    return seq


@torch.no_grad()
def beam_search(dec, hidden, start, eos, bad_words, margins, length_penalty=1.0):
    """transformers' BeamSearchScorer semantics (early_stopping=False), no KV cache."""
    nb = NUM_BEAMS
    seqs = [[start] for _ in range(nb)]
    beam_scores = torch.tensor([0.0] + [-1e9] * (nb - 1))
    hyps = []  # (score, seq)
    worst = 1e9
    done = False

    def add(seq, total):
        nonlocal worst
        score = total / (len(seq) ** length_penalty)
        if len(hyps) < nb or score > worst:
            hyps.append((score, list(seq)))
            if len(hyps) > nb:
                ranked = sorted((h[0], i) for i, h in enumerate(hyps))
                del hyps[ranked[0][1]]
                worst = ranked[1][0]
            else:
                worst = min(score, worst)

    while True:
        cur = len(seqs[0])
        logits, _ = dec(torch.tensor(seqs), hidden.expand(nb, -1, -1))
        scores = F.log_softmax(logits[:, -1, :], dim=-1)
        scores = ban(seqs, scores, NO_REPEAT_NGRAM, bad_words, eos) + beam_scores[:, None]
        vocab = scores.shape[-1]
        top, idx = torch.topk(scores.view(-1), 2 * nb + 1)
        margins.beam = min(margins.beam, float((top[:-1] - top[1:]).min()))
        top, idx = top[:-1], idx[:-1]
        nxt = []
        for rank, (s, i) in enumerate(zip(top.tolist(), idx.tolist())):
            b, t = i // vocab, i % vocab
            if t == eos:
                if rank < nb:
                    add(seqs[b], s)
            else:
                nxt.append((s, t, b))
            if len(nxt) == nb:
                break
        if len(hyps) >= nb and not done:
            done = worst >= float(top[0]) / (cur ** length_penalty)
        seqs = [seqs[b] + [t] for _, t, b in nxt]
        beam_scores = torch.tensor([s for s, _, _ in nxt])
        if done or len(seqs[0]) >= MAX_LENGTH:
            break
    if not done:
        for seq, s in zip(seqs, beam_scores.tolist()):
            add(seq, s)
    best = sorted(hyps, key=lambda h: h[0])[-1]
    seq = best[1]
    if len(seq) < MAX_LENGTH:
        seq = seq + [eos]
    return seq, best[0]


def f32_b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


# ---------------------------------------------------------------- main


def main():
    root = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(root, "..", "..", "models", "tiny-random")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.normpath(default_out))
    args = ap.parse_args()

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    vocab, merges, eos = train_bpe(CORPUS, N_MERGES)
    inv_vocab = {i: t for t, i in vocab.items()}
    enc = ViTEncoder().eval()
    dec = GPT2Decoder(vocab, eos).eval()
    with torch.no_grad():
        dec.wte.weight.normal_(0, 1.0)
        dec.wpe.weight.normal_(0, 0.5)

    os.makedirs(os.path.join(args.out, "onnx"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    encoder, nopast, withpast = export_all(enc, dec)
    merged = merge_decoders(nopast, withpast, N_HEAD, HEAD_DIM, PRODUCER)
    for name, m in [("encoder_model", encoder), ("decoder_model", nopast), ("decoder_model_merged", merged)]:
        onnx.checker.check_model(m)
        onnx.save(compact(m, PRODUCER), os.path.join(args.out, "onnx", name + ".onnx"))

    bad_words = [[vocab["\u0120the"]], [vocab["\u0120on"], vocab["\u0120a"]]]
    token_ids = {"bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos, "decoder_start_token_id": eos}
    config = {
        "architectures": ["VisionEncoderDecoderModel"],
        "model_type": "vision-encoder-decoder",
        "is_encoder_decoder": True,
        "tie_word_embeddings": False,
        "decoder_start_token_id": eos,
        "eos_token_id": eos,
        "pad_token_id": eos,
        "encoder": {
            "model_type": "vit", "hidden_size": HIDDEN, "num_hidden_layers": ENC_LAYERS,
            "num_attention_heads": ENC_HEADS, "intermediate_size": ENC_INNER, "image_size": IMAGE_SIZE,
            "patch_size": PATCH, "num_channels": 3, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
        },
        "decoder": dict(
            token_ids, model_type="gpt2", vocab_size=len(vocab), n_embd=N_EMBD, n_head=N_HEAD,
            n_layer=N_LAYER, n_inner=N_INNER, n_positions=N_POSITIONS, add_cross_attention=True,
            is_decoder=True, activation_function="gelu_new", layer_norm_epsilon=1e-5,
        ),
    }
    generation = dict(token_ids, max_length=MAX_LENGTH, num_beams=NUM_BEAMS, no_repeat_ngram_size=NO_REPEAT_NGRAM,
                      length_penalty=1.0, early_stopping=False, bad_words_ids=bad_words)
    preprocessor = {
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": MEAN, "image_std": STD,
        "image_processor_type": "ViTImageProcessor", "resample": 2, "rescale_factor": RESCALE,
        "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    }
    tok_config = {"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                  "unk_token": "<|endoftext|>", "model_max_length": N_POSITIONS, "add_prefix_space": False,
                  "clean_up_tokenization_spaces": True}
    files = {"config.json": config, "generation_config.json": generation,
             "preprocessor_config.json": preprocessor, "tokenizer.json": tokenizer_json(vocab, merges, eos),
             "tokenizer_config.json": tok_config}
    for name, obj in files.items():
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False)
            f.write("\n")

    margins = Margins()
    refs = []
    for fname, arr in make_images():
        Image.fromarray(arr, "RGB").save(os.path.join(args.out, "images", fname))
        pix = preprocess(arr)
        with torch.no_grad():
            hidden = enc(torch.from_numpy(pix)[None])
        g = greedy(dec, hidden, eos, eos, bad_words, margins)
        b, score = beam_search(dec, hidden, eos, eos, bad_words, margins)
        h = hidden.numpy().astype(np.float64)
        refs.append({
            "image": "images/" + fname,
            "width": arr.shape[1], "height": arr.shape[0],
            "pixel_values_shape": [1, 3, IMAGE_SIZE, IMAGE_SIZE],
            "pixel_values_f32le": f32_b64(pix),
            "encoder": {"shape": list(hidden.shape), "sum": float(h.sum()), "abs_sum": float(np.abs(h).sum()),
                        "first": [float(v) for v in h.reshape(-1)[:8]]},
            "greedy": {"ids": g, "text": decode_text(g, inv_vocab, {eos})},
            "beam": {"ids": b, "text": decode_text(b, inv_vocab, {eos}), "score": score},
        })

    for r in refs:
        print(r["image"], "greedy", r["greedy"]["ids"], repr(r["greedy"]["text"]))
        print(r["image"], "beam  ", r["beam"]["ids"], repr(r["beam"]["text"]))
    print("margins", vars(margins))

    # Guard the properties the Go tests rely on.
    assert all(len(r["greedy"]["ids"]) > 2 for r in refs), "greedy ends at once"
    assert any(r["greedy"]["ids"] != r["beam"]["ids"] for r in refs), "greedy == beam everywhere"
    lengths = {len(r[k]["ids"]) for r in refs for k in ("greedy", "beam")}
    assert min(lengths) < MAX_LENGTH and max(lengths) == MAX_LENGTH, "want both early EOS and max_length stops"
    assert len({tuple(r["greedy"]["ids"]) for r in refs}) == len(refs), "captions do not depend on the image"
    assert margins.greedy > 2e-4 and margins.beam > 2e-4, f"near ties: {vars(margins)}"

    # PIL resize results for every filter, down and up, to check the Go resampler bit for bit.
    checker = dict(make_images())["checker.png"]
    resize_checks = []
    for resample in (0, 1, 2, 3, 4, 5):
        for size in ((32, 32), (19, 50), (80, 72), (48, 40)):
            out = Image.fromarray(checker, "RGB").resize(size, resample=resample, reducing_gap=None)
            resize_checks.append({"image": "images/checker.png", "resample": resample, "width": size[0],
                                  "height": size[1], "rgb_sha256": hashlib.sha256(np.asarray(out).tobytes()).hexdigest()})

    reference = {
        "generated_by": "training/tinymodel/make_tiny_model.py",
        "torch_version": torch.__version__,
        "max_length": MAX_LENGTH, "num_beams": NUM_BEAMS, "no_repeat_ngram_size": NO_REPEAT_NGRAM,
        "bad_words_ids": bad_words, "eos_token_id": eos, "decoder_start_token_id": eos,
        "num_layers": N_LAYER, "num_heads": N_HEAD, "head_dim": HEAD_DIM, "vocab_size": len(vocab),
        "encoder_sequence_length": (IMAGE_SIZE // PATCH) ** 2 + 1, "hidden_size": HIDDEN,
        "min_greedy_margin": margins.greedy, "min_beam_margin": margins.beam,
        "images": refs,
        "resize_checks": resize_checks,
    }
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(reference, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
