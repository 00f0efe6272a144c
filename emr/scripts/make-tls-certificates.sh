#!/usr/bin/env bash
# Make the zip of PEM files that EMR's in-transit encryption reads (the security configuration
# of emr/cloudformation/cluster.yaml points at it): a self-signed certificate for the nodes'
# private DNS names. Good for trying things out; in production use certificates from your own
# CA (or a custom certificate provider), and renew them before they expire.
set -euo pipefail

readonly PROG=make-tls-certificates

usage() {
  cat <<'EOF'
Usage: make-tls-certificates.sh REGION OUTPUT.zip [DAYS]

Write OUTPUT.zip with privateKey.pem, certificateChain.pem and trustedCertificates.pem for
*.ec2.internal (us-east-1) or *.REGION.compute.internal (other regions), valid DAYS days
(default 365). Upload it where the template's TlsCertificatesKey says, e.g.
  aws s3 cp OUTPUT.zip s3://my-abc-bucket/abcspark/artifacts/tls/emr-certificates.zip
The zip holds a private key: keep it out of version control and delete the local copy.

Environment: OPENSSL (default openssl), PYTHON (for the zip, default python3).
EOF
}

usage_error() {
  printf '%s: %s\n\n' "$PROG" "$*" >&2
  usage >&2
  exit 2
}

main() {
  [[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
  (($# == 2 || $# == 3)) || usage_error "expected REGION OUTPUT.zip [DAYS] (got $# arguments)"
  local region=$1 output=$2 days=${3:-365}
  [[ $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || usage_error "REGION must look like us-east-1 (got '$region')"
  [[ $output == *.zip ]] || usage_error "OUTPUT must end in .zip (got '$output')"
  [[ $days =~ ^[1-9][0-9]*$ ]] || usage_error "DAYS must be a positive integer (got '$days')"

  local domain=$region.compute.internal
  [[ $region == us-east-1 ]] && domain=ec2.internal
  WORK=$(umask 077 && mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  "${OPENSSL:-openssl}" req -x509 -newkey rsa:2048 -nodes -days "$days" -sha256 \
    -keyout "$WORK/privateKey.pem" -out "$WORK/certificateChain.pem" \
    -subj "/O=abcspark/CN=*.$domain" -addext "subjectAltName=DNS:*.$domain" 2>/dev/null
  cp "$WORK/certificateChain.pem" "$WORK/trustedCertificates.pem"
  local target
  target=$(cd "$(dirname "$output")" && pwd)/$(basename "$output")
  (cd "$WORK" && umask 077 && "${PYTHON:-python3}" -m zipfile -c "$target" \
    privateKey.pem certificateChain.pem trustedCertificates.pem)
  printf '%s: wrote %s for *.%s, valid %s days\n' "$PROG" "$output" "$domain" "$days"
}

main "$@"
