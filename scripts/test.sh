#!/usr/bin/env bash
# Lint, types and the whole test suite, with the time each phase took.
# Run through `make test`, which does the set-up first.
set -uo pipefail

bin="${VENV:-.venv}/bin"
status=0

phase() {
  local name="$1"; shift
  local started=$SECONDS
  echo "==> $name: $*"
  "$@"
  local rc=$?
  echo "<== $name: exit $rc in $((SECONDS - started))s"
  return $rc
}

phase lint "$bin/ruff" check . || status=1
phase format "$bin/ruff" format --check . || status=1
phase types "$bin/mypy" || status=1
phase tests "$bin/pytest" "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "pytest selected no tests" >&2
  status=1
elif [ $rc -ne 0 ]; then
  status=1
fi
exit $status
