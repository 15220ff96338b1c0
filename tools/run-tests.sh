#!/bin/bash
# The whole test suite, as CI runs it: style, sample config, release
# notes, unit tests, our functional tests in nova's harness and nova's own
# libvirt migration functional tests with our driver. Each step is bounded
# by a timeout that kills its whole process group.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
VENV_HORIZON=${VENV_HORIZON:-.venv-horizon}
export VENV VENV_HORIZON
tools/setup-env.sh || exit 1
tools/setup-horizon-env.sh || exit 1
PY="$VENV/bin/python"
export PATH="$PWD/$VENV/bin:$PATH"

# As nova's tox.ini sets them for its functional tests.
export OS_NOVA_DISABLE_EVENTLET_PATCHING=False
export NOVA_RAISE_ON_GREENLET_LEAK=True
export OS_TEST_TIMEOUT=160 OS_STDOUT_CAPTURE=1 OS_STDERR_CAPTURE=1
export OS_LOG_CAPTURE=1 LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1

passed=0
failed=0
status=0

step() {  # step NAME SECONDS COMMAND...
    local name=$1 seconds=$2
    shift 2
    echo "=== $name"
    timeout -k 20 "$seconds" "$@"
    local rc=$?
    if [ $rc -eq 0 ]; then
        echo "--- $name: ok"
    else
        [ $rc -eq 124 ] && echo "--- $name: TIMED OUT after ${seconds}s"
        echo "--- $name: FAILED (exit $rc)"
        status=1
    fi
    return $rc
}

stestr_step() {  # stestr_step NAME SECONDS TEST_PATH [FILTER...]
    local name=$1 seconds=$2 path=$3
    shift 3
    local log
    log=$(mktemp)
    step "$name" "$seconds" "$PY" -m stestr --test-path "$path" \
        --top-dir . run --concurrency 2 "$@" >"$log" 2>&1
    grep -E '^(===|---|FAIL|ERROR)|^ - |^Ran: ' "$log"
    if grep -q -- "--- $name: FAILED" "$log"; then
        "$PY" -m stestr last --subunit 2>/dev/null | "$VENV/bin/subunit2pyunit" \
            2>&1 | grep -v ' \(INFO\|DEBUG\) \[' | tail -n 200
    fi
    rm -f "$log"
    local summary
    summary=$("$PY" -m stestr last 2>/dev/null | grep -E '^ - (Passed|Failed):')
    passed=$((passed + $(echo "$summary" | awk '/Passed/ {print $3}')))
    failed=$((failed + $(echo "$summary" | awk '/Failed/ {print $3}')))
}

horizon_step() {  # horizon_step NAME SECONDS: the panel's Django tests
    local name=$1 seconds=$2 log
    log=$(mktemp)
    step "$name" "$seconds" "$VENV_HORIZON/bin/python" -m django test \
        --settings=tests.horizon.settings tests.horizon >"$log" 2>&1
    local rc=$?
    grep -E '^(=== |--- |Ran |OK|FAILED)' "$log"
    [ $rc -eq 0 ] || grep -v '^$' "$log" | tail -n 200
    local ran bad
    ran=$(awk '/^Ran [0-9]+ test/ {print $2}' "$log")
    bad=$(grep -oE '(failures|errors)=[0-9]+' "$log" \
          | awk -F= '{n += $2} END {print n + 0}')
    [ -n "$ran" ] || { ran=0; bad=1; }
    bad=${bad:-0}
    passed=$((passed + ran - bad))
    failed=$((failed + bad))
    rm -f "$log"
}

step pep8 300 "$PY" -m flake8 nova_migration_ext nova horizon_panel tests \
    tools
step genconfig 120 "$VENV/bin/oslo-config-generator" \
    --config-file etc/oslo-config-generator/nova-migration-ext.conf
step genconfig-evacuator 120 "$VENV/bin/oslo-config-generator" \
    --config-file etc/oslo-config-generator/nova-migration-evacuator.conf
step releasenotes 120 "$VENV/bin/reno" lint
stestr_step unit 600 ./tests/unit
stestr_step functional 900 ./tests/functional tests.functional.test_
stestr_step nova-functional 900 ./tests/functional tests.functional.nova_suite
horizon_step horizon 600
step precheck-messages 60 "$PY" tools/show_precheck_messages.py
# The README's main job, so CI proves it works: exits non-zero if a VM is
# lost or left in a transitional state.
step demo 600 tools/demo.sh

echo
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
