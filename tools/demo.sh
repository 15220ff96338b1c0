#!/bin/bash
# The main job for now: the functional demonstration of the Nova side.
# Starts nova's real services in one process (API, conductor, scheduler,
# placement, computes running MigrationExtLibvirtDriver on nova's fake
# libvirt, real qcow2 disks) and replays the operators' failures: the
# migrations that must work do, the ones that must be refused are, with
# their messages printed.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
tools/setup-env.sh >/dev/null || exit 1
export OS_NOVA_DISABLE_EVENTLET_PATCHING=False NOVA_RAISE_ON_GREENLET_LEAK=True
export OS_TEST_TIMEOUT=160 OS_STDOUT_CAPTURE=0 OS_STDERR_CAPTURE=1
export OS_LOG_CAPTURE=1 LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
exec timeout -k 20 900 "$VENV/bin/python" -m testtools.run \
    tests.functional.test_live_migration \
    tests.functional.test_cold_migration \
    tests.functional.test_prechecks
