#!/usr/bin/env bash
# Pack abcspark and its pinned dependencies into a relocatable virtual environment for EMR
# Serverless, which has no bootstrap actions: jobs unpack it with spark.archives. It is built
# inside an Amazon Linux 2023 container, the OS and Python 3.9 of EMR Serverless 7 workers.
set -euo pipefail

readonly PROG=pack-venv
EMR_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly EMR_DIR

usage() {
  cat <<'EOF'
Usage: pack-venv.sh --wheel PATH [--arch x86_64|aarch64] [--output FILE]

Build FILE (default abcspark-env-python3.9-ARCH.tar.gz) with docker: a venv-pack archive of
Python 3.9 with the abcspark wheel, matplotlib and the pins of
emr/bootstrap/constraints-python3.9.txt. Upload it next to the jobs, e.g.
  aws s3 cp FILE s3://my-abc-bucket/abcspark/artifacts/serverless/
and give jobs --conf spark.archives=s3://.../FILE#environment (emr/README.md).

  --wheel PATH   the abcspark wheel (pip wheel --no-deps -w dist .)
  --arch ARCH    x86_64 (default) or aarch64, as the application's Architecture
  --output FILE  where to write the archive
  -h, --help     show this help and exit

Environment: DOCKER (default docker).
EOF
}

usage_error() {
  printf '%s: %s\n\n' "$PROG" "$*" >&2
  usage >&2
  exit 2
}

main() {
  local wheel='' arch=x86_64 output=''
  while (($#)); do
    case $1 in
      -h | --help) usage; exit 0 ;;
      --wheel | --arch | --output)
        (($# >= 2)) || usage_error "$1 needs a value"
        case $1 in
          --wheel) wheel=$2 ;;
          --arch) arch=$2 ;;
          --output) output=$2 ;;
        esac
        shift 2
        ;;
      *) usage_error "unknown argument: $1" ;;
    esac
  done
  [[ -f $wheel && ${wheel##*/} == abcspark-*.whl ]] \
    || usage_error "--wheel must be an abcspark wheel file (got '$wheel')"
  local platform
  case $arch in
    x86_64) platform=linux/amd64 ;;
    aarch64) platform=linux/arm64 ;;
    *) usage_error "--arch must be x86_64 or aarch64 (got '$arch')" ;;
  esac
  output=${output:-abcspark-env-python3.9-$arch.tar.gz}

  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  cp "$wheel" "$WORK/"
  cp "$EMR_DIR/bootstrap/constraints-python3.9.txt" "$WORK/constraints.txt"
  cat >"$WORK/build.sh" <<'EOF'
set -euo pipefail
dnf install -y -q python3 python3-pip tar gzip >/dev/null
python3 -m venv /opt/abcspark-env
/opt/abcspark-env/bin/pip install --quiet --disable-pip-version-check \
  -c /work/constraints.txt /work/abcspark-*.whl matplotlib venv-pack
/opt/abcspark-env/bin/python -c 'import abcspark, pandas, pyarrow; print("abcspark", abcspark.__version__)'
/opt/abcspark-env/bin/venv-pack --quiet -p /opt/abcspark-env -o /work/env.tar.gz
EOF
  "${DOCKER:-docker}" run --rm --platform "$platform" -v "$WORK:/work" amazonlinux:2023 \
    bash /work/build.sh
  mv "$WORK/env.tar.gz" "$output"
  printf '%s: wrote %s\n' "$PROG" "$output"
}

main "$@"
