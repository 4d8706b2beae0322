#!/usr/bin/env bash
# Runs a build from scripts/cuda-build.sh on an NVIDIA GPU: `ddim COMMAND --device cuda [options]`, with a CUDA libtorch
# (by default PyTorch's, found through python3; LIBTORCH_CUDA_LIB names another lib folder) on LD_LIBRARY_PATH.
#   scripts/cuda-run.sh BUILD_DIR COMMAND [options]
# COMMAND is one that takes --device: train, sample, eval, loss, interpolate, invert or reconstruct.
# TorchSharp 0.107 is built against libtorch 2.10. Phase 3 of the bundled model ran against PyTorch 2.11 (CUDA 13.0) on
# an H100: a minor-version mismatch that held for every op training and sampling use, but not a pairing TorchSharp
# supports. Point LIBTORCH_CUDA_LIB at a libtorch 2.10 CUDA lib folder to run a matched pair.
set -euo pipefail
build="${1:?usage: cuda-run.sh BUILD_DIR COMMAND [options]}"
command="${2:-}"
case "$command" in
  train|sample|eval|loss|interpolate|invert|reconstruct) shift 2 ;;
  *) echo "usage: cuda-run.sh BUILD_DIR train|sample|eval|loss|interpolate|invert|reconstruct [options]  (got '${command}')" >&2; exit 2 ;;
esac
lib="${LIBTORCH_CUDA_LIB:-$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)}"
if [ ! -f "$lib/libtorch_cuda.so" ]; then
  echo "error: no libtorch_cuda.so in '${lib}'. Install PyTorch with CUDA for python3, or set LIBTORCH_CUDA_LIB to the lib folder of a CUDA libtorch." >&2
  exit 1
fi
if [ -z "${LIBTORCH_CUDA_LIB:-}" ]; then
  version="$(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo unknown)"
  case "$version" in
    2.10.*) ;;
    *) echo "warning: TorchSharp 0.107 is built for libtorch 2.10; python3's torch is $version (phase 3 of the bundled model ran on 2.11). If an op fails to load, point LIBTORCH_CUDA_LIB at a libtorch 2.10 CUDA build." >&2 ;;
  esac
fi
# `eval --images` scores a folder with the judge on the CPU and refuses --device, so it gets none.
device=(--device cuda)
for arg in "$@"; do
  if [ "$arg" = --images ]; then device=(); fi
done
LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$build/Ddim.Cli" "$command" "${device[@]}" "$@"
