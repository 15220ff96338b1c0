#!/bin/bash
# The randomized fault campaign (tests/chaos, doc/chaos.md):
#   tools/chaos.sh --schedules N [--seed S] [--all-faults] [-v]
# Draws N schedules of faults from seeds S, S+1, ... (default S=1), drains
# each through the engine against the simulated nova stand-in
# (tests/chaos/simnova.py), checks the invariants after every step and at
# the end, prints every failing seed with its schedule, and ends with one
# line:
#   schedules: N, faults: F, moved: M, flagged: K, lost: L, violations: V
# Exits non-zero when L or V is not 0 (or on the outer timeout: 124).
# Replay one seed: tools/chaos.sh --seed S --schedules 1
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ] || [ "${CHAOS_SETUP:-0}" = 1 ]; then
    tools/setup-env.sh >/dev/null || exit 1
fi
schedules=100
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --schedules) schedules=${2:-100}; shift ;;
        --schedules=*) schedules=${1#*=} ;;
    esac
    shift
done
case "$schedules" in
    ''|*[!0-9]*) echo "chaos.sh: --schedules needs a number" >&2; exit 2 ;;
esac
# About 0.4 s a schedule here; the bound leaves a wide margin.
limit=${CHAOS_TIMEOUT:-$((120 + 3 * schedules))}
export LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
PYTHONPATH=$PWD exec timeout -k 20 "$limit" "$VENV/bin/python" \
    -m tests.chaos.campaign "${args[@]}"
