#!/usr/bin/env bash
# Trains (or resumes) the bundled MNIST model in the background-friendly way used to make models/mnist.ddim.
#   scripts/train-mnist.sh [RUN_DIR]      (default RUN_DIR: runs/mnist)
# Safe to re-run: it resumes from RUN_DIR/checkpoint.ddim when one exists. Stop it with Ctrl-C or SIGTERM;
# it saves a checkpoint first. Then export with: ./ddim export --checkpoint RUN_DIR/checkpoint.ddim --out models/mnist.ddim
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="${1:-$here/runs/mnist}"
resume=()
[ -f "$run/checkpoint.ddim" ] && resume=(--resume)
exec "$here/ddim" train --preset "$here/presets/mnist.json" --out "$run" "${resume[@]}"
