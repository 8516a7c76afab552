#!/usr/bin/env bash
# WuBuGAADHybridGen set-up (Linux/macOS twin of setup.bat).
#
# Creates ./venv, installs PyTorch (a CUDA build when nvcc is found, else the CPU build), then
# requirements.txt, and checks the install by importing the package. It never downloads datasets and never
# rewrites requirements.txt. Override the wheel index with TORCH_INDEX_URL=... (e.g. another CUDA build).

set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
: "${PYTHON_EXE:=python3}"
: "${TORCH_INDEX_URL:=}"

fail() { echo "ERROR: $*" >&2; exit 1; }

if [[ ! -x venv/bin/python ]]; then
    echo "Creating venv with $PYTHON_EXE ..."
    "$PYTHON_EXE" -m venv venv || fail "could not create venv (install python3-venv, or set PYTHON_EXE)"
fi
PY=venv/bin/python
"$PY" -m pip install --upgrade pip || fail "pip upgrade failed"

if [[ -z "$TORCH_INDEX_URL" ]]; then
    if command -v nvcc >/dev/null 2>&1; then
        # "Cuda compilation tools, release 12.8, V12.8.93" -> 12 8
        release="$(nvcc --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')"
        read -r major minor <<< "$release"
        if (( major >= 13 )); then tag=cu130
        elif (( major == 12 && minor >= 8 )); then tag=cu128
        else tag=cu126
        fi
        echo "nvcc $major.$minor found: installing the $tag build of PyTorch"
    else
        tag=cpu
        echo "nvcc not found: installing the CPU build of PyTorch"
    fi
    TORCH_INDEX_URL="https://download.pytorch.org/whl/$tag"
fi
"$PY" -m pip install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" --index-url "$TORCH_INDEX_URL" \
    || fail "PyTorch install failed (index $TORCH_INDEX_URL)"
"$PY" -m pip install -r requirements.txt || fail "pip install -r requirements.txt failed"

"$PY" -c "import sys; sys.path.insert(0, 'draftPY'); import wubugaad.model, torch; \
print('wubugaad OK; torch', torch.__version__, '| CUDA available:', torch.cuda.is_available())" \
    || fail "the package does not import; see the messages above"
echo "Set-up done. Activate with: source venv/bin/activate   Train: ./run_vaegan.sh"
