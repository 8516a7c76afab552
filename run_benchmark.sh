#!/usr/bin/env bash
# WuBuGAADHybridGen — run one benchmark of bench/ (Windows twin: run_benchmark.bat).
#
# BENCHMARK picks bench/bench_BENCHMARK.py: train (step time, memory), quality (prediction against
# copy-last after a time budget), rollout, mfmnist (Moving Fashion-MNIST), report (report build cost) or
# vs_v01 (against the v0.1 script; needs EXTRA_ARGS="--v01 PATH"). bench/README.md describes each and its
# flags (pass them in EXTRA_ARGS); the results go to stdout as JSON lines. Run benchmarks alone on the
# machine: anything else running skews the times. E.g.
#     BENCHMARK=quality EXTRA_ARGS="--minutes 2" ./run_benchmark.sh
# PYTHON_EXE, DRY_RUN, PAUSE_AT_END: as in run_vaegan.sh.
# Exit code: the benchmark's; 2 for an unknown BENCHMARK.

set -uo pipefail
: "${BENCHMARK:=quality}"

SCRIPT="bench/bench_${BENCHMARK}.py"
if [[ ! "$BENCHMARK" =~ ^[a-z0-9_]+$ || ! -f "$(dirname "${BASH_SOURCE[0]}")/$SCRIPT" ]]; then
    echo "ERROR: BENCHMARK='$BENCHMARK' is not a benchmark: use train, quality, rollout, mfmnist, report or vs_v01" >&2
    if [[ "${PAUSE_AT_END:-auto}" == "true" ]]; then read -r -p "Press Enter to close..." _ || true; fi
    exit 2
fi
exec "$(dirname "${BASH_SOURCE[0]}")/draftPY/run_job.sh" "benchmark $BENCHMARK" "$SCRIPT"
