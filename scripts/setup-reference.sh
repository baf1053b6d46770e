#!/usr/bin/env bash
# Builds the reference services (the system under test): npm packages and the
# TypeScript build of hono-api, the Elixir build of elixir-processor.
# baml-extractor needs only the Python environment (baml-py).
set -euo pipefail

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "reference: installing Node.js from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
  else
    echo "reference: Node.js is missing; install it with: sudo apt-get install -y nodejs npm" >&2
    exit 1
  fi
fi

for service in hono-api elixir-processor; do
  started=$SECONDS
  bash "reference/$service/setup.sh"
  echo "reference: $service ready ($((SECONDS - started))s)"
done
