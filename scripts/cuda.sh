#!/usr/bin/env bash
# Runs a ddim command on an NVIDIA GPU (`ddim COMMAND --device cuda …`) on a Linux x64 machine with the .NET SDK and a
# CUDA libtorch (by default PyTorch's, found through python3), in place of the CPU libtorch that the NuGet build carries.
#   scripts/cuda.sh train --preset presets/mnist-phase3.json --out runs/mnist-phase3 [--resume] [other train options]
#   scripts/cuda.sh eval --model runs/mnist-phase3/model.ddim --steps 50 --eta 0 --json eval.json
# COMMAND is one that takes --device: train, sample, eval, loss, interpolate, invert or reconstruct.
# train runs from the repository root, so its relative paths (and the presets' InitFrom) are from there; the other
# commands run where you call the script. Several may run at once.
# How: scripts/cuda-build.sh (a self-contained build without the CPU libtorch, in .cuda-build), then scripts/cuda-run.sh.
# For a GPU machine without .NET or internet, see scripts/pack-gpu.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DDIM_CUDA_BUILD:-$here/.cuda-build}"
case "${1:-}" in
  train|sample|eval|loss|interpolate|invert|reconstruct) ;;
  *) exec "$here/scripts/cuda-run.sh" "$build" "${1:-}" ;;  # prints the usage
esac
"$here/scripts/cuda-build.sh" "$build"
if [ "$1" = train ]; then
  cd "$here"  # the presets' relative paths (InitFrom) are from the repository root
fi
exec "$here/scripts/cuda-run.sh" "$build" "$@"
