#!/usr/bin/env bash
# Installs the Debian packages the local stack and the tests run.
# As root it installs what is missing; otherwise it prints the apt-get line and
# fails, so the next step never runs against a half-set-up machine.
set -euo pipefail

packages=(
  postgresql                    # private PostgreSQL cluster (initdb)
  prometheus                    # prometheus + promtool
  prometheus-alertmanager       # alertmanager + amtool
  prometheus-postgres-exporter  # PostgreSQL metrics for Prometheus
  docker-compose                # validates docker-compose.yml without an engine
  chromium                      # headless browser: the status page test renders it
  python3-venv
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
