#!/usr/bin/env bash
# Cross-check the Go inference package against transformers.js on the same
# model folder and the same images.
#
#   training/js/compare.sh [--model DIR] [--decode greedy|config] [--pixels native|same]
#                          [--repeat N] IMAGE...
#
#   --model DIR     model folder (default $MODEL_DIR, else models/tiny-random)
#   --decode greedy (default) both sides decode greedily: a scratch copy of DIR
#                   under training/work/js/models/ with num_beams = 1 in
#                   generation_config.json is used for BOTH (transformers.js v3
#                   has no beam search, so this is the only like-for-like mode).
#            config DIR as it is: Go runs the configured beam search,
#                   transformers.js still runs greedy (expect differences).
#   --pixels native (default) each side reads the original files with its own
#                   image decoder and resizer (what a user of each would get).
#            same   both read PNG copies already at the model's input size,
#                   made once by resize.mjs, so neither resizes and both see the
#                   same pixels: this isolates the ONNX/decoding/tokenizer path.
#   --repeat N      caption the list N times on each side (steadier timings; also
#                   checks that each side is deterministic). Default 1.
#
# Prints agreement (n equal / n total), the mismatches, and per-image times
# with model loading excluded: for both sides (wall(all) - wall(first image
# only)) / (n - 1) from separate process runs, plus transformers.js's own
# median per-call time. The Go side is a binary built from the working tree
# (the same code as `go run . caption`), or $CAPTIONAI_BIN.
#
# Installs @huggingface/transformers (pinned in training/js/package-lock.json)
# into training/work/js/node_modules on first use, with --ignore-scripts.
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO=$PWD
WORK=$REPO/training/work/js
MODEL=${MODEL_DIR:-models/tiny-random}
DECODE=greedy
PIXELS=native
REPEAT=1
images=()
while [ $# -gt 0 ]; do
  case $1 in
    --model) MODEL=$2; shift 2 ;;
    --decode) DECODE=$2; shift 2 ;;
    --pixels) PIXELS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    -*) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    *) images+=("$1"); shift ;;
  esac
done
die() { echo "compare.sh: $*" >&2; exit 1; }
[ ${#images[@]} -gt 0 ] || die "name at least one image (e.g. models/tiny-random/images/*.png)"
[ -d "$MODEL" ] || die "no model folder $MODEL"
case $DECODE in greedy|config) ;; *) die "--decode must be greedy or config" ;; esac
case $PIXELS in native|same) ;; *) die "--pixels must be native or same" ;; esac
MODEL=$(cd "$MODEL" && pwd)
mkdir -p "$WORK"
# npm packages may ship Go sources; a module boundary keeps them out of `go test ./...`.
[ -f "$REPO/training/work/go.mod" ] || printf 'module captionai/training/work\n' > "$REPO/training/work/go.mod"
# training/work/js (outputs, the greedy model copy, the binary) is shared: one run at a time.
exec 9> "$WORK/compare.lock"
flock -w 600 9 || die "another compare.sh has held $WORK/compare.lock for 10 minutes"

# transformers.js, pinned, without install scripts (onnxruntime-node ships its CPU binaries).
if [ ! -f "$WORK/node_modules/@huggingface/transformers/package.json" ] ||
   ! cmp -s "$REPO/training/js/package-lock.json" "$WORK/package-lock.json"; then
  echo "compare.sh: installing transformers.js into $WORK" >&2
  cp "$REPO/training/js/package.json" "$REPO/training/js/package-lock.json" "$WORK/"
  (cd "$WORK" && npm ci --ignore-scripts --no-audit --no-fund >&2) || die "npm ci failed"
fi

# Go binary from the working tree.
if [ -n "${CAPTIONAI_BIN:-}" ]; then BIN=$CAPTIONAI_BIN; else
  BIN=$WORK/captionai
  go build -o "$BIN.$$" . || { rm -f "$BIN.$$"; die "go build of the working tree failed; fix it or set CAPTIONAI_BIN to a built captionai binary"; }
  mv -f "$BIN.$$" "$BIN"
fi

