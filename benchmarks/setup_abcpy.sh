#!/usr/bin/env bash
# Create ABCpy 0.6.3's own virtual environment at benchmarks/peers/abcpy-venv (git-ignored), for
# the tests and benchmarks that run ABCpy's inference schemes against abcspark.abcpy_backend.
#
# `pip install abcpy==0.6.3` does not work on Python 3.11: its metadata asks for the retired
# `sklearn` package and for `glmnet` (a Fortran build), and its code uses `np.float`, removed in
# numpy 1.24. So the dependencies are pinned by hand, ABCpy is installed with --no-deps, and a
# stub `glmnet` module satisfies the import in abcpy.distances (its LogitNet is never used here).
#
# Idempotent: a stamp records what was installed; a second call only prints the path.
# Usage: bash benchmarks/setup_abcpy.sh   (the last line of standard output is the venv's python)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/benchmarks/peers/abcpy-venv"
stamp="$venv/.abcspark-setup"
base_python=${ABCPY_BASE_PYTHON:-$(command -v python3.11 || command -v python3)}
pyspark_pin=$(grep -E '^pyspark==' "$root/requirements.txt")
packages=(
    "numpy==1.23.5" "scipy==1.11.4" "scikit-learn==1.3.2" "pot==0.9.1" cloudpickle
    "matplotlib<3.10" tqdm "$pyspark_pin" "pandas>=1.5,<3"
)
spec="v1 $("$base_python" --version 2>&1) ${packages[*]} abcpy==0.6.3"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$spec" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

echo "creating $venv with $base_python" >&2
rm -rf "$venv"
"$base_python" -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
"$venv/bin/pip" install -q "${packages[@]}" >&2
"$venv/bin/pip" install -q --no-deps "abcpy==0.6.3" >&2
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat > "$site/glmnet.py" <<'STUB'
"""Stand-in for glmnet (a Fortran build) so that ABCpy 0.6.3 imports; fitting is not supported."""


class LogitNet:
    def __init__(self, *args, **kwargs):
        raise ImportError(
            "glmnet is a stub in this environment (benchmarks/setup_abcpy.sh); ABCpy's "
            "LogisticRegression distances and penalised likelihoods are unavailable here."
        )
STUB
# abcspark itself, without its dependencies (pinned above for ABCpy's numpy).
"$venv/bin/pip" install -q --no-deps -e "$root" >&2
"$venv/bin/python" -c 'import abcpy.inferences, abcspark.abcpy_backend, pyspark' >&2
echo "$spec" > "$stamp"
echo "$venv/bin/python"
