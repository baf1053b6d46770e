#!/usr/bin/env bash
# Creates .venv and installs covenant with its locked dependencies.
#
# URLLIB3_NO_OVERRIDE=1 with --no-binary urllib3-future is essential: the
# urllib3-future wheel (pulled in by grafana-client via niquests) ships a .pth
# file that replaces urllib3 at every interpreter start, after which
# Schemathesis fails every request. Building it from source with the variable
# set keeps the two side by side. tests/unit/test_install.py guards this.
set -euo pipefail

venv="${VENV:-.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi

stamp="$venv/.covenant-installed"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt constraints.txt ]; then
  echo "python environment: up to date ($venv)"
  exit 0
fi

export URLLIB3_NO_OVERRIDE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/pip" install -q --no-binary urllib3-future -c constraints.txt -e '.[dev]'
touch "$stamp"
echo "python environment: installed ($venv)"
