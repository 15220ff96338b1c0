#!/bin/bash
# Usage: install-deb.sh PACKAGE COMMAND...
# Install the Debian PACKAGE when any COMMAND (a name or a path) is
# missing: with apt-get when run as root, else say what to run. Used by
# tools/setup-env.sh and tools/setup-horizon-env.sh.
set -euo pipefail
package=$1
shift
for command in "$@"; do
    command -v "$command" >/dev/null && continue
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" \
            >/dev/null
        exit 0
    fi
    echo "$command is missing: run 'sudo apt-get install $package'" >&2
    exit 1
done
