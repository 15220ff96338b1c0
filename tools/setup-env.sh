#!/bin/bash
# Create the project virtualenv (.venv by default) with everything the
# tests and the demo need, pinned by upper-constraints.txt, plus the system
# packages they use (qemu-utils for real qcow2 disks). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

tools/install-deb.sh qemu-utils qemu-img qemu-io

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip 2>&1 | grep -v WARNING || true
"$VENV/bin/python" -m pip install -q -c upper-constraints.txt \
    -r requirements.txt -r test-requirements.txt 2>&1 | grep -v WARNING || true
# Not editable: the nova/virt/migration_ext.py shim must land in nova's
# package folder, and the entry points must be registered.
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps . \
    2>&1 | grep -v WARNING || true
"$VENV/bin/python" -m pip install -q -c upper-constraints.txt '.[nova]' \
    2>&1 | grep -v WARNING || true

tools/fix-nova-paste.sh "$("$VENV/bin/python" -c \
    'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$VENV/bin/python" -c 'import nova.virt.migration_ext' 2>/dev/null
echo "environment ready: $VENV"
