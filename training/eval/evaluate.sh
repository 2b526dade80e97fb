#!/usr/bin/env bash
# Caption one or more dataset splits with the Go app (the shipped inference code),
# score the captions with training/eval/score.py, and with two or more sets print
# one side-by-side table.
#
#   training/eval/evaluate.sh [SET ...]
#     SET: SPLIT                Flickr8k's test (default), dev or train split
#          flickr8k:SPLIT       the same
#          coco-mini:SPLIT      coco-mini (dev)
#          DIR:SPLIT            any folder in the Flickr8k layout (captions.tsv, splits/, images/)
#   training/eval/evaluate.sh flickr8k:test coco-mini:dev      # what `task model:eval` runs
#
# Environment:
#   MODEL_DIR      model folder (default: the app's default, models/tiny-random)
#   ORT_LIB        ONNX Runtime library (default: the app's default,
#                  ./.cache/onnxruntime/VERSION/libonnxruntime.so.1, VERSION pinned in config/ort.env;
#                  `go tool task ort` fetches it)
#   FLICKR8K_DIR   Flickr8k folder (default: ../shared/datasets/flickr8k beside the repo)
#   COCO_MINI_DIR  coco-mini folder (default: ../shared/datasets/coco-mini beside the repo)
#   LIMIT=N        caption and score only the first N images of each split (quick runs;
#                  CIDEr-D's idf then comes from those N images only)
#   CHUNK=N        images per `captionai caption` call (default 100; keeps command lines short)
#   JOBS=N         caption calls run at once (default 1; each loads the model once)
#   THREADS_PER_JOB  ONNX intra-op threads per call (the app's setting, default 1)
#   OUT=FILE       where the image<TAB>caption file goes, with one SET only
#                  (default training/work/eval/<model>-<split>[-N].tsv for Flickr8k,
#                  training/work/eval/<model>-<dataset>-<split>[-N].tsv for the others);
#                  beside it OUT.json (the scores) and OUT.grounding.tsv (per-image grounding)
#   CAPTIONAI_BIN  use this binary instead of building one from the working tree
#
# Chunks that already finished are reused when the same OUT is run again with
# the same model files and binary (delete OUT's .parts folder to start over).
# Two runs with the same OUT are refused (flock on OUT.lock); give concurrent
# runs different OUTs.
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO=$PWD
FLICKR8K=${FLICKR8K_DIR:-$REPO/../shared/datasets/flickr8k}
COCO_MINI=${COCO_MINI_DIR:-$REPO/../shared/datasets/coco-mini}
CHUNK=${CHUNK:-100}
JOBS=${JOBS:-1}
LIMIT=${LIMIT:-0}
MODEL=${MODEL_DIR:-models/tiny-random}
export MODEL_DIR=$MODEL
[ "$#" -gt 0 ] || set -- test

die() { echo "evaluate.sh: $*" >&2; exit 1; }
[ -d "$MODEL_DIR" ] || die "no model folder $MODEL_DIR (MODEL_DIR)"
[ "$#" -eq 1 ] || [ -z "${OUT:-}" ] || die "OUT names one captions file: give one SET, or leave OUT unset"

# Each SET as its TAG (names the default OUT; empty for Flickr8k, as before), DATA and SPLIT.
tags=(); datas=(); splits=()
for arg in "$@"; do
  case $arg in
    *:*) ds=${arg%:*}; split=${arg##*:} ;;
    *)   ds=flickr8k; split=$arg ;;
  esac
  case $ds in
    flickr8k)  data=$FLICKR8K; tag=""; hint="FLICKR8K_DIR" ;;
    coco-mini) data=$COCO_MINI; tag=coco-mini; hint="COCO_MINI_DIR" ;;
    *)         data=$ds; tag=$(basename "$ds"); hint="the folder of $arg" ;;
  esac
  [ -n "$split" ] || die "empty split in $arg"
  [ -f "$data/splits/$split.txt" ] || die "no split file $data/splits/$split.txt (set $hint)"
  tags+=("$tag"); datas+=("$data"); splits+=("$split")
