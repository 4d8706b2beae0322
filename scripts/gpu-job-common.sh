#!/usr/bin/env bash
# Shared by scripts/gpu-train-job.sh and scripts/gpu-score-job.sh (sourced, not run): the clock, the output folder,
# the ddim build to run, the score summary and the split archive that brings results back.
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
NUM=${NUM:-1000}; DEV=${DEV:-cuda}; W=${W:-/tmp/w}; PACK=${PACK:-.gpu}

# Sets APP, unless given, to the pack's build run against python3's CUDA libtorch; `ddim_app unpack` first unpacks the pack
# (app and MNIST files) into $W.
ddim_app() {
  [ -n "${APP:-}" ] && return
  # eval and loss find the judge as models/judge/judge.ddim in the working tree (the pack leaves the models out)
  [ -f models/judge/judge.ddim ] || { echo "no models/judge/judge.ddim here: keep models/judge/ in the tree sent"; exit 3; }
  local tl
  tl=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')
  [ -n "$tl" ] && [ -d "$tl" ] || { echo "no python3 torch here: the CUDA libtorch comes from it (or set APP to a build that finds one)"; exit 3; }
  if [ "${1:-}" = unpack ]; then
    python3 -c 'import torch;print("torch", torch.__version__, torch.version.cuda)'
    mkdir -p $W/app; tar -xJf $PACK/app.tar.xz -C $W/app; tar -xJf $PACK/data.tar.xz -C $W
  fi
  export DDIM_DATA=$W/datasets LD_LIBRARY_PATH=$tl:${LD_LIBRARY_PATH:-}
  APP=$W/app/app/Ddim.Cli
}

# One line per eval JSON named, or per eval-*.json in a folder named (a single seed's scores, or a --seeds run's mean ± SD).
print_scores() {
  python3 - "$@" <<'PY'
import json, glob, os, sys
files = [g for a in sys.argv[1:] for g in (sorted(glob.glob(a + "/eval-*.json")) if os.path.isdir(a) else [a])]
def n(v, fmt):  # a diverged run's FID (and its spread) is null in the JSON
    return "diverged" if v is None else format(v, fmt)
for f in files:
    try:
        d = json.load(open(f))
        if "summary" in d:
            m = d["summary"]
            print(f"{f.split('/')[-1]}: seeds {d['seeds']} FID {n(m['fid']['mean'], '.3f')} ± {n(m['fid']['sd'], '.3f')}, per seed {[n(r['samples']['fid'], '.3f') for r in d['runs']]}")
        else:
            s = d["samples"]
            print(f"{f.split('/')[-1]}: FID {n(s['fid'], '.3f')} floor {d['floor']['fid']:.3f} conf {n(s['confident_share'], '.3f')} kl {n(s['class_kl'], '.4f')} {s['sampling_seconds']:.1f} s")
    except Exception as e:
        print(f"{f.split('/')[-1]}: unreadable ({e})")
PY
}

# Sends folder $W/$1 back as $OUT/$1.part-* (a tar split into 15 MB parts: the device returns files of 16 MiB at most).
# The new parts are made beside $OUT first, so a command cut off meanwhile still returns the previous ones whole.
send() {
  rm -rf $W/$1.parts; mkdir -p $W/$1.parts
  if (cd $W && tar -cf $1.tar $1) && split -b 15000000 $W/$1.tar $W/$1.parts/$1.part-; then
    rm -f $OUT/$1.part-*; mv $W/$1.parts/$1.part-* $OUT/
  fi
  ls -la $OUT
}
