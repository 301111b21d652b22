#!/usr/bin/env bash
# One-step set-up of vposer for development and testing, offline-friendly:
#   1. the Debian packages for headless OpenGL (EGL + Mesa's llvmpipe), when apt-get is there;
#   2. PyTorch, only if none is installed (VPOSER_TORCH overrides the requirement; on a machine
#      with a GPU install the torch build you want first);
#   3. vposer itself, editable, with every extra and the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

bash scripts/install_system_deps.sh

if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    echo "setup: installing ${VPOSER_TORCH:-torch==2.13.0}"
    "$PYTHON" -m pip install -q "${VPOSER_TORCH:-torch==2.13.0}"
fi
"$PYTHON" -m pip install -q -e ".[all,test]"
"$PYTHON" -c "import vposer, torch; print(f'setup: vposer {vposer.__version__} with torch {torch.__version__} is ready')"
