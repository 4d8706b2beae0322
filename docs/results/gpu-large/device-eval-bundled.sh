#!/usr/bin/env bash
# Device script: scores on the GPU (`ddim eval --device cuda`), all at once: the bundled model (DDPM over all 1000
# steps and DDIM S = 20, 50, 100 at η = 0, N = 1000, seed 0).
set -uo pipefail
T0=$(date +%s); EVAL_TO=${EVAL_TO:-170}
el() { echo $(( $(date +%s) - T0 )); }
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/device.log") 2>&1
nvidia-smi -L 2>/dev/null
TL=${TL:-$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')}
W=${W:-/tmp/w}; R=$OUT; mkdir -p $W/app; [ -n "${APPDIR:-}" ] || tar -xJf .gpu/app.tar.xz -C $W/app; tar -xJf .gpu/data.tar.xz -C $W
export DDIM_DATA=$W/datasets LD_LIBRARY_PATH=$TL:${LD_LIBRARY_PATH:-}
APP=${APPDIR:-$W/app/pub}/Ddim.Cli
echo "unpacked at $(el) s"
ev() { name=$1; shift; timeout $EVAL_TO $APP eval --device cuda --threads 2 --json $R/eval-$name.json "$@" > $R/eval-$name.txt 2>&1 & P="${P:-} $!"; }
ev bundled-ddpm-n1000 --num 1000 --sampler ddpm
ev bundled-s50-e0 --num 1000 --steps 50 --eta 0
ev bundled-s100-e0 --num 1000 --steps 100 --eta 0
ev bundled-s20-e0 --num 1000 --steps 20 --eta 0
ev bundled-s50-e1 --num 1000 --steps 50 --eta 1
ev bundled-s10-e0 --num 1000 --steps 10 --eta 0
wait $P
echo "scored at $(el) s"
python3 - $R <<'PY'
import json, glob, sys
for f in sorted(glob.glob(sys.argv[1] + "/eval-*.json")):
    d = json.load(open(f)); s = d["samples"]
    print(f"{f.split('/')[-1]}: FID {s['fid']:.3f} floor {d['floor']['fid']:.3f} conf {s['confident_share']:.3f} kl {s['class_kl']:.4f} {s['sampling_seconds']:.1f} s")
PY
for f in $R/eval-*.txt; do tail -c 300 $f | grep -i -m2 "error\|exception"; done
echo "done at $(el) s"
