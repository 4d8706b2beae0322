#!/usr/bin/env bash
# GPU job, part 2 (the next device command, best on the same warm machine as scripts/gpu-train-job.sh; on a fresh
# one it unpacks the pack again and needs MODEL, the job's D.ddim carried in the tree): score its model D further, all
# at once: with SWEEP=1 (default) the Table 1 sweep at N = NUM (one process per η row, the σ̂ row with η = 1's, sharing
# one cell store; then a merge that reuses all 20 cells); with DDPM=1, DDPM over all T at N = NUM (it did not finish in
# 275 s at N = 1,000 beside the sweep, and saves nothing partway, so it is off by default); and (BIG > 0) DDIM S = 50
# η = 0 at N = BIG; with SEEDS (e.g. SEEDS=0,1), DDIM S = 50 at η = 0 and at η = 1 at N = BIG at each of those seeds
# instead, one process per η and seed, all at once (a --seeds run takes its seeds one after another, and writes its
# JSON only when all are done); ×floor divides by each seed's own floor unless FLOOR_DRAWS is set, and then every one
# of these processes judges all the draws itself (about 100 s for 20 draws of 10,000 images): leave it unset here, and
# take the floor's mean from the CPU's committed draws (2.34 at N = 10,000); KEEP=1 adds η = 0 with --keep-noise there (ε̂ kept after clipping,
# the form of every score made before re-deriving it became the default). Each eval's scores go into device2.log as it
# finishes, so a command cut off by the device's time limit still brings back what finished.
# One process's time does not grow with how many share the GPU (phase 2 and gpu-large: S = 50, N = 1,000 took 17–18 s
# with 5 or 10 processes), so N = 10,000 at S = 50 should take some 180 s. For the S = 50 targets after job 1, send at
# once (the machine stays warm 30 s), with EVAL_TO the device time left (`status`) less 60 s and nothing carried:
#   SWEEP=0 SEEDS=0,1 BIG=10000 EVAL_TO=240 bash scripts/gpu-score-job.sh
# On a fresh machine it unpacks the pack again and needs MODEL, the job's D.ddim carried in the tree; a session rarely
# has the time left to start a second machine, so that is for a later session.
# Each gets EVAL_TO seconds. Results: $OUT/res2.part-* (split tar of $W/res2) and device2.log. The sweep's
# plot needs SkiaSharp's native dependencies; without them, draw it later anywhere with
# `ddim eval --sweep --resume --cells-from cuda --no-ddpm --num NUM --model D.ddim --results-dir DIR --name NAME` on the
# cells (the same model file: the cells are tied to its SHA-256).
# It ran as `EVAL_TO=275 bash scripts/gpu-score-job.sh` for the bundled model's phase 2.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-job-common.sh"
EVAL_TO=${EVAL_TO:-$([ -n "${SEEDS:-}" ] && echo 240 || echo 160)}  # N = 10,000 at S = 50 takes some 180 s
exec > >(tee "$OUT/device2.log") 2>&1
BIG=${BIG:-0}; SEEDS=${SEEDS:-}; SWEEP=${SWEEP:-1}; R=$W/res; R2=$W/res2; mkdir -p $R2
if [ -x $W/app/app/Ddim.Cli ]; then ddim_app; else ddim_app unpack; fi  # a fresh machine: unpack the pack again
M=${MODEL:-$R/D.ddim}
[ -f "$M" ] || { echo "no $M: job 1 did not run on this machine; carry its D.ddim and set MODEL to it"; exit 3; }
P=
# timeout -k: on SIGTERM, eval --sweep first finishes and saves the cell in progress (a single eval saves nothing
# partway); the KILL that follows keeps each command, and the job, inside its time.
sw() { timeout -k 15 $EVAL_TO $APP eval --sweep --resume --no-ddpm --model $M --device $DEV --threads 2 --num $NUM --batch-size 1024 --name table1-D --results-dir $R2 "$@"; }
if [ "$SWEEP" = 1 ]; then
  sw --sweep-etas 0 --no-large-variance > $R2/sweep-0.txt 2>&1 & P="$P $!"
  sw --sweep-etas 0.2 --no-large-variance > $R2/sweep-0.2.txt 2>&1 & P="$P $!"
  sw --sweep-etas 0.5 --no-large-variance > $R2/sweep-0.5.txt 2>&1 & P="$P $!"
  sw --sweep-etas 1 > $R2/sweep-1.txt 2>&1 & P="$P $!"  # and the σ̂ row
fi
# One eval in the background; its scores go into the log the moment it ends.
ev() {
  name=$1; shift
  ( timeout -k 15 $EVAL_TO $APP eval --model $M --device $DEV --threads 2 --batch-size 1024 --json $R2/eval-$name.json "$@" > $R2/eval-$name.txt 2>&1
    rc=$?; echo "[$(el) s] $name: exit $rc"; [ -f $R2/eval-$name.json ] && print_scores $R2/eval-$name.json ) & P="$P $!"
}
[ "${DDPM:-0}" = 1 ] && ev D-ddpm-n$NUM --num $NUM --sampler ddpm
if [ "$BIG" -gt 0 ] && [ -n "$SEEDS" ]; then
  for seed in ${SEEDS//,/ }; do
    for eta in 0 1; do ev D-s50-e$eta-n$BIG-seed$seed --num $BIG --steps 50 --eta $eta --seed $seed --floor-draws ${FLOOR_DRAWS:-0}; done
    # KEEP=1: η = 0 with the network's ε̂ kept after clipping as well (docs/results/trajectory-energy.md)
    [ "${KEEP:-0}" = 1 ] && ev D-s50-e0-keep-n$BIG-seed$seed --num $BIG --steps 50 --eta 0 --seed $seed --keep-noise --floor-draws ${FLOOR_DRAWS:-0}
  done
elif [ "$BIG" -gt 0 ]; then ev D-s50-e0-n$BIG --num $BIG --steps 50 --eta 0; fi
[ -n "$P" ] && wait $P  # an empty list would wait for the tee of the log as well
echo "scored at $(el) s"
if [ "$SWEEP" = 1 ]; then
  timeout -k 15 60 $APP eval --sweep --resume --no-ddpm --model $M --device $DEV --threads 2 --num $NUM --batch-size 1024 --name table1-D --results-dir $R2 --json $R2/table1-D.json > $R2/sweep-merge.txt 2>&1
  tail -n 14 $R2/sweep-merge.txt
fi
print_scores $R2
cp "$OUT/device2.log" $R2/; send res2
echo "done at $(el) s"
