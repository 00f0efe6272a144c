#!/usr/bin/env bash
# Install pyABC into its own virtual environment under benchmarks/peers/ (git-ignored) and print
# that environment's python on the last line. Rerunning reuses a finished install.
# Usage: bash benchmarks/setup_pyabc.sh
set -euo pipefail
cd "$(dirname "$0")"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
venv="$PWD/peers/pyabc"
python="$venv/bin/python"
if ! "$python" -c "import pyabc" >/dev/null 2>&1; then
    rm -rf "$venv"
    mkdir -p peers
    # pyABC supports Python >= 3.10; the interpreter that runs this script must be one.
    "${PYABC_BASE_PYTHON:-python3}" -m venv "$venv"
    "$python" -m pip install -q "pyabc==0.13.0" "pandas<3" >&2
fi
"$python" -c "import pyabc, sys; print('pyabc', pyabc.__version__, 'on Python', sys.version.split()[0])" >&2
echo "$python"
