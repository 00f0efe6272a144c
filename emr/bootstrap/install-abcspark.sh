#!/usr/bin/env bash
# EMR bootstrap action: install abcspark and its hash-pinned dependencies into the Python that
# Spark uses. EMR runs it on every node (also on nodes that managed scaling adds later), as user
# hadoop, before Spark is installed; a non-zero exit keeps the node out of the cluster, so any
# failure stops the script (set -e) with a timestamped line saying where. Every package comes
# from one pip call in hash-checking mode: a file whose sha256 is not pinned is refused.
set -Eeuo pipefail

readonly PROG=install-abcspark
# A constraint no release can meet: pip fails rather than install pyspark over EMR's own Spark,
# whichever package asks for it.
readonly REFUSE_PYSPARK='pyspark===provided-by-emr'

usage() {
  cat <<'EOF'
Usage: install-abcspark.sh (--wheel S3_URI | --version VERSION) [options]

Install abcspark and the hash-pinned requirements (numpy, pandas, pyarrow, matplotlib for plots
on the driver, which may run on any node, findspark) on an EMR node, in one pip call in
hash-checking mode, wheels only (--require-hashes --only-binary=:all:): pip refuses any file
whose sha256 is not pinned, any unpinned dependency and any source distribution. EMR's own
Spark is never replaced: pyspark is refused, whichever package asks for it.

Source (exactly one):
  --wheel S3_URI          an abcspark wheel, e.g.
                          s3://my-abc-bucket/abcspark/artifacts/wheels/abcspark-0.1.0-py3-none-any.whl
  --version VERSION       abcspark==VERSION from the package index (or from --wheelhouse);
                          needs --abcspark-sha256

Options:
  --abcspark-sha256 HEX   sha256 of the abcspark wheel; with --wheel it defaults to the sha256
                          of the file read from S3 (trusted as this script is: both come from
                          the artifacts prefix)
  --python PATH           interpreter to install into (default: $ABCSPARK_PYTHON, else
                          /usr/bin/python3); must match PYSPARK_PYTHON of the configurations
  --requirements S3_URI   hash-pinned requirements for every node (repeatable), first of all
                          .../bootstrap/requirements-python3.11.txt; each line NAME==VERSION
                          with --hash=sha256:... (pip-compile --generate-hashes writes them)
  --primary-requirements S3_URI
                          hash-pinned requirements for the primary node only, e.g. Jupyter
                          (repeatable)
  --wheelhouse S3_URI     prefix of a wheelhouse made by build-wheelhouse.sh: install without
                          internet from S3_URI/python3.X-ARCH/ (private subnets)
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

# The requirements of one pip requirements file (argv: local copy, its URI), one per line:
# continuation lines joined, comments and per-requirement options (--hash) dropped. Options of
# their own (-r, --index-url, ...) are refused, and so are pyspark and abcspark by name.
readonly REQUIREMENTS_PY='
import re, sys
from pip._vendor.packaging.requirements import Requirement

path, shown = sys.argv[1:]
with open(path) as lines:
    text = lines.read().replace("\\\n", " ")
for line in text.splitlines():
    line = re.sub(r"(^|\s)#.*", "", line).strip()
    if line.startswith("-"):
        sys.exit("%s: %r must not be there (only NAME==VERSION --hash=...)" % (shown, line))
    if line:
        spec = re.split(r"\s+--", line, maxsplit=1)[0]
        name = re.sub(r"[-_.]+", "-", Requirement(spec).name).lower()
        if name == "pyspark":
            sys.exit("%s: pyspark is refused: EMR provides Spark, a pip copy would shadow it"
                     % shown)
        if name == "abcspark":
            sys.exit("%s: abcspark comes from --wheel or --version, not from here" % shown)
        print(spec)
'

# Exit 0 when every requirement given is installed at a matching version: the rerun case.
readonly SATISFIED_PY='
import sys
from importlib import metadata
from pip._vendor.packaging.requirements import Requirement

def satisfied(requirement):
    if requirement.marker is not None and not requirement.marker.evaluate():
        return True
    try:
        version = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return False
    return requirement.specifier.contains(version, prereleases=True)

sys.exit(0 if all(satisfied(Requirement(spec)) for spec in sys.argv[1:]) else 1)
'

readonly SHA256_PY='
import hashlib, sys
with open(sys.argv[1], "rb") as wheel:
    print(hashlib.sha256(wheel.read()).hexdigest())
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
      --wheel | --version | --abcspark-sha256 | --python | --requirements | \
        --primary-requirements | --wheelhouse)
        (($# >= 2)) || usage_error "$1 needs a value"
        case $1 in
          --wheel) WHEEL=$2 ;;
          --version) VERSION=$2 ;;
          --abcspark-sha256) SHA256=$2 ;;
          --python) PYTHON=$2 ;;
          --requirements) REQUIREMENTS+=("$2") ;;
          --primary-requirements) PRIMARY_REQUIREMENTS+=("$2") ;;
          --wheelhouse) WHEELHOUSE=$2 ;;
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

