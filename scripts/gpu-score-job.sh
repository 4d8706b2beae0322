#!/usr/bin/env bash
# GPU job, part 2 (the next device command, on the same warm machine as scripts/gpu-train-job.sh): score its model D
# further, all at once: the Table 1 sweep at N = NUM (one process per η row, the σ̂ row with η = 1's, sharing one cell
# store; then a merge that reuses all 20 cells), DDPM over all T at N = NUM, and (BIG > 0) DDIM S = 50 η = 0 at
# N = BIG; with SEEDS (e.g. SEEDS=0,1,2), DDIM S = 50 at η = 0 and at η = 1 at N = BIG over those seeds instead
# (`ddim eval --seeds`: each seed's scores, then mean ± SD; the floor's mean over 20 draws divides ×floor); KEEP=1
# adds η = 0 with --keep-noise there (ε̂ kept after clipping, the form of every score made before re-deriving it became
# the default).
# Each gets EVAL_TO seconds. Results: $OUT/res2.part-* (split tar of $W/res2) and device2.log. The sweep's
# plot needs SkiaSharp's native dependencies; without them, draw it later anywhere with
# `ddim eval --sweep --resume --cells-from cuda --no-ddpm --num NUM --model D.ddim --results-dir DIR --name NAME` on the
# cells (the same model file: the cells are tied to its SHA-256).
# It ran as `EVAL_TO=275 bash scripts/gpu-score-job.sh` for the bundled model's phase 2.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-job-common.sh"
EVAL_TO=${EVAL_TO:-160}
exec > >(tee "$OUT/device2.log") 2>&1
BIG=${BIG:-0}; SEEDS=${SEEDS:-}; R=$W/res; R2=$W/res2; mkdir -p $R2
ddim_app
[ -f $R/D.ddim ] || { echo "no $R/D.ddim: job1 did not run on this machine"; exit 3; }
M=$R/D.ddim; P=
sw() { timeout $EVAL_TO $APP eval --sweep --resume --no-ddpm --model $M --device $DEV --threads 2 --num $NUM --batch-size 1024 --name table1-D --results-dir $R2 "$@"; }
sw --sweep-etas 0 --no-large-variance > $R2/sweep-0.txt 2>&1 & P="$P $!"
sw --sweep-etas 0.2 --no-large-variance > $R2/sweep-0.2.txt 2>&1 & P="$P $!"
sw --sweep-etas 0.5 --no-large-variance > $R2/sweep-0.5.txt 2>&1 & P="$P $!"
sw --sweep-etas 1 > $R2/sweep-1.txt 2>&1 & P="$P $!"  # and the σ̂ row
ev() { name=$1; shift; timeout $EVAL_TO $APP eval --model $M --device $DEV --threads 2 --batch-size 1024 --json $R2/eval-$name.json "$@" > $R2/eval-$name.txt 2>&1 & P="$P $!"; }
ev D-ddpm-n$NUM --num $NUM --sampler ddpm
if [ "$BIG" -gt 0 ] && [ -n "$SEEDS" ]; then
  for eta in 0 1; do ev D-s50-e$eta-n$BIG-seeds --num $BIG --steps 50 --eta $eta --seeds $SEEDS --results-dir $R2; done
  # KEEP=1: η = 0 with the network's ε̂ kept after clipping as well (docs/results/trajectory-energy.md)
  [ "${KEEP:-0}" = 1 ] && ev D-s50-e0-keep-n$BIG-seeds --num $BIG --steps 50 --eta 0 --keep-noise --seeds $SEEDS --results-dir $R2
elif [ "$BIG" -gt 0 ]; then ev D-s50-e0-n$BIG --num $BIG --steps 50 --eta 0; fi
wait $P
echo "scored at $(el) s"
timeout 60 $APP eval --sweep --resume --no-ddpm --model $M --device $DEV --threads 2 --num $NUM --batch-size 1024 --name table1-D --results-dir $R2 --json $R2/table1-D.json > $R2/sweep-merge.txt 2>&1
tail -n 14 $R2/sweep-merge.txt
print_scores $R2
cp "$OUT/device2.log" $R2/; send res2
echo "done at $(el) s"
