#!/usr/bin/env bash
# Trains (or resumes) an MNIST model on the CPU in the background-friendly way used to make the 1.6M-parameter model
# (models/mnist-1.6m.ddim, bundled until 2026-11-27; the bundled 5.0M model came from presets/mnist-gpu.json and
# presets/mnist-gpu-phase2.json on a GPU).
#   scripts/train-mnist.sh [RUN_DIR] [PRESET] [TRAIN OPTIONS...]   (defaults: runs/mnist, presets/mnist.json)
# Options after the first two go to 'ddim train' as they are, e.g. --steps 14000 (on a resume inside the decay, the
# decay is then re-planned to end there) or --threads 1.
# Phase 1 is presets/mnist.json (21,000 steps from random weights; its final state is checkpoints/mnist/). Phase 2,
# presets/mnist-phase2.json, starts from that checkpoint (InitFrom) with its own warm-up and decay:
#   scripts/train-mnist.sh runs/mnist-phase2 presets/mnist-phase2.json
# Safe to re-run: it resumes from RUN_DIR/checkpoint.ddim when one exists. Stop it with Ctrl-C or SIGTERM;
# it saves a checkpoint first. Then export with: ./ddim export --checkpoint RUN_DIR/checkpoint.ddim --out RUN_DIR/model.ddim
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="$(realpath -m -- "${1:-$here/runs/mnist}")"
preset="$(realpath -m -- "${2:-$here/presets/mnist.json}")"
resume=()
[ -f "$run/checkpoint.ddim" ] && resume=(--resume)
cd "$here"  # the presets' relative paths (InitFrom) are from the repository root
exec "$here/ddim" train --preset "$preset" --out "$run" "${resume[@]}" "${@:3}"
