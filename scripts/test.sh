#!/usr/bin/env bash
# Lint, types and the whole test suite, with the time each phase took.
# Run through `make test`, which does the set-up first.
#
# Without arguments the tests run in two pytest processes side by side: the unit
# tests, the doubles' conformance suites and the consumer tests (CPU-bound, about
# 1.5 min; their output is printed when they are done) beside the integration
# tests (mostly waiting on real engines).
# The scheduler soak (TEST_SCHEDULER_SOAK_S, 600 s by default) runs in the
# background of the integration process, beside the other integration tests,
# so it adds little to the phase's time. With arguments, one pytest runs them.
set -uo pipefail

bin="${VENV:-.venv}/bin"
status=0
began=$SECONDS

phase() {
  local name="$1"; shift
  local started=$SECONDS
  echo "==> $name: $*"
  "$@"
  local rc=$?
  echo "<== $name: exit $rc in $((SECONDS - started))s"
  return $rc
}

# A pytest exit code: 5 (no test selected) fails the run too.
pytest_status() {
  local rc="$1" name="$2"
  if [ "$rc" -eq 5 ]; then
    echo "$name: pytest selected no tests" >&2
    status=1
  elif [ "$rc" -ne 0 ]; then
    status=1
  fi
}

phase lint "$bin/ruff" check . || status=1
phase format "$bin/ruff" format --check . || status=1
phase types "$bin/mypy" || status=1

if [ $# -gt 0 ]; then
  phase tests "$bin/pytest" --durations=15 "$@"
  pytest_status $? tests
else
  unit_log="$(mktemp)"
  trap 'rm -f "$unit_log"' EXIT
  echo "==> unit: in the background beside the integration tests"
  phase unit "$bin/pytest" tests/unit tests/conformance contracts/consumers >"$unit_log" 2>&1 &
  unit_pid=$!
  phase integration "$bin/pytest" --durations=15 tests/integration
  pytest_status $? integration
  wait "$unit_pid"
  unit_rc=$?
  cat "$unit_log"
  pytest_status $unit_rc unit
fi

echo "<== total: exit $status in $((SECONDS - began))s"
exit $status
