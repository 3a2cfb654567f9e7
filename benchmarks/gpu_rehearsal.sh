#!/usr/bin/env bash
# Rehearse benchmarks/gpu_run.sh on this CPU machine as a bare GPU machine would see it, then
# publish what it brings back the way a GPU run is published (scores made here).
#
#   bash benchmarks/gpu_rehearsal.sh [OUT]      (as root: it uses a private mount namespace)
#   DATA=music bash benchmarks/gpu_rehearsal.sh [OUT]
#
# - Python 3.12 in its own venv ($BARE_VENV, made on first use) with only what the GPU image
#   has that separena uses (torch 2.11.0, numpy, scipy, PyYAML, pluggy, rich, click,
#   matplotlib, setuptools): numpy 2 and the newest scipy, as there;
# - a copy of the working tree and the kit (.gpu-kit, or .gpu-kit-music with DATA=music, from
#   benchmarks/gpu_kit.py), as travels;
# - eSpeak NG, ffmpeg, FluidSynth, TiMidity++, eSpeak's data, the soundfonts and dpkg's file
#   lists hidden (bind mounts in a private namespace), so the data can only come from the kit;
# - the suite `rehearsal`: speech-quick's budget for mask-inference with speech-gpu's metrics
#   (about 4 minutes on 2 cores with the data build), or with DATA=music music-quick's for
#   open-unmix-small (4.5 minutes), then `separena publish --rescore` into OUT/published
#   (this machine's venv) and a paired comparison with the published run of that model.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(readlink -f "${1:-/tmp/gpu-rehearsal}")
venv=${BARE_VENV:-/tmp/bare-venv}
python312=${PYTHON312:-$(command -v python3.12)}
data=${DATA:-speech}
case "$data" in
  speech) kit=.gpu-kit model=mask-inference quick=speech-quick
          suite="dataset: espeak-2mix, sample_rate: 8000, budget: {macs: 1.2e+12, batch_size: 8, learning_rate: 0.001}" ;;
  music) kit=.gpu-kit-music model=open-unmix-small quick=music-quick
         suite="dataset: midi-4stem, sample_rate: 16000, budget: {macs: 2.5e+12, batch_size: 8, learning_rate: 0.001}" ;;
  *) echo "DATA=$data; expected speech or music" >&2; exit 1 ;;
esac
[ -d "$root/$kit" ] || { echo "no $kit: run benchmarks/gpu_kit.py first" >&2; exit 1; }
if [ ! -x "$venv/bin/python3" ]; then
  "$python312" -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.11.0 numpy scipy pyyaml pluggy rich click matplotlib setuptools wheel
fi
rm -rf "$out" && mkdir -p "$out/tree" "$out/back"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$out/tree" && cp -r "$kit" "$out/tree/")
cat > "$out/tree/rehearsal.yaml" <<EOF
suites:
  rehearsal: {description: "$quick's budget for $model with the GPU suite's metrics, to rehearse the GPU run",
              $suite, segment_seconds: 2.0, seeds: [0], models: [$model], metrics: [si-sdri, sdri]}
EOF
mkdir -p "$out/empty" "$out/home"
unshare -m --propagation private bash -c '
  set -e
  for program in espeak-ng ffmpeg fluidsynth timidity; do p=$(command -v $program) && mount --bind /dev/null "$p"; done
  for lib in /usr/lib/*/libfluidsynth.so*; do [ -f "$lib" ] && mount --bind /dev/null "$lib"; done
  mount --bind "$1/empty" /var/lib/dpkg/info
  for d in /usr/lib/*/espeak-ng-data /usr/share/sounds/sf2 /usr/share/soundfonts; do
    [ -d "$d" ] && mount --bind "$1/empty" "$d"
  done
  cd "$1/tree"
  env -i PATH="$2/bin:/usr/local/bin:/usr/bin:/bin" HOME="$1/home" OMP_NUM_THREADS=1 SUITE=rehearsal \
    WORK="$1/work" SEPARENA_REGISTRY=rehearsal.yaml BENCH_ARGS= bash benchmarks/gpu_run.sh "$3" "$1/back" 3000
' rehearse "$out" "$venv" "$kit"
(cd "$out/back" && cat gpu.tar.[0-9] | tar -xf -)
"$root/.venv/bin/separena" --registry "$out/tree/rehearsal.yaml" publish --suite rehearsal \
  --store "$out/back/gpu.sqlite" --rescore -o "$out/published"
"$root/.venv/bin/python" - "$root/published/runs.jsonl" "$out/published/runs.jsonl" "$model" "$quick" <<'EOF'
import json, sys
import numpy as np
def run(path, suite):
    return next(r for r in map(json.loads, open(path)) if r["config"]["preset"] == sys.argv[3]
                and r["config"]["suite"] == suite)
here, there = run(sys.argv[1], sys.argv[4]), run(sys.argv[2], "rehearsal")
print(f"trained on {there['config']['data_name']}, scored on {there['published']['scored_on']}; "
      f"published {sys.argv[4]} run: {here['config']['data_name']}")
rng = np.random.default_rng(0)
for name in here["sets"]:
    a, b = (np.array([np.mean(m) for m in r["sets"][name]["si_sdri"]]) for r in (here, there))
    d = b - a
    lo, hi = np.percentile([d[rng.integers(0, len(d), len(d))].mean() for _ in range(2000)], [2.5, 97.5])
    print(f"{name}: published {a.mean():.2f}, rehearsal {b.mean():.2f} dB, paired difference "
          f"{d.mean():+.2f} [{lo:+.2f}, {hi:+.2f}]")
EOF
