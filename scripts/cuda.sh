#!/usr/bin/env bash
# Runs a ddim command on an NVIDIA GPU (`ddim COMMAND --device cuda …`), using a CUDA libtorch that is already on the
# machine (by default PyTorch's, found through python3) in place of the CPU libtorch that the NuGet build carries.
#   scripts/cuda.sh train --preset presets/mnist-phase3.json --out runs/mnist-phase3 [--resume] [other train options]
#   scripts/cuda.sh eval --model runs/mnist-phase3/model.ddim --steps 50 --eta 0 --json eval.json
# COMMAND is one that takes --device: train, sample, eval, loss, interpolate, invert or reconstruct.
# train runs from the repository root, so its relative paths (and the presets' InitFrom) are from there; the other
# commands run where you call the script. Several may run at once: the build is shared, under a lock.
# Linux x64 only (TorchSharp 0.107 ships no linux-arm64 native library).
# How: a self-contained build of the CLI (dotnet publish) without the CPU libtorch files, run with the CUDA libtorch on
# LD_LIBRARY_PATH. TorchSharp 0.107 is built against libtorch 2.10. Phase 3 of the bundled model ran this way with
# PyTorch 2.11 (CUDA 13.0) on an H100: a minor-version mismatch that held for every op training uses, but not a pairing
# TorchSharp supports. Point LIBTORCH_CUDA_LIB at a libtorch 2.10 CUDA lib folder to run a matched pair.
set -euo pipefail
command="${1:-}"
case "$command" in
  train|sample|eval|loss|interpolate|invert|reconstruct) shift ;;
  *) echo "usage: scripts/cuda.sh train|sample|eval|loss|interpolate|invert|reconstruct [options]  (got '${command}')" >&2; exit 2 ;;
esac
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DDIM_CUDA_BUILD:-$here/.cuda-build}"
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
mkdir -p "$(dirname "$build")"
(
  flock 9  # one publish at a time; a run that starts meanwhile waits, then finds the build ready
  dotnet publish "$here/src/Ddim.Cli" -c Release -r linux-x64 --self-contained -o "$build" -v q
  # The CPU libtorch beside the app would be loaded before the CUDA one: remove it. LibTorchSharp then finds libtorch,
  # libtorch_cpu and libc10 through LD_LIBRARY_PATH.
  rm -f "$build"/libtorch*.so "$build"/libc10.so "$build"/libgomp-*.so.1 "$build"/libshm.so "$build"/libaoti_custom_ops.so \
    "$build"/libbackend_with_compiler.so "$build"/libjitbackend_test.so "$build"/libnnapi_backend.so
) 9>"$build.lock"
if [ "$command" = train ]; then
  cd "$here"  # the presets' relative paths (InitFrom) are from the repository root
fi
LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$build/Ddim.Cli" "$command" --device cuda "$@"
