#!/usr/bin/env bash
# Fetches a larger pretrained captioning model from the Hugging Face Hub for
# users with internet access. The app reads the same Optimum/transformers.js
# layout as our own model, so no conversion is needed.
#   go tool task model:fetch NAME=distilvit
#   MODEL_DIR=.cache/models/distilvit go tool task run
set -euo pipefail
name=${1:?usage: fetch-model.sh distilvit|vit-gpt2}
case "$name" in
  distilvit) repo=Mozilla/distilvit ;;
  vit-gpt2) repo=Xenova/vit-gpt2-image-captioning ;;
  *) echo "fetch-model: unknown model $name (known: distilvit, vit-gpt2)" >&2; exit 2 ;;
esac
dest=.cache/models/$name
mkdir -p "$dest/onnx"
for f in config.json generation_config.json preprocessor_config.json tokenizer.json tokenizer_config.json \
         onnx/encoder_model.onnx onnx/decoder_model_merged.onnx; do
  echo "fetch-model: $repo/$f"
  curl -fL --retry 3 -o "$dest/$f.part" "https://huggingface.co/$repo/resolve/main/$f"
  mv "$dest/$f.part" "$dest/$f"
done
echo "fetch-model: done. Run with MODEL_DIR=$dest"
