#!/usr/bin/env bash
# WuBuGAADHybridGen set-up (Linux/macOS twin of setup.bat).
#
# Creates ./venv, installs PyTorch, then requirements.txt, and checks the install by importing the package.
# It never downloads datasets and never rewrites requirements.txt.
# PyTorch build: the CUDA build that matches the NVIDIA driver (the "CUDA Version" nvidia-smi reports;
# without nvidia-smi, the release of nvcc), else the CPU build. Running it again after a GPU or driver was
# installed replaces a CPU build of PyTorch by the CUDA one (and the other way round). Choose the wheel
# index yourself with TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 ./setup.sh.
# BASE_PYTHON: the Python 3.10+ that creates venv (default python3). It is not run_vaegan.sh's PYTHON_EXE,
# which is the interpreter inside venv.

set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
: "${BASE_PYTHON:=python3}"
: "${TORCH_INDEX_URL:=}"

fail() { echo "ERROR: $*" >&2; exit 1; }

# The newest CUDA version the machine can run, as "MAJOR MINOR SOURCE": the driver's (nvidia-smi) when
# there is one, else the toolkit's (nvcc); nothing when neither is found; "0 0 SOURCE" when unreadable.
# The wheel brings its own CUDA runtime, so the driver's version is what matters.
detect_cuda() {
    local version="" source=""
    if command -v nvidia-smi >/dev/null 2>&1; then
        source=nvidia-smi
        # "| NVIDIA-SMI 570.86    Driver Version: 570.86    CUDA Version: 12.8 |" -> 12.8
        version="$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)"
    fi
    if [[ -z "$version" ]] && command -v nvcc >/dev/null 2>&1; then
        source=nvcc
        # "Cuda compilation tools, release 12.8, V12.8.93" -> 12.8
        version="$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)"
    fi
    [[ -z "$source" ]] && return 0
    if [[ "$version" =~ ^([0-9]+)\.([0-9]+)$ ]]; then
        echo "$((10#${BASH_REMATCH[1]})) $((10#${BASH_REMATCH[2]})) $source"
    else
        echo "0 0 $source"
    fi
}

if [[ ! -x venv/bin/python ]]; then
    "$BASE_PYTHON" -c "import sys; sys.exit(sys.version_info < (3, 10))" \
        || fail "$BASE_PYTHON is not Python 3.10 or newer (set BASE_PYTHON to one)"
    echo "Creating venv with $BASE_PYTHON ..."
    "$BASE_PYTHON" -m venv venv || fail "could not create venv (install python3-venv, or set BASE_PYTHON)"
fi
PY=venv/bin/python
"$PY" -m pip install --upgrade pip || fail "pip upgrade failed"

if [[ -z "$TORCH_INDEX_URL" ]]; then
    read -r major minor source <<< "$(detect_cuda)"
    code=$(( ${major:-0} * 100 + ${minor:-0} ))
    if [[ -z "${source:-}" ]]; then
        tag=cpu
        echo "No NVIDIA driver (nvidia-smi) or CUDA toolkit (nvcc) found: installing the CPU build of PyTorch"
    elif (( code == 0 )); then
        tag=cu126
        echo "$source was found but its CUDA version could not be read: installing the cu126 build."
        echo "To choose another build: TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 ./setup.sh"
    elif (( code < 1200 )); then
        tag=cpu
        echo "The NVIDIA driver runs CUDA $major.$minor at most; PyTorch $TORCH_VERSION needs CUDA 12 or newer."
        echo "Installing the CPU build: update the driver, then run setup.sh again to switch to the CUDA build."
    else
        if (( code >= 1300 )); then tag=cu130
        elif (( code >= 1208 )); then tag=cu128
        else tag=cu126
        fi
        echo "$source reports CUDA $major.$minor: installing the $tag build of PyTorch"
    fi
    TORCH_INDEX_URL="https://download.pytorch.org/whl/$tag"
fi

# An installed torch of another build (2.14.1+cpu on a machine that now has a GPU) satisfies torch==2.14.1,
# so pip would keep it: uninstall it first (the check compares the version and the CUDA build).
if ! "$PY" -c "import sys, torch; c = torch.version.cuda; tag = 'cu' + c.replace('.', '') if c else 'cpu'; \
want = sys.argv[2].rstrip('/').rsplit('/', 1)[-1]; \
sys.exit(0 if (torch.__version__.split('+')[0], tag) == (sys.argv[1], want) else 1)" \
        "$TORCH_VERSION" "$TORCH_INDEX_URL" >/dev/null 2>&1; then
    if "$PY" -m pip show torch >/dev/null 2>&1; then
        echo "The installed PyTorch is not the build of $TORCH_INDEX_URL: uninstalling it first"
        "$PY" -m pip uninstall -y torch torchvision || fail "pip uninstall failed"
    fi
fi
"$PY" -m pip install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" --index-url "$TORCH_INDEX_URL" \
    || fail "PyTorch install failed (index $TORCH_INDEX_URL)"
"$PY" -m pip install -r requirements.txt || fail "pip install -r requirements.txt failed"

"$PY" -c "import sys; sys.path.insert(0, 'draftPY'); import wubugaad, torch, torchvision; \
print('wubugaad OK; torch', torch.__version__, '| CUDA available:', torch.cuda.is_available())" \
    || fail "the package does not import; see the messages above"
echo "Set-up done. Activate with: source venv/bin/activate   Train: ./run_vaegan.sh"
