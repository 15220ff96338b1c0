#!/bin/bash
# The main job: the embedded evacuation demo (tools/evacuation_demo.py).
# Starts nova's real services in one process (API, conductor, scheduler,
# placement, seven computes running MigrationExtLibvirtDriver on nova's
# fake libvirt, real qcow2 disks), seeds 40 VMs on four old hosts, injects
# the operators' faults and drains the old hosts through the engine,
# printing the plan, live progress and a final report. Exits non-zero if
# a VM was lost or left in a transitional state.
# "tools/demo.sh --prechecks" runs the Nova-side demonstration instead.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
tools/setup-env.sh >/dev/null || exit 1
export OS_NOVA_DISABLE_EVENTLET_PATCHING=False NOVA_RAISE_ON_GREENLET_LEAK=True
export OS_TEST_TIMEOUT=160 OS_STDOUT_CAPTURE=0 OS_STDERR_CAPTURE=1
export OS_LOG_CAPTURE=1 LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
if [ "${1:-}" = "--prechecks" ]; then
    exec timeout -k 20 900 "$VENV/bin/python" -m testtools.run \
        tests.functional.test_live_migration \
        tests.functional.test_cold_migration \
        tests.functional.test_prechecks
fi
PYTHONPATH=$PWD exec timeout -k 20 600 "$VENV/bin/python" tools/evacuation_demo.py
