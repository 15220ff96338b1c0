#!/bin/bash
# Everything the real-hypervisor lab needs on a fresh Debian 12 machine,
# as root: libvirt/QEMU, sshd, the guest's kernel and busybox (Debian's
# packages), the users libvirtd insists on, and the control plane's real
# services (Keystone, Glance, uWSGI, libvirt-python) in .venv, pinned by
# upper-constraints.txt. Runs tools/setup-env.sh first. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

if [ "$(id -u)" != 0 ]; then
    echo "the lab needs root (network and mount namespaces)" >&2
    exit 1
fi

PACKAGES="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
qemu-system-x86 qemu-utils busybox-static openssh-server openssh-client
socat iproute2 rsync e2fsprogs util-linux libvirt-dev pkg-config xz-utils
glusterfs-server glusterfs-client"
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null \
        | grep -q 'ok installed' || missing="$missing $package"
done
if [ -n "$missing" ]; then
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $missing >/dev/null
fi

# libvirtd resolves its compiled-in default user before reading
# qemu.conf and refuses to start its QEMU driver without these.
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu \
    -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu

VENV=$VENV tools/setup-env.sh
"$VENV/bin/python" -m pip install -q -c upper-constraints.txt \
    -r test-requirements-lab.txt 2>&1 | grep -v WARNING || true
"$VENV/bin/python" -c 'import libvirt, keystone, glance' \
    || { echo "lab environment incomplete" >&2; exit 1; }
echo "lab environment ready: $VENV"
