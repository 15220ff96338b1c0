#!/bin/sh
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
#
# Build the lab guest: OUTDIR/vmlinuz and OUTDIR/initrd.img.
#
#   build.sh OUTDIR
#
# Debian 12, as root. Installs busybox-static when missing and downloads the
# kernel package named by linux-image-amd64 (or $NMX_KERNEL_PKG) into
# OUTDIR/cache (or $NMX_CACHE). Does nothing when OUTDIR holds a build of
# the same init and build.sh (OUTDIR/stamp).
set -eu

out=${1:?usage: build.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${NMX_CACHE:-$out/cache}
# Load order is derived from the modules' "depends=" fields.
# button + evdev: the ACPI power button nova's clean shutdown presses.
want_modules="virtio_pci virtio_blk button evdev"

stamp=$(cat "$here/init" "$here/build.sh" | sha256sum | cut -d' ' -f1)
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ] &&
        [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "nmx guest: $out is up to date"
    exit 0
fi

log() { echo "nmx guest: $*" >&2; }

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

apt_updated=
apt_update() {
    [ -n "$apt_updated" ] && return 0
    apt_updated=1
    log "apt-get update"
    apt-get update -qq
}

# busybox-static, not busybox: the initramfs has no libc.
if ! installed busybox-static; then
    log "installing busybox-static"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends busybox-static ||
        { apt_update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
            -qq --no-install-recommends busybox-static; }
fi
busybox=/bin/busybox

kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1
}
pkg=${NMX_KERNEL_PKG:-$(kernel_pkg)}
if [ -z "$pkg" ]; then
    apt_update
    pkg=$(kernel_pkg)
fi
[ -n "$pkg" ] || { log "no kernel package found"; exit 1; }

mkdir -p "$cache"
deb=$(ls "$cache/${pkg}_"*.deb 2>/dev/null | tail -n 1) || true
if [ -z "$deb" ]; then
    log "downloading $pkg"
    # The download runs as root: _apt cannot write into a private folder.
    (cd "$cache" && apt-get -qq -o APT::Sandbox::User=root download "$pkg") ||
        { apt_update && (cd "$cache" &&
            apt-get -qq -o APT::Sandbox::User=root download "$pkg"); }
    deb=$(ls "$cache/${pkg}_"*.deb | tail -n 1)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "extracting $(basename "$deb")"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards \
    './boot/vmlinuz-*' './lib/modules/*/modules.builtin' \
    './lib/modules/*/kernel/drivers/virtio/*' \
    './lib/modules/*/kernel/drivers/block/virtio_blk.ko*' \
    './lib/modules/*/kernel/drivers/acpi/button.ko*' \
    './lib/modules/*/kernel/drivers/input/evdev.ko*'

root=$tmp/root
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" \
    "$root/lib/nmx"
cp "$busybox" "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod 755 "$root/init" "$root/bin/busybox"
# The kernel opens /dev/console for /init before anything is mounted.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true

# add_module NAME: copy NAME and, first, what it depends on; append to the
# load order. Built-in modules are left out.
order=
add_module() {
    case " $order " in *" $1 "*) return 0;; esac
    if grep -q "/$1\.ko\$" "$tmp"/lib/modules/*/modules.builtin; then
        return 0
    fi
    _f=$(find "$tmp/lib/modules" -name "$1.ko" -o -name "$1.ko.xz" |
        head -n 1)
    [ -n "$_f" ] || { log "module $1 not found"; exit 1; }
    case $_f in
        *.xz) "$busybox" xzcat "$_f" >"$root/lib/nmx/$1.ko";;
        *) cp "$_f" "$root/lib/nmx/$1.ko";;
    esac
    for _dep in $("$busybox" strings "$root/lib/nmx/$1.ko" |
            sed -n 's/^depends=//p' | tr ',' ' '); do
        add_module "$_dep"
    done
    order="$order $1"
}
for m in $want_modules; do
    add_module "$m"
done
echo $order >"$root/lib/nmx/modules"
log "modules:$order"

(cd "$root" && find . | "$busybox" cpio -o -H newc 2>/dev/null) |
    gzip -9 >"$out/initrd.img.tmp"
cp "$(ls "$tmp"/boot/vmlinuz-* | head -n 1)" "$out/vmlinuz.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "$stamp" >"$out/stamp"
log "built $out/vmlinuz and $out/initrd.img ($pkg)"
