#!/usr/bin/env bash
# Device job 2 (same warm machine, after job1): score model C further on the GPU, all at once: the Table 1 sweep at
# N = 1000 (one process per η row, the σ̂ row with η = 1's, sharing one cell store; then a merge that reuses all 20 cells),
# DDPM over all T at N = 1000, and DDIM S = 50 at η = 0 and 1 at N = 10,000. Results: $OUT/res2.part-* + device2.log.
set -uo pipefail
T0=$(date +%s); EVAL_TO=${EVAL_TO:-160}
el() { echo $(( $(date +%s) - T0 )); }
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/device2.log") 2>&1
NUM=${NUM:-1000}; BIG=${BIG:-10000}; DEV=${DEV:-cuda}; W=${W:-/tmp/w}; R=$W/res; R2=$W/res2; mkdir -p $R2
if [ -z "${APP:-}" ]; then
  TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')
  export DDIM_DATA=$W/datasets LD_LIBRARY_PATH=$TL:${LD_LIBRARY_PATH:-}
  APP=$W/app/app/Ddim.Cli
fi
[ -f $R/C.ddim ] || { echo "no $R/C.ddim: job1 did not run on this machine"; exit 3; }
M=$R/C.ddim; P=
sw() { timeout $EVAL_TO $APP eval --sweep --resume --no-ddpm --model $M --device $DEV --threads 2 --num $NUM --batch-size 1024 --name table1-C --results-dir $R2 "$@"; }
sw --sweep-etas 0 --no-large-variance > $R2/sweep-0.txt 2>&1 & P="$P $!"
sw --sweep-etas 0.2 --no-large-variance > $R2/sweep-0.2.txt 2>&1 & P="$P $!"
sw --sweep-etas 0.5 --no-large-variance > $R2/sweep-0.5.txt 2>&1 & P="$P $!"
sw --sweep-etas 1 > $R2/sweep-1.txt 2>&1 & P="$P $!"  # and the σ̂ row
ev() { name=$1; shift; timeout $EVAL_TO $APP eval --model $M --device $DEV --threads 2 --batch-size 1024 --json $R2/eval-$name.json "$@" > $R2/eval-$name.txt 2>&1 & P="$P $!"; }
ev C-ddpm-n$NUM --num $NUM --sampler ddpm
ev C-s50-e0-n$BIG --num $BIG --steps 50 --eta 0
ev C-s50-e1-n$BIG --num $BIG --steps 50 --eta 1
wait $P
echo "scored at $(el) s"
timeout 60 $APP eval --sweep --resume --no-ddpm --model $M --device $DEV --threads 2 --num $NUM --batch-size 1024 --name table1-C --results-dir $R2 --json $R2/table1-C.json > $R2/sweep-merge.txt 2>&1
tail -n 14 $R2/sweep-merge.txt
python3 - $R2 <<'PY'
import json, glob, sys
for f in sorted(glob.glob(sys.argv[1] + "/eval-*.json")):
    d = json.load(open(f)); s = d["samples"]
    print(f"{f.split('/')[-1]}: FID {s['fid']:.3f} floor {d['floor']['fid']:.3f} conf {s['confident_share']:.3f} kl {s['class_kl']:.4f} {s['sampling_seconds']:.1f} s")
PY
cp "$OUT/device2.log" $R2/; (cd $W && tar -cf res2.tar res2) && split -b 15000000 $W/res2.tar $OUT/res2.part-; ls -la $OUT
echo "done at $(el) s"