validate_args() {
  [[ -n $WHEEL || -n $VERSION ]] || usage_error "give --wheel or --version"
  [[ -z $WHEEL || -z $VERSION ]] || usage_error "give --wheel or --version, not both"
  check_s3_uri --wheel "$WHEEL"
  check_s3_uri --wheelhouse "$WHEELHOUSE"
  ((${#REQUIREMENTS[@]})) \
    || usage_error "give --requirements, e.g. s3://.../bootstrap/requirements-python3.11.txt"
  local uri
  for uri in "${REQUIREMENTS[@]}"; do check_s3_uri --requirements "${uri:-none}"; done
  for uri in "${PRIMARY_REQUIREMENTS[@]}"; do
    check_s3_uri --primary-requirements "${uri:-none}"
  done
  if [[ -n $WHEEL ]]; then
    [[ ${WHEEL##*/} =~ ^abcspark-([^-]+)-.+\.whl$ ]] \
      || usage_error "--wheel must name an abcspark wheel (got '${WHEEL##*/}')"
    VERSION=${BASH_REMATCH[1]}
  fi
  [[ $VERSION =~ ^[0-9][0-9A-Za-z.+!]*$ ]] \
    || usage_error "--version must be a version such as 0.1.0 (got '$VERSION')"
  [[ -z $SHA256 || $SHA256 =~ ^[0-9a-f]{64}$ ]] \
    || usage_error "--abcspark-sha256 must be 64 lowercase hex digits (got '$SHA256')"
  [[ -n $WHEEL || -n $SHA256 ]] \
    || usage_error "--version needs --abcspark-sha256: every package is installed by its hash"
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

# Copies the requirement files this node needs into $WORK (FILES) and lists what they require
# (LISTED), refusing files that name pyspark or abcspark or carry options of their own.
read_requirements() {
  local uris=("$@") uri local_copy listed index=0
  FILES=() LISTED=()
  for uri in "${uris[@]}"; do
    index=$((index + 1))
    local_copy=$WORK/requirements-$index.txt
    s3_copy "$uri" "$local_copy"
    listed=$("$PYTHON" -I -c "$REQUIREMENTS_PY" "$local_copy" "$uri") \
      || die "cannot install from $uri (above)"
    FILES+=("$local_copy")
    [[ -z $listed ]] || mapfile -t -O "${#LISTED[@]}" LISTED <<<"$listed"
  done
}

# Writes the one requirement line of abcspark to $1, with the sha256 pip must find: given, or
# that of the wheel read from S3 (the artifacts prefix holds this script too: trusted as much).
write_abcspark_requirement() {
  if [[ -z $WHEEL ]]; then
    printf 'abcspark==%s --hash=sha256:%s\n' "$VERSION" "$SHA256" >"$1"
    return
  fi
  local wheel=$WORK/${WHEEL##*/} sha256=$SHA256
  s3_copy "$WHEEL" "$wheel"
  if [[ -z $sha256 ]]; then
    sha256=$("$PYTHON" -I -c "$SHA256_PY" "$wheel")
    log "abcspark wheel sha256 $sha256 (of the file read from $WHEEL)"
  fi
  printf 'abcspark @ file://%s --hash=sha256:%s\n' "$wheel" "$sha256" >"$1"
}

pyspark_state() { "$PYTHON" -I -c "$PYSPARK_PY"; }

# One pip call in hash-checking mode, wheels only: abcspark and every requirement file.
install_requirements() {
  local guard=$WORK/refuse-pyspark.txt abcspark=$WORK/abcspark.txt file
  printf '%s\n' "$REFUSE_PYSPARK" >"$guard"
  write_abcspark_requirement "$abcspark"
  local pip_args=(install --no-input --disable-pip-version-check --progress-bar off
    --require-hashes --only-binary=:all: -c "$guard" -r "$abcspark")
  for file in "${FILES[@]}"; do pip_args+=(-r "$file"); done
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
  run_logged "${SUDO[@]}" "$PYTHON" -I -m pip "${pip_args[@]}"
  [[ $(pyspark_state) == "$pyspark_before" ]] \
    || die "pip changed pyspark ($(pyspark_state)): uninstall it, EMR provides Spark"
}

main() {
  WHEEL='' VERSION='' SHA256='' WHEELHOUSE=''
  PYTHON=${ABCSPARK_PYTHON:-/usr/bin/python3}
  REQUIREMENTS=() PRIMARY_REQUIREMENTS=()
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
  local uris=("${REQUIREMENTS[@]}")
  [[ $role != primary ]] || uris+=("${PRIMARY_REQUIREMENTS[@]}")
  log "abcspark $VERSION for $PYTHON on the $role node, with ${uris[*]}"

  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  read_requirements "${uris[@]}"
  if "$PYTHON" -I -c "$SATISFIED_PY" "abcspark==$VERSION" "${LISTED[@]}"; then
    log "already installed: nothing to do"
  else
    install_requirements
  fi
  local verified
  verified=$("$PYTHON" -I -c "$VERIFY_PY" "$VERSION")
  log "verified $verified"
}

main "$@"
