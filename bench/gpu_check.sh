#!/usr/bin/env bash
# GPU check: one command on a CUDA machine, at most 10 minutes in all. Installs nothing.
#
#     bash bench/gpu_check.sh             # results in $OUT when set, else ./bench_out
#     bash bench/gpu_check.sh --dry-run   # CPU / CI: every part's command line parses and starts (tiny
#                                         # sizes, 1 step each, pytest --collect-only); ~1 minute
#
# Parts, each under `timeout` (seconds; a killed part records exit 124), in this order:
#   gpu 10 · python_env 20 · pytest_cuda 80 · flops 45 · fixture_x4 15 · train_amp_compile 150
#   · bench_research 70 · bench_research_amp 70 · mfmnist_gpu 120 · mfu 10           (sum: 590 s ≤ 600)
# Results (the device tool brings back at most 8 files from $OUT):
#   summary.txt   one line per part: exit code, seconds and its limit
#   env.txt       nvidia-smi name/memory/driver, torch/CUDA versions, missing Python packages
#   pytest.log    `pytest -k cuda`: the [cuda] variants (bf16 AMP steps of the real trainer on CUDA)
#   train.log     the research launcher (run_vaegan.sh) with USE_AMP=true COMPILE=true, 20 steps, on the
#                 generated 256×256 demo video, then its metrics.jsonl (step 1's train/seconds_per_step
#                 holds the compilation)
#   bench.jsonl   bench_train.py research and research-amp: step time, data-wait share, host syncs
#   flops.jsonl   bench_flops.py research (FLOPs per clip, no memory estimate) and mfu.py's lines: MFU of
#                 both bench runs against the card's dense bf16 peak
#   mfmnist.json  bench_mfmnist.py --preset gpu, 75 s or 600 steps, 1000 test sequences: steps, seconds
#                 (steps/s), MSE
#   logs.txt      the console output of the bench parts
#
# Moving Fashion-MNIST reads its idx files from $MNIST_PATH (default /usr/share/datasets/fashion-mnist,
# the Debian package dataset-fashion-mnist); without them it trains on generated textured objects
# (moving_mnist from a synthetic idx folder): steps/s stay comparable, the MSE does not.
# Packages: the device image has torch, torchvision, opencv-python-headless, scikit-image, tqdm and numpy;
# wandb and lpips are imported only when enabled (both off here). RAFT and LPIPS weights cannot be
# downloaded there: the runs use --optical_flow_random_init (same cost).

set -uo pipefail

DRY=false
case "${1:-}" in
    --dry-run) DRY=true ;;
    "") ;;
    *) echo "usage: bash bench/gpu_check.sh [--dry-run]" >&2; exit 2 ;;
esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS="${OUT:-$REPO/bench_out}"
PY="${PYTHON_EXE:-python3}"
WORK="$(mktemp -d -t wubugaad-gpucheck-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$RESULTS"
SUMMARY="$RESULTS/summary.txt"
LOGS="$RESULTS/logs.txt"
: > "$SUMMARY"
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled
cd "$REPO" || exit 1

# Real run against dry run: the same commands, the dry run at toy sizes and one step.
VIDEO_DIR="$WORK/demo_video_data_dir"
STEPS=20 BENCH_STEPS=(--steps 10 --warmup 3) PYTEST_MODE=()
MF_LIMIT=(--minutes 1.25 --max_steps 600 --test-sequences 1000)
SHRINK=()
if $DRY; then
    VIDEO_DIR="$REPO/tests/data/bbb_excerpt.mp4"
    STEPS=1 BENCH_STEPS=(--steps 1 --warmup 0) PYTEST_MODE=(--collect-only)
    MF_LIMIT=(--epochs 1 --max_steps 1 --test-sequences 2 --moving_train_sequences 4 --num_workers 0)
    # the research model at toy widths and RAFT's smallest frame
    SHRINK=(--image_h 128 --image_w 128 --resize_mode stretch --num_input_frames 3 --num_predict_frames 2
            --batch_size 2 --num_workers 0 --gaad_num_regions 3 --gaad_motion_num_regions 3 --latent_dim 8
            --encoder_initial_tangent_dim 8 --encoder_shallow_cnn_channels 8 --gen_base_channels 8
            --wubu_s_hyperbolic_dims 8 4 --wubu_m_hyperbolic_dims 8 4 --wubu_t_hyperbolic_dims 8 4
            --disc_base_disc_channels 8 --disc_max_disc_channels 16 --disc_min_hidden_fc_dim 8
            --disc_max_hidden_fc_dim 16 --disc_cnn_channels_2d 8 8 8 --disc_gaad_condition_dim_disc 8)
fi
FAILED=0

# part NAME LIMIT LOG CMD...: run CMD under `timeout LIMIT`, output appended to LOG, one summary line.
# Accepted exit codes: 0, and 5 for pytest (no test selected) — anything else marks the check failed.
part() {
    local name=$1 limit=$2 log=$3 start rc
    shift 3
    start=$(date +%s)
    echo "==== $name (limit ${limit}s): $*" >> "$log"
    timeout --kill-after=10 "$limit" "$@" >> "$log" 2>&1
    rc=$?
    echo "$name: exit $rc, $(( $(date +%s) - start ))s (limit ${limit}s)" | tee -a "$SUMMARY"
    if [[ $rc -ne 0 && ! ( $name == pytest_cuda && $rc -eq 5 ) ]]; then FAILED=1; fi
    return 0
}

