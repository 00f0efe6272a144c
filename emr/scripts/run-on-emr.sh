#!/usr/bin/env bash
# One command from a laptop to an ABC run on EMR: build the abcspark wheel, read the roles, key,
# security configuration, bucket, prefixes, subnet and Python of a deployed
# emr/cloudformation/cluster.yaml stack, then run emr/launch.py create: upload, start a
# cluster, run the main job, wait, and download the results.
set -euo pipefail

readonly PROG=run-on-emr
EMR_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly EMR_DIR
readonly OUTPUTS=(ServiceRoleName InstanceProfileName SecurityConfigurationName ClusterKeyArn)
readonly PARAMETERS=(ArtifactsBucket ArtifactsPrefix LogsPrefix ResultsPrefix SubnetId
  PythonVersion)

usage() {
  cat <<'EOF'
Usage: run-on-emr.sh STACK_NAME [emr/launch.py create options]

Take the roles, key, security configuration, bucket, prefixes, subnet and Python from the
CloudFormation stack STACK_NAME (emr/cloudformation/cluster.yaml; CreateCluster=false is
enough), build the abcspark wheel (unless --wheel or --abcspark-version is given), and run
  python emr/launch.py create ... --fetch results [your options]
e.g.
  emr/scripts/run-on-emr.sh abcspark-emr --particles 2000 --run-name height-2000
  emr/scripts/run-on-emr.sh abcspark-emr --dry-run
Your options come last and win (--python, --fetch DIR, --no-step, --instance-type, ...).

Environment: PYTHON (a Python with boto3, default python3), AWS (aws CLI, default aws), and
the usual AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL.
EOF
}

usage_error() {
  printf '%s: %s\n\n' "$PROG" "$*" >&2
  usage >&2
  exit 2
}

# The stack's outputs and parameters, tab-separated, in the order of OUTPUTS then PARAMETERS.
stack_values() {
  local query='Stacks[0].[' name
  for name in "${OUTPUTS[@]}"; do
    query+="Outputs[?OutputKey=='$name'].OutputValue|[0],"
  done
  for name in "${PARAMETERS[@]}"; do
    query+="Parameters[?ParameterKey=='$name'].ParameterValue|[0],"
  done
  ${AWS:-aws} cloudformation describe-stacks --stack-name "$1" --output text \
    --query "${query%,}]"
}

main() {
  [[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
  (($# >= 1)) && [[ $1 != -* ]] || usage_error "the first argument must be the stack name"
  local stack=$1
  shift
  local python=${PYTHON:-python3}

  local values
  values=$(stack_values "$stack")
  local role profile security key bucket artifacts logs results subnet python_version
  read -r role profile security key bucket artifacts logs results subnet python_version \
    <<<"$values"
  [[ -n $python_version && $values != *None* ]] \
    || { printf '%s: stack %s lacks outputs or parameters of cluster.yaml: %s\n' \
      "$PROG" "$stack" "$values" >&2; exit 1; }

  local extra=() option has_source='' has_fetch=''
  for option in "$@"; do
    case $option in
      --wheel | --wheel=* | --abcspark-version | --abcspark-version=*) has_source=1 ;;
      --fetch | --fetch=* | --no-step) has_fetch=1 ;;
    esac
  done
  if [[ -z $has_source ]]; then
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    printf '%s: building the abcspark wheel\n' "$PROG"
    "$python" -m pip wheel --no-deps --quiet -w "$WORK" "$EMR_DIR/.."
    local wheels=("$WORK"/abcspark-*.whl)
    extra+=(--wheel "${wheels[0]}")
  fi
  [[ -n $has_fetch ]] || extra+=(--fetch results)

  "$python" "$EMR_DIR/launch.py" create --bucket "$bucket" --artifacts-prefix "$artifacts" \
    --logs-prefix "$logs" --results-prefix "$results" --subnet "$subnet" \
    --python "$python_version" --service-role "$role" --instance-profile "$profile" \
    --security-configuration "$security" --log-kms-key "$key" --name "$stack" \
    "${extra[@]}" "$@"
}

main "$@"
