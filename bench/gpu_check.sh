#!/usr/bin/env bash
# GPU check: one command on a CUDA machine, under 8 minutes in all. Installs nothing.
#
#     bash bench/gpu_check.sh            # results in $OUT when set, else ./bench_out
#
# Parts, each under `timeout` (seconds):      env 20+30 · pytest -k cuda 60 · AMP+compile training run 200
#                                             · bench_train research 75 · bench_train research-amp 75
#                                             (limits add up to 460 s; a killed part records exit 124)
# Results (6 files; the device tool brings back at most 8 files from $OUT):
#   summary.txt      one line per part: exit code and seconds (124 = hit its time limit)
#   env.txt          nvidia-smi name/memory/driver, torch/CUDA versions, missing Python packages
#   pytest.log       `pytest -q -x -k cuda` (exit 5 = no test has a CUDA variant: tolerated)
#   train.log        the research launcher (run_vaegan.sh) with USE_AMP=true COMPILE=true, 20 steps,
#                    on the generated demo video (256x256 needs more pixels than the 128x72 fixture)
#   bench.jsonl      bench_train.py JSON lines for research and research-amp
#   bench.log        their console output
#
# Packages: the device image has torch, torchvision, opencv-python-headless, scikit-image, tqdm and numpy;
# wandb and lpips are imported only when enabled (both off here). If env.txt lists a missing package,
# download its wheel on a machine with pip (`python3 -m pip download --no-deps --only-binary=:all:
# --python-version 3.12 --platform manylinux2014_x86_64 -d .whl NAME==VERSION`, .whl ignored by git),
# carry .whl, and prefix the command with
# `python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site;`.
# RAFT and LPIPS weights cannot be downloaded there: the runs use --optical_flow_random_init (same cost).

set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS="${OUT:-$REPO/bench_out}"
PY="${PYTHON_EXE:-python3}"
WORK="$(mktemp -d -t wubugaad-gpucheck-XXXXXX)"
mkdir -p "$RESULTS"
SUMMARY="$RESULTS/summary.txt"
: > "$SUMMARY"
export PYTHONUNBUFFERED=1
cd "$REPO" || exit 1

# part NAME LIMIT LOG CMD...: run CMD under `timeout LIMIT`, output appended to LOG, one summary line
part() {
    local name=$1 limit=$2 log=$3 start rc
    shift 3
    start=$(date +%s)
    echo "==== $name (limit ${limit}s): $*" >> "$log"
    timeout --kill-after=10 "$limit" "$@" >> "$log" 2>&1
    rc=$?
    echo "$name: exit $rc, $(( $(date +%s) - start ))s" | tee -a "$SUMMARY"
    return 0
}

ENV_PY='import importlib.util, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
wanted = ("cv2", "skimage", "tqdm", "torchvision", "numpy")
print("missing packages:", ", ".join(m for m in wanted if importlib.util.find_spec(m) is None) or "none")'
part gpu 20 "$RESULTS/env.txt" nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
part python_env 30 "$RESULTS/env.txt" "$PY" -c "$ENV_PY"
part pytest_cuda 60 "$RESULTS/pytest.log" "$PY" -m pytest -q -x -k cuda -p no:cacheprovider

# a short research run through the real launcher: AMP (bf16) and torch.compile, 20 optimizer steps
part train_amp_compile 200 "$RESULTS/train.log" env \
    VIDEO_DATA_PATH="$WORK/demo_video_data_dir" CHECKPOINT_OUTPUT_DIR="$WORK/run" CACHE_DIR="$WORK/cache" \
    MAX_STEPS=20 USE_AMP=true AMP_DTYPE=bf16 COMPILE=true WANDB_ENABLED=false \
    USE_LPIPS_FOR_VERIFICATION=false LOAD_STRICT=false VAL_INTERVAL=1000 VAL_MAX_CLIPS=8 SAMPLE_FORMAT=png \
    EXTRA_ARGS="--optical_flow_random_init" bash "$REPO/run_vaegan.sh"

# the fixture repeated 4x: no epoch boundary (short last batch, new shapes) inside the timed steps
"$PY" -c "import sys; sys.path.insert(0, 'bench'); import _common as c; \
from pathlib import Path; c.concat_video(c.FIXTURE, Path('$WORK/fixture_x4.mp4'), 4)"
for cfg in research research-amp; do
    part "bench_$cfg" 75 "$RESULTS/bench.log" sh -c \
        "'$PY' bench/bench_train.py --config $cfg --steps 10 --warmup 3 --video '$WORK/fixture_x4.mp4' \
         >> '$RESULTS/bench.jsonl'"
done

cat "$RESULTS/bench.jsonl" 2>/dev/null
rm -rf "$WORK"
echo "results in $RESULTS"
