#!/usr/bin/env bash
# GPU job, part 1 (one device command): probe the trainer's rate in bfloat16 (PROBE steps; float32 too with
# FP32_PROBE=1) at the preset's batch and at a larger one (BIG_BATCH), keep the fastest in images a second, train PRESET
# until TRAIN_END seconds into the job (Steps, CosineDecayFrom at 30% and CheckpointEvery are set from the probe's
# rate), export, and score on the GPU: DDIM S = 50 and 10 at η = 0 and 1 (N = NUM, seed 0) and the
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
# 1. Probes: PROBE steps at the preset's batch, and at BIG_BATCH (0: not probed), in bfloat16; steps/s
# from the log's lines at 20 and PROBE. A small network leaves a GPU's step time to fixed per-step costs, so a larger
# batch can train on more images a second; it is taken only when it does by 1.3× or more, and then the learning rate
# grows as √(batch ratio) and the warm-up and the EMA keep their length in images (decay^(batch ratio)).
B0=$(python3 -c "import json;print(json.load(open('$PRESET'))['BatchSize'])"); BIG_BATCH=${BIG_BATCH:-2048}
# float32 is probed only with FP32_PROBE=1: bfloat16 ran 1.43× faster in phase 2's probe on an H200, and a probe costs ~20 s
probes="BFloat16:$B0"; [ "${FP32_PROBE:-0}" = 1 ] && probes="Float32:$B0 $probes"
[ "$BIG_BATCH" -gt 0 ] && [ "$BIG_BATCH" != "$B0" ] && probes="$probes BFloat16:$BIG_BATCH"
probe_once() {  # one probe; its loss log is the result
  local probe=$1 prec batch name
  prec=${probe%:*}; batch=${probe#*:}; name=probe-$prec-$batch
  # the probe of a larger batch runs with the settings it would train with, so a learning rate too high shows here
  python3 - "$PRESET" "$batch" "$prec" "$PROBE" "$W/$name.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); batch, prec, probe = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
r = batch / c["BatchSize"]
if r != 1:
    c["LearningRate"] *= r ** 0.5
    c["WarmupSteps"] = max(1, round(c["WarmupSteps"] / r)) if c["WarmupSteps"] > 0 else 0
    c["EmaDecay"] = round(c["EmaDecay"] ** r, 6)
c.update(BatchSize=batch, Precision=prec, Steps=probe, CosineDecayFrom=None, LogEvery=20, CheckpointEvery=100000)
json.dump(c, open(sys.argv[5], "w"))
PY
  timeout -k 15 60 $APP train --preset $W/$name.json --out $W/$name --device $DEV --threads 4 > $R/$name.txt 2>&1
  tail -c 300 $R/$name.txt; cp $W/$name/loss.jsonl $R/$name.loss.jsonl 2>/dev/null
}
for probe in $probes; do probe_once $probe; done
# bfloat16 failed at the preset's batch (a GPU without it?): float32 there, unless it was probed already
if [ ! -f $W/probe-BFloat16-$B0/loss.jsonl ] && [[ " $probes " != *" Float32:$B0 "* ]]; then
  echo "bfloat16 probe failed: probing float32"; probes="Float32:$B0 $probes"; probe_once Float32:$B0
fi
python3 - "$W" "$(el)" "$TRAIN_END" "$PRESET" "$probes" <<'PY'
import json, sys
W, now, end, preset, probes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5].split()
rates = {}
for probe in probes:
    prec, batch = probe.split(":")
    try:
        L = [json.loads(l) for l in open(f"{W}/probe-{prec}-{batch}/loss.jsonl")]
        a, b = L[0], L[-1]
        rates[(prec, int(batch))] = (b["step"] - a["step"]) / (b["elapsed_s"] - a["elapsed_s"])
    except Exception as e:
        print(f"probe {prec} at batch {batch} failed: {e}")
print("probe steps/s:", {f"{p} {b}": round(v, 2) for (p, b), v in rates.items()})
b0 = json.load(open(preset))["BatchSize"]
base = [k for k in rates if k[1] == b0] or list(rates)  # the preset's batch, else whatever probe worked
if not base: sys.exit(3)
prec = "BFloat16" if rates.get(("BFloat16", b0), 0) > 1.1 * rates.get(("Float32", b0), 0) else "Float32"
choice = (prec, b0) if (prec, b0) in rates else base[0]
big = [k for k in rates if k[1] != b0]
if big and rates[big[0]] * big[0][1] > 1.3 * rates[choice] * choice[1]:
    choice = big[0]
prec, batch = choice
sps = rates[choice]
c = json.load(open(f"{W}/probe-{prec}-{batch}.json"))  # the probe's settings (batch, rate, warm-up, EMA), for a whole run
c["LogEvery"] = json.load(open(preset))["LogEvery"]
steps = int(sps * (end - now - 15) * 0.95) // 100 * 100
c["Steps"] = max(steps, 500); c["CosineDecayFrom"] = int(c["Steps"] * 0.3) // 100 * 100; c["CheckpointEvery"] = c["Steps"] // 3
json.dump(c, open(f"{W}/res/D.json", "w"), indent=2)
print(f"chose {prec} at batch {batch}: {sps:.2f} steps/s ({sps * batch:.0f} images/s) -> {c['Steps']} steps, cosine from {c['CosineDecayFrom']}, "
      f"lr {c['LearningRate']:.5g}, warm-up {c['WarmupSteps']}, EMA {c['EmaDecay']}")
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
