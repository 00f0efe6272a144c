#!/usr/bin/env bash
# Build (and optionally upload) the wheelhouse that lets install-abcspark.sh work in private
# subnets without internet: the abcspark wheel plus every pinned wheel, for one Python and one
# CPU architecture of the EMR nodes. Runs on any machine with pip and internet access.
set -euo pipefail

readonly PROG=build-wheelhouse
EMR_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly EMR_DIR

usage() {
  cat <<'EOF'
Usage: build-wheelhouse.sh --wheel PATH [--python python3.11|python3.9] [--arch x86_64|aarch64]
                           [--output DIR] [--upload S3_PREFIX]

Download, for the EMR nodes' Python and architecture, the wheels pinned in
emr/bootstrap/requirements-PYTHON.txt (pip checks each against its pinned sha256), and add
the abcspark wheel, into DIR/PYTHON-ARCH/ (DIR defaults to wheelhouse). With --upload, copy
that folder to S3_PREFIX/PYTHON-ARCH/, where install-abcspark.sh --wheelhouse S3_PREFIX looks,
e.g.
  --upload s3://my-abc-bucket/abcspark/artifacts/wheelhouse

  --wheel PATH        the abcspark wheel (pip wheel --no-deps -w dist .)
  --python NAME       python3.11 (default) or python3.9, as PythonVersion of the cluster
  --arch ARCH         x86_64 (default; m7i, m6i, ...) or aarch64 (Graviton: m7g, m6g, ...)
  --output DIR        local wheelhouse folder (default: wheelhouse)
  --upload S3_PREFIX  upload with the aws CLI after downloading
  -h, --help          show this help and exit

Environment: PYTHON (the pip to download with, default python3), AWS (default aws).
EOF
}

usage_error() {
  printf '%s: %s\n\n' "$PROG" "$*" >&2
  usage >&2
  exit 2
}

log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PROG" "$*"; }

main() {
  local wheel='' python=python3.11 arch=x86_64 output=wheelhouse upload=''
  while (($#)); do
    case $1 in
      -h | --help) usage; exit 0 ;;
      --wheel | --python | --arch | --output | --upload)
        (($# >= 2)) || usage_error "$1 needs a value"
        case $1 in
          --wheel) wheel=$2 ;;
          --python) python=$2 ;;
          --arch) arch=$2 ;;
          --output) output=$2 ;;
          --upload) upload=$2 ;;
        esac
        shift 2
        ;;
      *) usage_error "unknown argument: $1" ;;
    esac
  done
  [[ -f $wheel && ${wheel##*/} == abcspark-*.whl ]] \
    || usage_error "--wheel must be an abcspark wheel file (got '$wheel')"
  [[ $python == python3.11 || $python == python3.9 ]] \
    || usage_error "--python must be python3.11 or python3.9 (got '$python')"
  [[ $arch == x86_64 || $arch == aarch64 ]] \
    || usage_error "--arch must be x86_64 or aarch64 (got '$arch')"
  [[ -z $upload || $upload == s3://?* ]] || usage_error "--upload must be an s3:// prefix"

  local version=${python#python} folder=$output/$python-$arch
  local abi=cp${version/./}
  mkdir -p "$folder"
  log "downloading the pins of $python for $arch into $folder"
  # Amazon Linux 2023 (glibc 2.34) runs manylinux_2_28 and manylinux2014 wheels.
  "${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: --require-hashes \
    --python-version "$version" --implementation cp --abi "$abi" \
    --platform "manylinux_2_28_$arch" --platform "manylinux2014_$arch" \
    -r "$EMR_DIR/bootstrap/requirements-$python.txt" -d "$folder"
  cp "$wheel" "$folder/"
  log "$(find "$folder" -name '*.whl' | wc -l) wheels in $folder"
  if [[ -n $upload ]]; then
    ${AWS:-aws} s3 sync --only-show-errors "$folder" "${upload%/}/$python-$arch/"
    log "uploaded to ${upload%/}/$python-$arch/"
  fi
}

main "$@"
