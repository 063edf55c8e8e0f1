#!/usr/bin/env bash
# Brings the dev stack up on the local Docker engine: local Pulumi state in .pulumi-state/,
# the dev stack selected (created on first run), dependencies installed, then `pulumi up`.
# Extra arguments go to `pulumi up` (for example --yes or --skip-preview).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node24.sh

for tool in docker pulumi; do
  command -v "$tool" >/dev/null || { echo "$tool is not on PATH; see README.md#prerequisites" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "the Docker engine is not reachable (is it running?)" >&2; exit 1; }

mkdir -p .pulumi-state
export PULUMI_BACKEND_URL="file://$PWD/.pulumi-state"
# The local backend encrypts secrets with a passphrase; keep yours in PULUMI_CONFIG_PASSPHRASE
# (or PULUMI_CONFIG_PASSPHRASE_FILE). An empty one is accepted for a throwaway dev stack.
if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  echo "PULUMI_CONFIG_PASSPHRASE is unset: using an empty passphrase for the dev stack's secrets" >&2
  export PULUMI_CONFIG_PASSPHRASE=""
fi

[ -d node_modules ] || npm ci
pulumi stack select dev 2>/dev/null || pulumi stack init dev
pulumi up --stack dev "$@"
