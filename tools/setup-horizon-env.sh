#!/bin/bash
# Create Horizon's virtualenv (.venv-horizon by default): horizon and our
# panel from the '[horizon]' extra, without nova, plus what the panel's
# tests use (a real Keystone, Playwright) and Debian's Chromium for the
# browser tests. Pinned by upper-constraints.txt. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV_HORIZON:-.venv-horizon}
PYTHON=${PYTHON:-python3}

tools/install-deb.sh chromium /usr/bin/chromium

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip 2>&1 | grep -v WARNING || true
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps . \
    2>&1 | grep -v WARNING || true
"$VENV/bin/python" -m pip install -q -c upper-constraints.txt \
    '.[horizon]' -r test-requirements-horizon.txt 2>&1 \
    | grep -v WARNING || true
# (Our nova/virt/migration_ext.py shim lands here too, inert without nova.)
if "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("nova")' \
        2>/dev/null; then
    echo "nova must not be installed in Horizon's environment" >&2
    exit 1
fi
echo "environment ready: $VENV"
