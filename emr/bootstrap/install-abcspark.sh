#!/usr/bin/env bash
# EMR bootstrap action: install abcspark and its pinned dependencies into the Python that Spark
# uses. EMR runs it on every node (also on nodes that managed scaling adds later), as user
# hadoop, before Spark is installed; a non-zero exit keeps the node out of the cluster, so any
# failure stops the script (set -e) with a timestamped line saying where.
set -Eeuo pipefail

readonly PROG=install-abcspark
# A constraint no release can meet: pip fails rather than install pyspark over EMR's own Spark,
# whichever package asks for it.
readonly REFUSE_PYSPARK='pyspark===provided-by-emr'

usage() {
  cat <<'EOF'
Usage: install-abcspark.sh (--wheel S3_URI | --version VERSION) [options]

Install abcspark, its pinned dependencies and matplotlib (for plots on the driver, which may run
on any node) on an EMR node; findspark too on the primary node. EMR's own Spark is never
replaced: pyspark is refused, whichever package asks for it.

Source (exactly one):
  --wheel S3_URI          an abcspark wheel, e.g.
                          s3://my-abc-bucket/abcspark/artifacts/wheels/abcspark-0.1.0-py3-none-any.whl
  --version VERSION       abcspark==VERSION from the package index (or from --wheelhouse)

Options:
  --python PATH           interpreter to install into (default: $ABCSPARK_PYTHON, else
                          /usr/bin/python3); must match PYSPARK_PYTHON of the configurations
  --constraints S3_URI    pins file for pip, e.g. .../bootstrap/constraints-python3.11.txt
  --wheelhouse S3_URI     prefix of a wheelhouse made by build-wheelhouse.sh: install without
                          internet from S3_URI/python3.X-ARCH/ (private subnets)
  --package SPEC          extra requirement on every node, e.g. scipy==1.13.1 (repeatable)
  --primary-package SPEC  extra requirement on the primary node only, e.g. ipykernel
                          (repeatable); findspark is always installed there
  -h, --help              show this help and exit

Options also take the form --option=VALUE. A rerun with the same arguments finds everything
installed and changes nothing.

Environment (tests, unusual nodes):
  ABCSPARK_PYTHON           default for --python
  ABCSPARK_SUDO             prefix that runs pip as root (default: sudo; empty: run pip directly)
  ABCSPARK_AWS              aws CLI command (default: aws)
  ABCSPARK_S3_ENDPOINT_URL  S3 endpoint given to the aws CLI (default: the AWS endpoint)
  ABCSPARK_INSTANCE_JSON    EMR instance file (default: /mnt/var/lib/info/instance.json); its
                            "isMaster" marks the primary node
EOF
}

# The Python helpers below run under the target interpreter, so they must work on Python 3.9.
# Every run of it is isolated (-I): a package in the working directory, or PYTHONPATH, must not
# pass for an installed one.

# Exit 0 when the requested packages are installed and every installed pinned package matches
# its pin: the rerun case.
readonly SATISFIED_PY='
import sys
from importlib import metadata
from pip._vendor.packaging.requirements import Requirement