# Model folder both sides use.
RUNMODEL=$MODEL
if [ "$DECODE" = greedy ]; then
  RUNMODEL=$WORK/models/$(basename "$MODEL")-greedy
  rm -rf "$RUNMODEL"; mkdir -p "$RUNMODEL"
  for f in "$MODEL"/*; do
    [ "$(basename "$f")" = generation_config.json ] || ln -s "$f" "$RUNMODEL/"
  done
  python3 - "$MODEL/generation_config.json" "$RUNMODEL/generation_config.json" <<'EOF'
import json, sys
src, dst = sys.argv[1:]
try:
    g = json.load(open(src))
except FileNotFoundError:
    g = {}
g["num_beams"] = 1
json.dump(g, open(dst, "w"), indent=1)
EOF
fi

# Images both sides read.
if [ "$PIXELS" = same ]; then
  mapfile -t images < <(node training/js/resize.mjs "$MODEL" "$WORK/same-pixels/$(basename "$MODEL")" "${images[@]}")
fi
list=()
for ((r = 0; r < REPEAT; r++)); do list+=("${images[@]}"); done
n=${#list[@]}

OUTD=$WORK/out
mkdir -p "$OUTD"
now() { date +%s%N; }

echo "compare.sh: model $MODEL, decode=$DECODE, pixels=$PIXELS, ${#images[@]} images x $REPEAT" >&2
# Go: all images in one process, then the first image alone (load + 1 image).
t0=$(now); MODEL_DIR=$RUNMODEL "$BIN" caption "${list[@]}" > "$OUTD/go.tsv"; t1=$(now)
MODEL_DIR=$RUNMODEL "$BIN" caption "${list[0]}" > /dev/null; t2=$(now)
go_all=$(( (t1 - t0) / 1000 )); go_one=$(( (t2 - t1) / 1000 ))
# transformers.js: the same, plus its own per-call times.
t0=$(now); node training/js/compare.mjs --model "$RUNMODEL" "${list[@]}" > "$OUTD/js.tsv" 2> "$OUTD/js.err" || { cat "$OUTD/js.err" >&2; die "compare.mjs failed"; }; t1=$(now)
node training/js/compare.mjs --model "$RUNMODEL" "${list[0]}" > /dev/null 2>&1; t2=$(now)
js_all=$(( (t1 - t0) / 1000 )); js_one=$(( (t2 - t1) / 1000 ))
grep -v '^compare.mjs: transformers.js' "$OUTD/js.err" >&2 || true

python3 - "$OUTD/go.tsv" "$OUTD/js.tsv" "$n" "$go_all" "$go_one" "$js_all" "$js_one" <<'EOF'
import statistics, sys
go_f, js_f, n, go_all, go_one, js_all, js_one = sys.argv[1:]
n = int(n)
go_all, go_one, js_all, js_one = (int(x) / 1000 for x in (go_all, go_one, js_all, js_one))

def read(path, cols):
    rows = []
    for line in open(path, encoding="utf-8"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != cols:
            sys.exit(f"compare.sh: bad line in {path}: {line!r}")
        rows.append(parts)
    return rows

go = read(go_f, 2)
js = read(js_f, 3)
if len(go) != n or len(js) != n:
    sys.exit(f"compare.sh: expected {n} lines, got go {len(go)}, js {len(js)}")

def by_path(rows, side):
    d = {}
    for r in rows:
        if r[0] in d and d[r[0]] != r[1]:
            print(f"NONDETERMINISTIC {side}: {r[0]}: {d[r[0]]!r} then {r[1]!r}")
        d.setdefault(r[0], r[1])
    return d

g, j = by_path(go, "go"), by_path(js, "js")
paths = list(g)
equal = [p for p in paths if g[p] == j.get(p)]
print(f"agreement: {len(equal)}/{len(paths)} captions equal")
for p in paths:
    if g[p] != j.get(p):
        print(f"MISMATCH {p}\n  go: {g[p]}\n  js: {j.get(p)}")
js_ms = [float(r[2]) for r in js]
per = lambda a, one: (a - one) / (n - 1) if n > 1 else float("nan")
go_per, js_per = per(go_all, go_one), per(js_all, js_one)
print(f"timing over {n} captions (ms per image, model load excluded):")
print(f"  go  (wall(all) - wall(first only)) / (n-1): {go_per:9.1f}   [wall all {go_all:.0f} ms, first only {go_one:.0f} ms]")
print(f"  js  (wall(all) - wall(first only)) / (n-1): {js_per:9.1f}   [wall all {js_all:.0f} ms, first only {js_one:.0f} ms]")
print(f"  js  in-process per call: median {statistics.median(js_ms):.1f}, mean {statistics.mean(js_ms):.1f}, first {js_ms[0]:.1f}")
if n > 1 and go_per > 0:
    print(f"  ratio js/go (wall-difference method): {js_per / go_per:.2f}")
EOF