ENV_PY='import importlib.util, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
wanted = ("cv2", "skimage", "tqdm", "torchvision", "numpy")
print("missing packages:", ", ".join(m for m in wanted if importlib.util.find_spec(m) is None) or "none")'
part gpu 10 "$RESULTS/env.txt" sh -c \
    'if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version \
     --format=csv; else echo "no nvidia-smi on this machine"; fi'
part python_env 20 "$RESULTS/env.txt" "$PY" -c "$ENV_PY"
part pytest_cuda 80 "$RESULTS/pytest.log" "$PY" -m pytest -q -x -k cuda -p no:cacheprovider "${PYTEST_MODE[@]}"

# FLOPs per clip of the research configuration (for MFU); the memory estimate runs on the CPU, skipped here
part flops 45 "$LOGS" sh -c "'$PY' bench/bench_flops.py --config research --no-memory ${SHRINK[*]} \
    >> '$RESULTS/flops.jsonl'"

# the fixture repeated 4x: no epoch boundary (short last batch, new shapes) inside the timed steps
part fixture_x4 15 "$LOGS" "$PY" -c "import sys; sys.path.insert(0, 'bench'); import _common as c; \
from pathlib import Path; c.concat_video(c.FIXTURE, Path('$WORK/fixture_x4.mp4'), 4)"

# a short research run through the real launcher: AMP (bf16) and torch.compile
part train_amp_compile 150 "$RESULTS/train.log" env \
    VIDEO_DATA_PATH="$VIDEO_DIR" CHECKPOINT_OUTPUT_DIR="$WORK/run" CACHE_DIR="$WORK/cache" \
    MAX_STEPS="$STEPS" USE_AMP=true AMP_DTYPE=bf16 COMPILE=true WANDB_ENABLED=false \
    USE_LPIPS_FOR_VERIFICATION=false LOAD_STRICT=false VAL_INTERVAL=1000 VAL_MAX_CLIPS=8 SAMPLE_FORMAT=png \
    LOG_INTERVAL=1 EXTRA_ARGS="--optical_flow_random_init ${SHRINK[*]}" PAUSE_AT_END=false \
    bash "$REPO/run_vaegan.sh"
# its metrics (train/seconds_per_step of step 1 holds the compilation) into the same log
find "$WORK/run" -name metrics.jsonl -exec cat {} + >> "$RESULTS/train.log" 2>/dev/null

for cfg in research research-amp; do
    part "bench_${cfg//-/_}" 70 "$LOGS" sh -c \
        "'$PY' bench/bench_train.py --config $cfg ${BENCH_STEPS[*]} --video '$WORK/fixture_x4.mp4' \
         ${SHRINK[*]} >> '$RESULTS/bench.jsonl'"
done

# Moving Fashion-MNIST, GPU preset: steps per second and the MSE after 75 s (at most 600 steps)
MNIST="${MNIST_PATH:-/usr/share/datasets/fashion-mnist}"
DATASET=()
if [[ ! -e "$MNIST/train-images-idx3-ubyte" && ! -e "$MNIST/train-images-idx3-ubyte.gz" ]]; then
    MNIST="$WORK/objects"
    DATASET=(--dataset moving_mnist)
    "$PY" -c "import sys, numpy as np; from pathlib import Path; d = Path(sys.argv[1]); d.mkdir(); \
rng = np.random.default_rng(0); \
[(d / f).write_bytes(np.array([0x803, n, 28, 28], '>u4').tobytes() \
 + (rng.random((n, 28, 28)) * 255).astype(np.uint8).tobytes()) \
 for f, n in (('train-images-idx3-ubyte', 256), ('t10k-images-idx3-ubyte', 64))]" "$MNIST"
    echo "mfmnist_gpu: no Fashion-MNIST at '${MNIST_PATH:-/usr/share/datasets/fashion-mnist}': generated \
textured objects (steps/s comparable, MSE not)" | tee -a "$SUMMARY"
fi
MF_OUT="$WORK/mfmnist"
part mfmnist_gpu 120 "$LOGS" "$PY" bench/bench_mfmnist.py --preset gpu "${MF_LIMIT[@]}" \
    --mnist-path "$MNIST" --cache-dir "$WORK/cache" --out "$MF_OUT" "${DATASET[@]}"
cp "$MF_OUT/mfmnist_gpu.json" "$RESULTS/mfmnist.json" 2>/dev/null

part mfu 10 "$LOGS" sh -c "'$PY' bench/mfu.py --flops '$RESULTS/flops.jsonl' --bench '$RESULTS/bench.jsonl' \
    >> '$RESULTS/flops.jsonl'"

cat "$RESULTS/bench.jsonl" "$RESULTS/flops.jsonl" 2>/dev/null
echo "results in $RESULTS"
if [[ $FAILED -ne 0 ]]; then
    echo "gpu_check: a part failed (summary.txt lists the exit codes; the logs say why)" >&2
    exit 1
fi
