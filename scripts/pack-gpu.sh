#!/usr/bin/env bash
# Packs what an NVIDIA GPU machine without .NET or internet needs to run ddim there: the CUDA build
# (scripts/cuda-build.sh) as app.tar.xz, the MNIST files as data.tar.xz, and run.sh. About 41 MB.
#   scripts/pack-gpu.sh [OUT_DIR]            (default: .gpu, which git ignores)
# There, from a folder that holds what the options name (the repository, for presets and models):
#   bash OUT_DIR/run.sh train --preset presets/mnist-large-b512.json --out runs/large
#   bash OUT_DIR/run.sh eval --model runs/large/model.ddim --num 1000 --steps 50 --eta 0 --json eval.json
# run.sh unpacks once into $DDIM_UNPACK (default /tmp/ddim-gpu), points DDIM_DATA at the packed data unless it is set,
# and runs scripts/cuda-run.sh from the pack (PyTorch's CUDA libtorch via python3, or LIBTORCH_CUDA_LIB). SkiaSharp's
# native library is its build without system dependencies, so sample grids work on bare GPU images too.
# It refuses a checkout with uncommitted changes, or with untracked files that git does not ignore (they travel to the
# device too), unless ALLOW_DIRTY=1: a GPU session is rare, so what runs there should be a commit whose tests passed,
# and its results should name that commit (commit.txt).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m -- "${1:-$here/.gpu}")"
if [ "${ALLOW_DIRTY:-0}" != 1 ] && [ -n "$(git -C "$here" status --porcelain)" ]; then
  echo "error: the checkout has uncommitted changes or untracked files (git status); commit them and run the tests first, or set ALLOW_DIRTY=1" >&2
  exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

"$here/scripts/cuda-build.sh" "$work/app"
# The models stay out (the diffusion models are about 20 MB each, the judge 2 MB): commands run from the repository,
# whose models/ ddim finds when the app folder lacks them, and a device's working tree is size-limited (64 MiB with
# the tracked files). xz -9 saves another 1.5 MB over -6.
rm -rf "$work"/app/models
tar -C "$work" -cf - app | xz -T0 -9 > "$out/app.tar.xz.tmp"
mv "$out/app.tar.xz.tmp" "$out/app.tar.xz"

"$here/ddim" data fetch mnist  # checks every file's SHA-256 and fetches what is missing or wrong (a second build: minutes, once)
data="${DDIM_DATA:-$HOME/.cache/ddim/datasets}"
tar -C "$data" --transform 's,^,datasets/,' -cf - mnist | xz -T0 -6 > "$out/data.tar.xz.tmp"
mv "$out/data.tar.xz.tmp" "$out/data.tar.xz"

cat > "$out/run.sh.tmp" <<'RUN'
#!/usr/bin/env bash
# Runs ddim from this pack on an NVIDIA GPU: bash run.sh COMMAND [options] (made by scripts/pack-gpu.sh).
set -euo pipefail
pack="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
unpack="${DDIM_UNPACK:-/tmp/ddim-gpu}"
mkdir -p "$unpack"
(
  flock 9  # several runs may start at once: one unpacks, the others wait
  if [ ! -f "$unpack/.unpacked" ]; then
    tar -xJf "$pack/app.tar.xz" -C "$unpack"
    tar -xJf "$pack/data.tar.xz" -C "$unpack"
    touch "$unpack/.unpacked"
  fi
) 9>"$unpack/.lock"
export DDIM_DATA="${DDIM_DATA:-$unpack/datasets}"
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT="${DOTNET_SYSTEM_GLOBALIZATION_INVARIANT:-1}"  # bare images may lack libicu
exec "$unpack/app/cuda-run.sh" "$unpack/app" "$@"
RUN
chmod +x "$out/run.sh.tmp"
mv "$out/run.sh.tmp" "$out/run.sh"
git -C "$here" describe --always --dirty > "$out/commit.txt"
du -sh "$out"/app.tar.xz "$out"/data.tar.xz

# Will it fit a device's 64 MiB working tree beside the files that travel (tracked, and untracked ones git does not
# ignore), once checkpoints/ and the models a job does not read are moved out (the GPU jobs read models/mnist.ddim
# and models/judge/judge.ddim)?
pack_bytes=$(du -sb "$out" | cut -f1)  # the whole folder travels, leftovers included
tree_bytes=$(cd "$here" && { git ls-files -co --exclude-standard -z \
  | grep -zv -e '^checkpoints/' -e '^models/mnist-5m-phase1.ddim$' -e '^models/mnist-1.6m.ddim$' \
  | while IFS= read -r -d '' f; do [ -f "$f" ] && stat -c %s -- "$f"; done || true; } | awk '{ s += $1 } END { print s + 0 }')  # a deleted file is skipped
total=$(( pack_bytes + tree_bytes ))
echo "pack $pack_bytes + the files that travel, without checkpoints/ and the phase-1 and 1.6M models, $tree_bytes = $total bytes (limit 67108864)"
if [ "$total" -gt 67108864 ]; then echo "error: over a device's 64 MiB working tree: move more out (docs/, models/mnist.ddim for a job that names MODEL) before sending" >&2; exit 1; fi
