#!/usr/bin/env bash
# Publishes the ddim CLI self-contained for linux-x64 into DIR (default: .cuda-build) without the CPU libtorch that the
# NuGet build carries, so that a CUDA libtorch on LD_LIBRARY_PATH is loaded instead (see scripts/cuda-run.sh).
#   scripts/cuda-build.sh [DIR]
# Several callers may run at once: the publish is serialised by a lock beside DIR.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(realpath -m -- "${1:-$here/.cuda-build}")"
mkdir -p "$(dirname "$build")"
(
  flock 9
  dotnet publish "$here/src/Ddim.Cli" -c Release -r linux-x64 --self-contained -o "$build" -v q
  # The CPU libtorch beside the app would be loaded before the CUDA one: remove it. LibTorchSharp then finds libtorch,
  # libtorch_cpu and libc10 through LD_LIBRARY_PATH.
  rm -f "$build"/libtorch*.so "$build"/libc10.so "$build"/libgomp-*.so.1 "$build"/libshm.so "$build"/libaoti_custom_ops.so \
    "$build"/libbackend_with_compiler.so "$build"/libjitbackend_test.so "$build"/libnnapi_backend.so
  cp "$here/scripts/cuda-run.sh" "$build/cuda-run.sh"
) 9>"$build.lock"
