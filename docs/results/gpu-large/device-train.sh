#!/usr/bin/env bash
# Device script: train U-Nets A and B side by side on one GPU with `ddim train --device cuda`, then score them there
# with `ddim eval --device cuda` (N = 1000, seed 0). Everything comes back in $OUT as res.part-* (tar) + device.log.
set -uo pipefail
T0=$(date +%s); TRAIN_END=${TRAIN_END:-410}; EVAL_TO=${EVAL_TO:-110}; RUNS=${RUNS:-A B}; DEV=${DEV:-cuda}
el() { echo $(( $(date +%s) - T0 )); }
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/device.log") 2>&1
nvidia-smi -L 2>/dev/null; nproc
TL=${TL:-$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+"/lib")')}
python3 -c 'import torch;print("torch", torch.__version__, torch.version.cuda)' 2>/dev/null
W=${W:-/tmp/w}; R=$W/res; mkdir -p $W/app $R; [ -n "${APPDIR:-}" ] || tar -xJf .gpu/app.tar.xz -C $W/app; tar -xJf .gpu/data.tar.xz -C $W
export DDIM_DATA=$W/datasets LD_LIBRARY_PATH=$TL:${LD_LIBRARY_PATH:-}
APP=${APPDIR:-$W/app/pub}/Ddim.Cli
pack() { cp "$OUT/device.log" $R/ 2>/dev/null; (cd $W && tar -cf res.tar res) && split -b 15000000 $W/res.tar $OUT/res.part-; ls -la $OUT; }
echo "unpacked at $(el) s"
# 1. Probe: 60 steps of each run, side by side (as they will train); steps/s from steps 20..60.
for r in $RUNS; do
  python3 -c "import json;c=json.load(open('.gpu/$r.json'));c.update(Steps=60,CosineDecayFrom=None,LogEvery=20,CheckpointEvery=100000,SampleEvery=0);json.dump(c,open('$W/probe-$r.json','w'))"
  timeout 120 $APP train --preset $W/probe-$r.json --out $W/probe-$r --device $DEV --threads 2 > $W/probe-$r.txt 2>&1 & P="${P:-} $!"
done
wait $P; P=
for r in $RUNS; do
  cat $W/probe-$r.txt | tail -c 800
  if [ ! -f $W/probe-$r/loss.jsonl ]; then echo "PROBE $r FAILED"; cp $W/probe-$r.txt $R/; pack; exit 3; fi
done
echo "probed at $(el) s"
for r in $RUNS; do
  python3 - "$r" "$W" "$(el)" "$TRAIN_END" <<'PY'
import json, sys
r, W, now, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
L = [json.loads(l) for l in open(f"{W}/probe-{r}/loss.jsonl")]
a, b = L[0], L[-1]
sps = (b["step"] - a["step"]) / (b["elapsed_s"] - a["elapsed_s"])
steps = int(sps * (end - now - 12) * 0.93) // 100 * 100
c = json.load(open(f".gpu/{r}.json"))
c["Steps"] = max(steps, 500); c["CosineDecayFrom"] = c["Steps"] // 2; c["CheckpointEvery"] = c["Steps"]
json.dump(c, open(f"{W}/res/{r}.json", "w"), indent=2)
print(f"{r}: {sps:.2f} steps/s at batch {c['BatchSize']} -> {c['Steps']} steps")
PY
done
# 2. Train side by side.
for r in $RUNS; do
  timeout $(( TRAIN_END - $(el) + 45 )) $APP train --preset $R/$r.json --out $W/run-$r --device $DEV --threads 2 > $R/train-$r.txt 2>&1 & P="${P:-} $!"
done
wait $P; P=
echo "trained at $(el) s"
for r in $RUNS; do
  tail -c 600 $R/train-$r.txt
  [ -f $W/run-$r/model.ddim ] || $APP export --checkpoint $W/run-$r/checkpoint.ddim --out $W/run-$r/model.ddim
  cp $W/run-$r/model.ddim $R/$r.ddim; cp $W/run-$r/loss.jsonl $R/$r.loss.jsonl
done
# 3. Score each model on the GPU, all configurations at once (N = 1000, seed 0); DDPM (all 1000 steps) at N = 500.
for r in $RUNS; do
  for cfg in "50 0" "50 1" "10 0" "10 1"; do
    set -- $cfg
    timeout $EVAL_TO $APP eval --model $R/$r.ddim --device $DEV --threads 1 --num 1000 --steps $1 --eta $2 --json $R/eval-$r-s$1-e$2.json > $R/eval-$r-s$1-e$2.txt 2>&1 & P="${P:-} $!"
  done
  timeout $EVAL_TO $APP eval --model $R/$r.ddim --device $DEV --threads 1 --num 500 --sampler ddpm --json $R/eval-$r-ddpm-n500.json > $R/eval-$r-ddpm-n500.txt 2>&1 & P="${P:-} $!"
done
wait $P; P=
echo "scored at $(el) s"
python3 - $R <<'PY'
import json, glob, sys
for f in sorted(glob.glob(sys.argv[1] + "/eval-*.json")):
    d = json.load(open(f)); s = d["samples"]
    print(f"{f.split('/')[-1]}: FID {s['fid']:.2f} floor {d['floor']['fid']:.2f} conf {s['confident_share']:.3f} kl {s['class_kl']:.4f} {s['sampling_seconds']:.1f} s")
PY
pack
echo "done at $(el) s"
