#!/usr/bin/env bash
# Caption a Flickr8k split with the Go app (the shipped inference code) and
# score the captions with training/eval/score.py.
#
#   training/eval/evaluate.sh [SPLIT]          # SPLIT: test (default), dev, train
#
# Environment:
#   MODEL_DIR      model folder (default: the app's default, models/tiny-random)
#   ORT_LIB        ONNX Runtime library (default: the app's default,
#                  ./.cache/onnxruntime/VERSION/libonnxruntime.so.1, VERSION pinned in config/ort.env;
#                  `go tool task ort` fetches it)
#   FLICKR8K_DIR   dataset folder (default: ../shared/datasets/flickr8k beside the repo)
#   LIMIT=N        caption and score only the first N images of the split (quick runs;
#                  CIDEr-D's idf then comes from those N images only)
#   CHUNK=N        images per `captionai caption` call (default 100; keeps command lines short)
#   JOBS=N         caption calls run at once (default 1; each loads the model once)
#   THREADS_PER_JOB  ONNX intra-op threads per call (the app's setting, default 1)
#   OUT=FILE       where the image<TAB>caption file goes
#                  (default training/work/eval/<model>-<split>[-N].tsv)
#   CAPTIONAI_BIN  use this binary instead of building one from the working tree
#
# Chunks that already finished are reused when the same OUT is run again with
# the same model files and binary (delete OUT's .parts folder to start over).
# Two runs with the same OUT are refused (flock on OUT.lock); give concurrent
# runs different OUTs.
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO=$PWD
SPLIT=${1:-test}
DATA=${FLICKR8K_DIR:-$REPO/../shared/datasets/flickr8k}
CHUNK=${CHUNK:-100}
JOBS=${JOBS:-1}
LIMIT=${LIMIT:-0}
MODEL=${MODEL_DIR:-models/tiny-random}
export MODEL_DIR=$MODEL

die() { echo "evaluate.sh: $*" >&2; exit 1; }
[ -f "$DATA/splits/$SPLIT.txt" ] || die "no split file $DATA/splits/$SPLIT.txt (set FLICKR8K_DIR)"
[ -d "$MODEL_DIR" ] || die "no model folder $MODEL_DIR (MODEL_DIR)"

WORK=$REPO/training/work/eval
mkdir -p "$WORK"
name=$(basename "$(cd "$MODEL_DIR" && pwd)")
suffix=""; [ "$LIMIT" -gt 0 ] && suffix="-$LIMIT"
OUT=${OUT:-$WORK/$name-$SPLIT$suffix.tsv}
PARTS=$OUT.parts

if [ -n "${CAPTIONAI_BIN:-}" ]; then
  BIN=$CAPTIONAI_BIN
else
  BIN=$WORK/captionai
  echo "evaluate.sh: building the Go app -> $BIN" >&2
  # Build beside it and rename, so a concurrent run never executes a half-written file.
  go build -o "$BIN.$$" . || { rm -f "$BIN.$$"; die "go build of the working tree failed; fix it or set CAPTIONAI_BIN to a built captionai binary"; }
  mv -f "$BIN.$$" "$BIN"
fi

# One run per OUT at a time: two runs sharing OUT.parts would mix their chunks.
mkdir -p "$(dirname "$OUT")"
exec 9> "$OUT.lock"
flock -n 9 || die "another evaluate.sh is writing $OUT (lock $OUT.lock); wait for it or set OUT"

# The split's image paths, optionally cut to LIMIT, in chunks of CHUNK.
mkdir -p "$PARTS"
list=$PARTS/images.txt
if [ "$LIMIT" -gt 0 ]; then head -n "$LIMIT" "$DATA/splits/$SPLIT.txt"; else cat "$DATA/splits/$SPLIT.txt"; fi |
  sed '/^[[:space:]]*$/d' | sed "s#^#$DATA/images/#" > "$list.new"
if ! cmp -s "$list.new" "$list"; then rm -f "$PARTS"/chunk-*; mv "$list.new" "$list"; else rm -f "$list.new"; fi
# Finished chunks are only reused for the same model files and the same binary.
stamp=$PARTS/stamp
{ (cd "$MODEL_DIR" && find . -type f ! -name README.md | LC_ALL=C sort | xargs sha256sum); sha256sum < "$BIN"; } > "$stamp.new"
if ! cmp -s "$stamp.new" "$stamp"; then rm -f "$PARTS"/chunk-*.done "$PARTS"/chunk-*.out; mv "$stamp.new" "$stamp"; else rm -f "$stamp.new"; fi
n=$(wc -l < "$list")
[ "$n" -gt 0 ] || die "split $SPLIT is empty"
while read -r p; do [ -f "$p" ] || die "missing image $p"; done < "$list"
if [ ! -e "$PARTS/chunk-aaaa" ]; then (cd "$PARTS" && split -a 4 -l "$CHUNK" images.txt chunk-); fi

echo "evaluate.sh: captioning $n $SPLIT images with MODEL_DIR=$MODEL_DIR ($CHUNK per call, $JOBS at once)" >&2
start=$(date +%s.%N)
export BIN
run_chunk() {
  local c=$1
  [ -f "$c.done" ] && return 0
  # shellcheck disable=SC2046  # names are Flickr8k file names, without spaces
  if ! "$BIN" caption $(cat "$c") > "$c.out.tmp" 2> "$c.err"; then
    echo "evaluate.sh: captionai caption failed on $(basename "$c"):" >&2
    cat "$c.err" >&2
    return 1
  fi
  [ "$(wc -l < "$c.out.tmp")" -eq "$(wc -l < "$c")" ] || { echo "evaluate.sh: $c: fewer captions than images" >&2; return 1; }
  mv -f "$c.out.tmp" "$c.out"
  touch "$c.done"
  echo "evaluate.sh: $(basename "$c") done" >&2
}
export -f run_chunk
ls "$PARTS"/chunk-???? | xargs -P "$JOBS" -I{} bash -c 'run_chunk "$@"' _ {} || die "captioning failed"
end=$(date +%s.%N)

# path<TAB>caption -> image<TAB>caption, in split order.
for c in "$PARTS"/chunk-????; do cat "$c.out"; done |
  awk -F'\t' 'BEGIN { OFS = "\t" } { n = split($1, a, "/"); $1 = a[n]; print }' > "$OUT"
awk -v s="$start" -v e="$end" -v n="$n" 'BEGIN { printf "evaluate.sh: captioning wall time %.1f s (%.1f ms per image, model loads included; reused chunks count as 0)\n", e - s, (e - s) * 1000 / n }' >&2
echo "evaluate.sh: captions in $OUT" >&2

args=(--data "$DATA" --captions "$OUT" --split "$SPLIT")
[ "$LIMIT" -gt 0 ] && args+=(--limit "$LIMIT")
echo "MODEL_DIR=$MODEL_DIR"
python3 training/eval/score.py "${args[@]}"
