#!/usr/bin/env bash
# Pack abcspark and its pinned dependencies into a relocatable virtual environment for EMR
# Serverless, which has no bootstrap actions: jobs unpack it with spark.archives. It is built
# inside an Amazon Linux 2023 container, the OS and Python 3.9 of EMR Serverless 7 workers, with
# pip in hash-checking mode as on the EMR nodes (install-abcspark.sh).
set -euo pipefail

readonly PROG=pack-venv
EMR_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly EMR_DIR

usage() {
  cat <<'EOF'
Usage: pack-venv.sh --wheel PATH [--arch x86_64|aarch64] [--output FILE]

Build FILE (default abcspark-env-python3.9-ARCH.tar.gz) with docker: a venv-pack archive of
Python 3.9 with the abcspark wheel and the hash-pinned requirements of
emr/bootstrap/requirements-python3.9.txt (matplotlib included). Upload it next to the jobs, e.g.
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
  cp "$EMR_DIR/bootstrap/requirements-python3.9.txt" "$WORK/requirements.txt"
  cat >"$WORK/build.sh" <<'EOF'
set -euo pipefail
dnf install -y -q python3 python3-pip tar gzip >/dev/null
wheels=(/work/abcspark-*.whl)
printf 'abcspark @ file://%s --hash=sha256:%s\n' "${wheels[0]}" \
  "$(sha256sum "${wheels[0]}" | cut -d ' ' -f 1)" >/work/abcspark.txt
python3 -m venv /opt/abcspark-env
/opt/abcspark-env/bin/pip install --quiet --disable-pip-version-check --require-hashes \
  --only-binary=:all: -r /work/requirements.txt -r /work/abcspark.txt
/opt/abcspark-env/bin/python -c 'import abcspark, matplotlib, pandas, pyarrow; print("abcspark", abcspark.__version__)'
# venv-pack packs the environment from a venv of its own: it is not shipped in the archive.
python3 -m venv /opt/pack
printf 'venv-pack==0.2.0 --hash=sha256:%s\n' \
  95c5a51b8e5576143843b7693e1ac275c627348477562669bcd250847fa08136 >/work/pack.txt
/opt/pack/bin/pip install --quiet --disable-pip-version-check --require-hashes \
  --only-binary=:all: -r /work/pack.txt
/opt/pack/bin/venv-pack --quiet -p /opt/abcspark-env -o /work/env.tar.gz
EOF
  "${DOCKER:-docker}" run --rm --platform "$platform" -v "$WORK:/work" amazonlinux:2023 \
    bash /work/build.sh
  mv "$WORK/env.tar.gz" "$output"
  printf '%s: wrote %s\n' "$PROG" "$output"
}

main "$@"