def installed(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None

def satisfied(requirement):
    version = installed(requirement.name)
    return version is not None and requirement.specifier.contains(version, prereleases=True)

with open(sys.argv[1]) as pins_file:
    pins = [Requirement(line) for line in (raw.split("#")[0].strip() for raw in pins_file) if line]
wanted = [Requirement(spec) for spec in sys.argv[2:]]
installed_pins = [pin for pin in pins if installed(pin.name)]
sys.exit(0 if all(map(satisfied, wanted + installed_pins)) else 1)
'

readonly VERIFY_PY='
import importlib, platform, sys

expected = sys.argv[1]
versions = [(name, importlib.import_module(name).__version__)
            for name in ("abcspark", "numpy", "pandas", "pyarrow", "matplotlib")]
if versions[0][1] != expected:
    sys.exit("abcspark %s is importable, %s was asked for" % (versions[0][1], expected))
print("python %s (%s): %s" % (platform.python_version(), sys.executable,
                              ", ".join("%s %s" % pair for pair in versions)))
'

readonly PYSPARK_PY='
from importlib import metadata
try:
    found = metadata.distribution("pyspark")
    print("pyspark %s in %s" % (found.version, found.locate_file("")))
except metadata.PackageNotFoundError:
    print("no pip-installed pyspark")
'

readonly NODE_ROLE_PY='
import json, sys
with open(sys.argv[1]) as instance:
    print("primary" if json.load(instance).get("isMaster") is True else "core/task")
'

readonly WHEELHOUSE_TAG_PY='
import platform, sys
print("python%d.%d-%s" % (sys.version_info[0], sys.version_info[1], platform.machine()))
'

log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$PROG" "$*"; }
die() { log "error: $*" >&2; exit 1; }
usage_error() {
  printf '%s: %s\n\n' "$PROG" "$*" >&2
  usage >&2
  exit 2
}
trap 'log "error: exit $? at line $LINENO: $BASH_COMMAND" >&2' ERR

# Runs a command with each output line logged, so pip's output carries timestamps too.
run_logged() {
  log "run: $*"
  "$@" 2>&1 | while IFS= read -r line; do log "  $line"; done
}

s3_copy() {
  "${AWS[@]}" s3 cp --only-show-errors "$@"
}

parse_args() {
  while (($#)); do
    case $1 in
      --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
      -h | --help) usage; exit 0 ;;
      --wheel | --version | --python | --constraints | --wheelhouse | --package | --primary-package)
        (($# >= 2)) || usage_error "$1 needs a value"
        case $1 in
          --wheel) WHEEL=$2 ;;
          --version) VERSION=$2 ;;
          --python) PYTHON=$2 ;;
          --constraints) CONSTRAINTS=$2 ;;
          --wheelhouse) WHEELHOUSE=$2 ;;
          --package) PACKAGES+=("$2") ;;
          --primary-package) PRIMARY_PACKAGES+=("$2") ;;
        esac
        shift 2
        ;;
      *) usage_error "unknown argument: $1" ;;
    esac
  done
}

