#!/usr/bin/env bash
# Runs finetune.py's variants side by side on one GPU (each is bound by Python and kernel
# launches, not by the GPU) and copies the one with the best dev CIDEr-D to OUT/best.pt:
#   top   the backbones' upper layers unfrozen (backbone LR 1e-4)
#   all   every backbone layer unfrozen (backbone LR 5e-5)
#   none  backbone frozen: the control, same crops and schedule
#
#   training/finetune_variants.sh DATA OUT [MINUTES SCST_MINUTES] [finetune flags...]
#
# MINUTES and SCST_MINUTES default to the recipe's ([finetune] in training/recipe.toml), as
# do all other settings. Needs training/work/tfjs/mobilenet_v2 and human-models'
# centernet.* under training/work/node (run.sh's first stage writes both).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}  # a Python with PyTorch (on the GPU machines, plain python3)
DATA=$1 OUT=$2
shift 2
TIME=()
if [ $# -ge 2 ] && [[ $1 != -* ]]; then TIME=(--minutes "$1" --scst-minutes "$2"); shift 2; fi
mkdir -p "$OUT"
for v in "top 1e-4" "all 5e-5" "none 0"; do
  read -r mode lr <<< "$v"
  $PY -m training.finetune --data "$DATA" --out "$OUT/$mode" --unfreeze "$mode" --backbone-lr "$lr" \
    "${TIME[@]}" "$@" > "$OUT/$mode.log" 2>&1 &
done
wait
$PY - "$OUT" <<'EOF'
import os, shutil, sys
import torch
out = sys.argv[1]
runs = {}
for mode in ("top", "all", "none"):
    p = os.path.join(out, mode, "best.pt")
    if os.path.exists(p):
        runs[mode] = torch.load(p, map_location="cpu", weights_only=False)
    print(f"{mode:5} " + (str(runs[mode]["dev_greedy"]) if mode in runs else "no checkpoint (see its log)"))
if runs:
    best = max(runs, key=lambda m: runs[m]["dev_greedy"]["CIDEr-D"])
    shutil.copy(os.path.join(out, best, "best.pt"), os.path.join(out, "best.pt"))
    print(f"best: {best}")
EOF
