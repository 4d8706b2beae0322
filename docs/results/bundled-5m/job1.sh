#!/usr/bin/env bash
# Device job 1: probe the step rate of the one-buffer trainer, train U-Net C (5M, batch 512) until TRAIN_END s, export,
# score on the GPU (N = 1000: S=50/10 × η=0/1, held-out loss vs the bundled model). Results: $OUT/res.part-* + device.log.
set -uo pipefail
T0=$(date +%s); TRAIN_END=${TRAIN_END:-465}; EVAL_TO=${EVAL_TO:-70}
el() { echo $(( $(date +%s) - T0 )); }
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/device.log") 2>&1
nvidia-smi -L 2>/dev/null; nproc
NUM=${NUM:-1000}; DEV=${DEV:-cuda}; PRESET=${PRESET:-.gpu/C.json}; W=${W:-/tmp/w}; R=$W/res; mkdir -p $W/app $R
if [ -z "${APP:-}" ]; then
  TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')
  python3 -c 'import torch;print("torch", torch.__version__, torch.version.cuda)'
  tar -xJf .gpu/app.tar.xz -C $W/app; tar -xJf .gpu/data.tar.xz -C $W
  export DDIM_DATA=$W/datasets LD_LIBRARY_PATH=$TL:${LD_LIBRARY_PATH:-}
  APP=$W/app/app/Ddim.Cli
fi
pack() { cp "$OUT/device.log" $R/ 2>/dev/null; rm -f $OUT/res.part-*; (cd $W && tar -cf res.tar res) && split -b 15000000 $W/res.tar $OUT/res.part-; ls -la $OUT; }
echo "unpacked at $(el) s"
# 1. Probe: 80 steps; steps/s from the log's lines at 20 and 80.
python3 -c "import json;c=json.load(open('$PRESET'));c.update(Steps=80,CosineDecayFrom=None,LogEvery=20,CheckpointEvery=100000);json.dump(c,open('$W/probe.json','w'))"
timeout 90 $APP train --preset $W/probe.json --out $W/probe --device $DEV --threads 4 > $R/probe.txt 2>&1
tail -c 600 $R/probe.txt; cp $W/probe/loss.jsonl $R/probe.loss.jsonl 2>/dev/null
[ -f $W/probe/loss.jsonl ] || { echo "PROBE FAILED"; pack; exit 3; }
python3 - "$W" "$(el)" "$TRAIN_END" "$PRESET" <<'PY'
import json, sys
W, now, end, preset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
L = [json.loads(l) for l in open(f"{W}/probe/loss.jsonl")]
a, b = L[0], L[-1]
sps = (b["step"] - a["step"]) / (b["elapsed_s"] - a["elapsed_s"])
steps = int(sps * (end - now - 15) * 0.93) // 100 * 100
c = json.load(open(preset))
c["Steps"] = max(steps, 500); c["CosineDecayFrom"] = c["Steps"] // 2; c["CheckpointEvery"] = c["Steps"] // 3
json.dump(c, open(f"{W}/res/C.json", "w"), indent=2)
print(f"probe: {sps:.2f} steps/s at batch {c['BatchSize']} -> {c['Steps']} steps")
PY
echo "probed at $(el) s"
# 2. Train.
timeout $(( TRAIN_END - $(el) + 40 )) $APP train --preset $R/C.json --out $W/run-C --device $DEV --threads 4 > $R/train-C.txt 2>&1
echo "trained at $(el) s"; tail -c 500 $R/train-C.txt
[ -f $W/run-C/model.ddim ] || $APP export --checkpoint $W/run-C/checkpoint.ddim --out $W/run-C/model.ddim
cp $W/run-C/model.ddim $R/C.ddim; cp $W/run-C/loss.jsonl $R/C.loss.jsonl
# 3. Score on the GPU, all at once (N = 1000, seed 0), and the held-out loss beside the bundled model's.
P=
for cfg in "50 0" "50 1" "10 0" "10 1"; do
  set -- $cfg
  timeout $EVAL_TO $APP eval --model $R/C.ddim --device $DEV --threads 2 --num $NUM --steps $1 --eta $2 --batch-size 1024 --json $R/eval-C-s$1-e$2.json > $R/eval-C-s$1-e$2.txt 2>&1 & P="$P $!"
done
timeout $EVAL_TO $APP loss --model $R/C.ddim --model models/mnist.ddim --device $DEV --threads 2 --num $NUM --json $R/loss-C.json > $R/loss-C.txt 2>&1 & P="$P $!"
wait $P
echo "scored at $(el) s"
python3 - $R <<'PY'
import json, glob, sys
for f in sorted(glob.glob(sys.argv[1] + "/eval-*.json")):
    d = json.load(open(f)); s = d["samples"]
    print(f"{f.split('/')[-1]}: FID {s['fid']:.3f} floor {d['floor']['fid']:.3f} conf {s['confident_share']:.3f} kl {s['class_kl']:.4f} {s['sampling_seconds']:.1f} s")
PY
tail -n 15 $R/loss-C.txt
pack
echo "done at $(el) s"
