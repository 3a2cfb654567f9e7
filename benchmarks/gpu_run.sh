#!/usr/bin/env bash
# A GPU leaderboard (speech-gpu, or SUITE=music-gpu) on a bare CUDA machine: one that has Python
# with PyTorch, numpy, scipy, PyYAML, pluggy, rich and click, and nothing of ours (no Debian
# packages, no network).
#
#   bash benchmarks/gpu_run.sh KIT OUT [SECONDS]
#
# KIT is the folder benchmarks/gpu_kit.py packs for the suite (speech: eSpeak NG, word lists, the
# real speech pools as Opus; music: the rendered pieces; wheels); if it holds the gpu.tar.N parts
# of an earlier run, that store is resumed (finished runs are not trained again, cut ones go on
# from their step). Run from the
# repository's root. Steps, each timed into OUT/gpu_run.log: install separena and the native
# plugins, with CUDA_CHECK=1 check every architecture on the GPU (benchmarks/cuda_check.py),
# build the suite's data, for speech time batches built on the GPU
# (benchmarks/device_batches.py), then train and evaluate the suite
# (benchmarks/gpu_leaderboard.py --no-publish) until SECONDS (default 540) after the start,
# so that what finished is always packed: OUT/gpu.tar.0, .1, ... (parts of one tar, 15 MiB at
# most: what comes back from OUT is at most 8 files of 16 MiB, 64 MiB in all) hold the store, the
# kept weights and the training state of each run the deadline stopped (SIGINT: it stops after
# the step under way; a state that would take the pack past 60 MiB stays behind).
# With CONCURRENCY=1, benchmarks/gpu_concurrency.py first measures whether two runs at once beat
# one after another (OUT/concurrency.json). JOBS (runs at once), BENCH_ARGS (options of
# `separena bench`) and SUITE override the defaults
# below; SEPARENA_REGISTRY names an extra registry file (e.g. a suite of one's own).
# Publish them on a machine with the Debian packages:
#   cat gpu.tar.? | tar -xf - && separena publish --suite SUITE --store gpu.sqlite --rescore
set -uo pipefail
kit=$(readlink -f "${1:?usage: gpu_run.sh KIT OUT [SECONDS]}")
out=$(readlink -f "${2:?usage: gpu_run.sh KIT OUT [SECONDS]}")
deadline=${3:-540}
suite=${SUITE:-speech-gpu}
# two runs at once, each with 6 batch-building processes and 2 threads: 16 cores, unmeasured on a GPU
jobs=${JOBS:-2}
bench_args=${BENCH_ARGS---threads 2 --data-workers 6}
work=${WORK:-/tmp/separena-gpu}
mkdir -p "$work" "$out"
exec > >(tee -a "$out/gpu_run.log") 2>&1
step() { echo "[$(date +%T) +${SECONDS}s] $*"; }

step "install: wheels, separena and the native plugins into $work/site"
shopt -s nullglob
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$work/site" \
  "$kit"/wheels/*.whl . plugins/mask-inference plugins/deep-clustering plugins/conv-tasnet plugins/open-unmix plugins/oracle || exit 1
if [ -f "$kit/espeak-ng.tar.xz" ]; then  # speech: eSpeak NG and its word lists
  tar -xJf "$kit/espeak-ng.tar.xz" -C "$work" || exit 1
  export SEPARENA_WORD_LISTS="$kit/word-lists.json.xz"
fi
export PYTHONPATH="$work/site" PATH="$work/bin:$PATH" PYTHONUNBUFFERED=1 \
  SEPARENA_CARRIED="$kit/carried" SEPARENA_CACHE="$work/cache"
parts=("$kit"/gpu.tar.[0-9])
if [ ${#parts[@]} -gt 0 ]; then
  cat "${parts[@]}" | tar -xf - -C "$work" && step "resuming the store of ${#parts[@]} part(s) $kit/gpu.tar.N"
fi
python3 - <<'EOF' || exit 1
import sys, torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, device "
      f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu (no CUDA device)'}")
EOF
device=$(python3 -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
cores=$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")

if [ "${CUDA_CHECK:-0}" = 1 ] && [ "$device" = cuda ]; then  # all passed on an H100 (docs/benchmarks/quality.md)
  step "cuda_check (every installed architecture: GPU vs CPU, training steps)"
  python3 benchmarks/cuda_check.py
fi
step "data: $suite's data with $cores processes (from the kit)"
dataset=$(python3 - "$suite" "$cores" <<'EOF'
import inspect, sys
sys.stdout = sys.stderr  # only the data set's kind goes to the variable
from separena import default_registry
registry = default_registry()
suite = registry.suite(sys.argv[1])
builder = registry.dataset(suite.dataset).builder()
workers = {"workers": int(sys.argv[2])} if "workers" in inspect.signature(builder).parameters else {}
data = builder(sample_rate=suite.sample_rate, **suite.dataset_params, **workers)
print(data.name)
print(suite.dataset, file=sys.__stdout__)
EOF
) || exit 1
if [ "$device" = cuda ] && [ "$dataset" = espeak-2mix ]; then
  step "device_batches (batches built on the device vs by the CPU, default data)"
  python3 benchmarks/device_batches.py --device cuda --data default --steps 30
fi
if [ "${CONCURRENCY:-0}" = 1 ] && [ "$device" = cuda ]; then  # about a minute: alone, alone, together
  step "gpu_concurrency (two of the suite's trainings at once vs one after another)"
  python3 benchmarks/gpu_concurrency.py --suite "$suite" --device cuda --seconds 10 --json "$out/concurrency.json"
fi
left=$((deadline - SECONDS - 20))
if [ "$left" -lt 30 ]; then
  step "$suite: no time left for the bench (${left} s); SECONDS=$deadline is too short"
else
  step "$suite: bench with $jobs run(s) at once, stopped after ${left} s if not done"
  timeout --signal=INT --kill-after=15 "$left" \
    python3 benchmarks/gpu_leaderboard.py --suite "$suite" --device "$device" --jobs "$jobs" --no-publish \
    --store "$work/gpu.sqlite" $bench_args
  step "bench exited with $?"
fi
packed=()
for path in gpu.sqlite gpu-artifacts/weights; do [ -e "$work/$path" ] && packed+=("$path"); done
if [ ${#packed[@]} -gt 0 ]; then
  rm -f "$out"/gpu.tar "$out"/gpu.tar.[0-9]
  (cd "$work" && tar -cf "$out/gpu.tar" "${packed[@]}")
  for state in "$work"/gpu-artifacts/state/*.pt; do
    if [ $(( $(stat -c %s "$out/gpu.tar") + $(stat -c %s "$state") )) -lt $((60 * 1024 * 1024)) ]; then
      (cd "$work" && tar -rf "$out/gpu.tar" "gpu-artifacts/state/$(basename "$state")") && packed+=("${state#$work/}")
    else
      step "left out $state: the pack would pass 60 MiB (that run starts again next time)"
    fi
  done
  split -b 15M -d -a 1 "$out/gpu.tar" "$out/gpu.tar." && rm "$out/gpu.tar"
  step "packed ${packed[*]} into $(cd "$out" && echo gpu.tar.[0-9]) ($(du -ch "$out"/gpu.tar.[0-9] | tail -1 | cut -f1))"
fi
step "done"
