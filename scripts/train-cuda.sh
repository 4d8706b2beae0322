#!/usr/bin/env bash
# Trains on an NVIDIA GPU: the same as scripts/cuda.sh train (see there).
exec "$(dirname "${BASH_SOURCE[0]}")/cuda.sh" train "$@"