check_s3_uri() {
  [[ -z $2 || $2 == s3://?* ]] || usage_error "$1 must be an s3:// URI (got '$2')"
}

# Requirements are names with optional extras and version specifiers: no URLs or paths, so
# the name is known before pip runs, and pyspark can be refused here.
check_package() {
  local pattern='^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._-]+\])?([<>=!~][^[:space:]]*)?$'
  [[ $1 =~ $pattern ]] \
    || usage_error "a package must be NAME[EXTRAS][SPECIFIER] such as scipy==1.13.1 (got '$1')"
  local name=${BASH_REMATCH[1],,}
  name=${name//[._]/-}
  [[ $name != pyspark ]] \
    || usage_error "pyspark is refused (got '$1'): EMR provides Spark, a pip copy would shadow it"
  [[ $name != abcspark ]] || usage_error "abcspark comes from --wheel or --version (got '$1')"
}

validate_args() {
  [[ -n $WHEEL || -n $VERSION ]] || usage_error "give --wheel or --version"
  [[ -z $WHEEL || -z $VERSION ]] || usage_error "give --wheel or --version, not both"
  check_s3_uri --wheel "$WHEEL"
  check_s3_uri --constraints "$CONSTRAINTS"
  check_s3_uri --wheelhouse "$WHEELHOUSE"
  if [[ -n $WHEEL ]]; then
    [[ ${WHEEL##*/} =~ ^abcspark-([^-]+)-.+\.whl$ ]] \
      || usage_error "--wheel must name an abcspark wheel (got '${WHEEL##*/}')"
    VERSION=${BASH_REMATCH[1]}
  fi
  [[ $VERSION =~ ^[0-9][0-9A-Za-z.+!]*$ ]] \
    || usage_error "--version must be a version such as 0.1.0 (got '$VERSION')"
  local spec
  for spec in "${PACKAGES[@]}" "${PRIMARY_PACKAGES[@]}"; do
    check_package "$spec"
  done
}

check_python() {
  command -v "$PYTHON" >/dev/null || die "python '$PYTHON' not found; give --python PATH"
  "$PYTHON" -I -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
    || die "$PYTHON is older than Python 3.9, which abcspark needs"
  if ! "$PYTHON" -I -m pip --version >/dev/null 2>&1; then
    log "pip is missing for $PYTHON: installing ${PYTHON##*/}-pip"
    "${SUDO[@]}" dnf install -y "${PYTHON##*/}-pip"
  fi
}

pyspark_state() { "$PYTHON" -I -c "$PYSPARK_PY"; }

# Installs the requirements (the first is abcspark's); pins is a local constraints file.
install_requirements() {
  local pins=$1
  shift
  local requirements=("$@")
  local guard=$WORK/refuse-pyspark.txt
  printf '%s\n' "$REFUSE_PYSPARK" >"$guard"
  local pip_args=(install --no-input --disable-pip-version-check --progress-bar off
    -c "$guard" -c "$pins")
  if [[ -n $WHEEL ]]; then
    requirements[0]=$WORK/${WHEEL##*/}
    s3_copy "$WHEEL" "${requirements[0]}"
  fi
  if [[ -n $WHEELHOUSE ]]; then
    local source
    source=${WHEELHOUSE%/}/$("$PYTHON" -I -c "$WHEELHOUSE_TAG_PY")/
    log "installing offline from the wheelhouse $source"
    s3_copy --recursive "$source" "$WORK/wheelhouse"
    compgen -G "$WORK/wheelhouse/*.whl" >/dev/null \
      || die "no wheels under $source: run build-wheelhouse.sh for this Python and architecture"
    pip_args+=(--no-index --find-links "$WORK/wheelhouse")
  fi
  local pyspark_before
  pyspark_before=$(pyspark_state)
  run_logged "${SUDO[@]}" "$PYTHON" -I -m pip "${pip_args[@]}" "${requirements[@]}"
  [[ $(pyspark_state) == "$pyspark_before" ]] \
    || die "pip changed pyspark ($(pyspark_state)): uninstall it, EMR provides Spark"
}

main() {
  WHEEL='' VERSION='' CONSTRAINTS='' WHEELHOUSE=''
  PYTHON=${ABCSPARK_PYTHON:-/usr/bin/python3}
  PACKAGES=() PRIMARY_PACKAGES=()
  parse_args "$@"
  validate_args
  read -r -a SUDO <<<"${ABCSPARK_SUDO-sudo}"
  read -r -a AWS <<<"${ABCSPARK_AWS:-aws}"
  if [[ -n ${ABCSPARK_S3_ENDPOINT_URL:-} ]]; then
    AWS+=(--endpoint-url "$ABCSPARK_S3_ENDPOINT_URL")
  fi
  local instance_json=${ABCSPARK_INSTANCE_JSON:-/mnt/var/lib/info/instance.json}

  check_python
  local role
  role=$("$PYTHON" -I -c "$NODE_ROLE_PY" "$instance_json") \
    || die "cannot read the node role from $instance_json (is this an EMR node?)"
  local requirements=("abcspark==$VERSION" matplotlib "${PACKAGES[@]}")
  if [[ $role == primary ]]; then
    requirements+=(findspark "${PRIMARY_PACKAGES[@]}")
  fi
  log "abcspark $VERSION for $PYTHON on the $role node: ${requirements[*]}"

  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  local pins=/dev/null
  if [[ -n $CONSTRAINTS ]]; then
    pins=$WORK/constraints.txt
    s3_copy "$CONSTRAINTS" "$pins"
  fi
  if "$PYTHON" -I -c "$SATISFIED_PY" "$pins" "${requirements[@]}"; then
    log "already installed: nothing to do"
  else
    install_requirements "$pins" "${requirements[@]}"
  fi
  local verified
  verified=$("$PYTHON" -I -c "$VERIFY_PY" "$VERSION")
  log "verified $verified"
}

main "$@"
