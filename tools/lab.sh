#!/bin/bash
# The real-hypervisor lab: compute hosts as network + mount namespaces,
# each with libvirtd (QEMU/TCG), virtlogd, sshd and a real nova-compute
# running MigrationExtLibvirtDriver; Keystone, Glance, Placement and
# nova's API, conductor and scheduler as real processes on this machine's
# MariaDB and RabbitMQ. Root only.
#
#   tools/lab.sh up       set up what is missing, then start the lab
#   tools/lab.sh down     stop it and remove every trace
#   tools/lab.sh status   what runs
#   tools/lab.sh demo     start it if needed, then drain two hosts with
#                         the evacuation engine and verify every VM's data
#   tools/lab.sh test     run the lab's tests (tests/lab) on a running lab
#
# State and logs: $NMX_LAB_ROOT (/var/tmp/nmx-lab).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONWARNINGS=ignore
command=${1:-}

case "$command" in
    up)
        tools/setup-lab.sh || exit 1
        "$PY" -m tests.lab up
        ;;
    down)
        "$PY" -m tests.lab down
        ;;
    status)
        "$PY" -m tests.lab status
        ;;
    demo)
        "$PY" -m tests.lab status >/dev/null 2>&1 || "$0" up || exit 1
        "$PY" -m tests.lab.drain
        ;;
    test)
        shift
        "$PY" -m stestr --test-path tests/lab --top-dir . run \
            --concurrency 1 "$@"
        ;;
    *)
        sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
