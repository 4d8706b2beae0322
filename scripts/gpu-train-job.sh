#!/usr/bin/env bash
# GPU job, part 1 (one device command): probe the trainer's rate in float32 and bfloat16 (PROBE steps each), keep the
# faster, train PRESET until TRAIN_END seconds into the job (Steps, CosineDecayFrom at 30% and CheckpointEvery are set
# from the probe's rate), export, and score on the GPU: DDIM S = 50 and 10 at η = 0 and 1 (N = NUM, seed 0) and the
# held-out loss beside BASE. Results: $OUT/res.part-* (split tar of $W/res, model D.ddim included) and device.log.
# Made for a bare GPU machine with python3 + a CUDA PyTorch and no .NET: run from the repository root, with the pack of
# scripts/pack-gpu.sh in PACK (default .gpu, which git ignores: carry it). scripts/gpu-score-job.sh is part 2.
# It made the bundled model's phase 2 (docs/results/bundled-5m-phase2/) with PRESET=presets/mnist-gpu-phase2.json
# BASE=models/mnist-5m-phase1.ddim; its defaults now run phase 3 from the bundled model:  TRAIN_END=480 bash scripts/gpu-train-job.sh
# A device that takes at most 64 MiB of working tree needs checkpoints/ and the models the job does not read (all but
# PRESET's InitFrom, BASE and models/judge/, which eval reads from the tree: the pack leaves the models out) moved out
# of the checkout while the job is sent; keep them out until scripts/gpu-score-job.sh has been sent too.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/gpu-job-common.sh"
TRAIN_END=${TRAIN_END:-480}; EVAL_TO=${EVAL_TO:-70}; PROBE=${PROBE:-60}
exec > >(tee "$OUT/device.log") 2>&1
nvidia-smi -L 2>/dev/null; nproc
PRESET=${PRESET:-presets/mnist-gpu-phase3.json}; BASE=${BASE:-models/mnist.ddim}
R=$W/res
rm -rf $W/probe-* $W/run-D $R; mkdir -p $R  # a rerun on the same machine starts clean (train refuses a folder with a checkpoint)
ddim_app unpack
pack() { cp "$OUT/device.log" $R/ 2>/dev/null; send res; }
echo "unpacked at $(el) s; pack of $(cat $PACK/commit.txt 2>/dev/null || echo 'an unknown commit')"
# 1. Probes: PROBE steps in each precision; steps/s from the log's lines at 20 and PROBE.
for prec in Float32 BFloat16; do
  python3 -c "import json;c=json.load(open('$PRESET'));c.update(Steps=$PROBE,CosineDecayFrom=None,LogEvery=20,CheckpointEvery=100000,Precision='$prec');json.dump(c,open('$W/probe-$prec.json','w'))"
  timeout -k 15 60 $APP train --preset $W/probe-$prec.json --out $W/probe-$prec --device $DEV --threads 4 > $R/probe-$prec.txt 2>&1
  tail -c 300 $R/probe-$prec.txt; cp $W/probe-$prec/loss.jsonl $R/probe-$prec.loss.jsonl 2>/dev/null
done
python3 - "$W" "$(el)" "$TRAIN_END" "$PRESET" <<'PY'
import json, sys, os
W, now, end, preset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rates = {}
for prec in ("Float32", "BFloat16"):
    try:
        L = [json.loads(l) for l in open(f"{W}/probe-{prec}/loss.jsonl")]
        a, b = L[0], L[-1]
        rates[prec] = (b["step"] - a["step"]) / (b["elapsed_s"] - a["elapsed_s"])
    except Exception as e:
        print(f"probe {prec} failed: {e}")
print("probe steps/s:", {k: round(v, 2) for k, v in rates.items()})
if not rates: sys.exit(3)
prec = "BFloat16" if rates.get("BFloat16", 0) > 1.1 * rates.get("Float32", 0) else "Float32"
sps = rates[prec]
steps = int(sps * (end - now - 15) * 0.95) // 100 * 100
c = json.load(open(preset))
c["Steps"] = max(steps, 500); c["CosineDecayFrom"] = int(c["Steps"] * 0.3) // 100 * 100; c["CheckpointEvery"] = c["Steps"] // 3
c["Precision"] = prec
json.dump(c, open(f"{W}/res/D.json", "w"), indent=2)
print(f"chose {prec}: {sps:.2f} steps/s at batch {c['BatchSize']} -> {c['Steps']} steps, cosine from {c['CosineDecayFrom']}")
PY
[ -f $R/D.json ] || { echo "PROBES FAILED"; pack; exit 3; }
echo "probed at $(el) s"
# 2. Train.
left=$(( TRAIN_END - $(el) + 40 )); [ $left -ge 30 ] || left=30  # timeout 0 would mean no limit
timeout -k 30 $left $APP train --preset $R/D.json --out $W/run-D --device $DEV --threads 4 > $R/train-D.txt 2>&1
echo "trained at $(el) s"; tail -c 500 $R/train-D.txt
[ -f $W/run-D/model.ddim ] || $APP export --checkpoint $W/run-D/checkpoint.ddim --out $W/run-D/model.ddim
cp $W/run-D/model.ddim $R/D.ddim; cp $W/run-D/loss.jsonl $R/D.loss.jsonl
pack  # the model comes back even if the scoring below is cut off by the command's time limit
# 3. Score on the GPU, all at once (N = 1000, seed 0), and the held-out loss beside phase 1's.
P=
for cfg in "50 0" "50 1" "10 0" "10 1"; do
  set -- $cfg
  timeout -k 15 $EVAL_TO $APP eval --model $R/D.ddim --device $DEV --threads 2 --num $NUM --steps $1 --eta $2 --batch-size 1024 --json $R/eval-D-s$1-e$2.json > $R/eval-D-s$1-e$2.txt 2>&1 & P="$P $!"
done
timeout -k 15 $EVAL_TO $APP loss --model $R/D.ddim --model $BASE --device $DEV --threads 2 --num $NUM --json $R/loss-D.json > $R/loss-D.txt 2>&1 & P="$P $!"
wait $P
echo "scored at $(el) s"
print_scores $R
tail -n 15 $R/loss-D.txt
pack
echo "done at $(el) s"