done

WORK=$REPO/training/work/eval
mkdir -p "$WORK"
name=$(basename "$(cd "$MODEL_DIR" && pwd)")
suffix=""; [ "$LIMIT" -gt 0 ] && suffix="-$LIMIT"

if [ -n "${CAPTIONAI_BIN:-}" ]; then
  BIN=$CAPTIONAI_BIN
else
  BIN=$WORK/captionai
  echo "evaluate.sh: building the Go app -> $BIN" >&2
  # Build beside it and rename, so a concurrent run never executes a half-written file.
  go build -o "$BIN.$$" . || { rm -f "$BIN.$$"; die "go build of the working tree failed; fix it or set CAPTIONAI_BIN to a built captionai binary"; }
  mv -f "$BIN.$$" "$BIN"
fi

export BIN
run_chunk() {
  local c=$1
  [ -f "$c.done" ] && return 0
  # shellcheck disable=SC2046  # names are dataset file names, without spaces
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

# caption_and_score TAG DATA SPLIT OUT: captions in OUT, scores in OUT.json
caption_and_score() {
  local tag=$1 DATA=$2 SPLIT=$3 OUT=$4
  local PARTS=$OUT.parts list stamp n start end
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
  [ "$n" -gt 0 ] || die "split $SPLIT of $DATA is empty"
  while read -r p; do [ -f "$p" ] || die "missing image $p"; done < "$list"
  if [ ! -e "$PARTS/chunk-aaaa" ]; then (cd "$PARTS" && split -a 4 -l "$CHUNK" images.txt chunk-); fi

  echo "evaluate.sh: captioning $n ${tag:-flickr8k} $SPLIT images with MODEL_DIR=$MODEL_DIR ($CHUNK per call, $JOBS at once)" >&2
  start=$(date +%s.%N)
  ls "$PARTS"/chunk-???? | xargs -P "$JOBS" -I{} bash -c 'run_chunk "$@"' _ {} || die "captioning failed"
  end=$(date +%s.%N)

  # path<TAB>caption[<TAB>more columns] -> image<TAB>caption[...], in split order.
  for c in "$PARTS"/chunk-????; do cat "$c.out"; done |
    awk -F'\t' 'BEGIN { OFS = "\t" } { n = split($1, a, "/"); $1 = a[n]; print }' > "$OUT"
  awk -v s="$start" -v e="$end" -v n="$n" 'BEGIN { printf "evaluate.sh: captioning wall time %.1f s (%.1f ms per image, model loads included; reused chunks count as 0)\n", e - s, (e - s) * 1000 / n }' >&2
  echo "evaluate.sh: captions in $OUT" >&2

  local args=(--data "$DATA" --captions "$OUT" --split "$SPLIT" --json-out "$OUT.json" --per-image "$OUT.grounding.tsv")
  [ "$LIMIT" -gt 0 ] && args+=(--limit "$LIMIT")
  echo "MODEL_DIR=$MODEL_DIR"
  python3 training/eval/score.py "${args[@]}" || die "score.py failed on $OUT"
  exec 9>&-
}

jsons=()
for i in "${!tags[@]}"; do
  tag=${tags[$i]} data=${datas[$i]} split=${splits[$i]}
  if [ -n "${OUT:-}" ]; then out=$OUT
  elif [ -z "$tag" ]; then out=$WORK/$name-$split$suffix.tsv
  else out=$WORK/$name-$tag-$split$suffix.tsv
  fi
  caption_and_score "$tag" "$data" "$split" "$out"
  jsons+=("$out.json")
  [ "${#tags[@]}" -eq 1 ] || echo
done

if [ "${#jsons[@]}" -gt 1 ]; then
  echo "MODEL_DIR=$MODEL_DIR, side by side:"
  python3 training/eval/score.py --table "${jsons[@]}"
fi
