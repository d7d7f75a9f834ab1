#!/bin/sh
# Build Oriel's test guest: Debian's distribution kernel and busybox-static,
# fetched with `apt-get download` and unpacked with `dpkg -x` into a scratch
# directory (never installed on the host), packed into a small initramfs.
#
#   build-guest.sh OUTDIR [AGENT_BINARY [TONE_BINARY]]
#
# AGENT_BINARY becomes /usr/bin/oriel-agent and TONE_BINARY (oriel-tone.c,
# the sound check) /usr/bin/oriel-tone; an empty argument leaves it out.
# Outputs OUTDIR/vmlinuz (the bzImage), OUTDIR/initramfs.cpio.gz,
# OUTDIR/stamp and OUTDIR/vmlinux (the same kernel uncompressed, for a faster
# PVH boot).  The
# stamp records every input (this script, the init, the resolved package
# versions, the agent's checksum); when it matches, nothing is rebuilt and no
# network is needed.  Downloaded .debs are kept in ORIEL_GUEST_CACHE
# (default OUTDIR/cache) so a rebuild after an init change is offline too.
set -eu

usage() {
    echo "usage: $0 OUTDIR [AGENT_BINARY [TONE_BINARY]]" >&2
    exit 2
}

die() {
    echo "build-guest: $*" >&2
    exit 1
}

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
    usage
fi
outdir=$1
agent=${2:-}
tone=${3:-}

here=$(cd "$(dirname "$0")" && pwd)
script="$here/build-guest.sh"
init="$here/init"
[ -f "$init" ] || die "missing $init"
if [ -n "$agent" ]; then
    [ -f "$agent" ] || die "agent binary '$agent' does not exist"
fi
if [ -n "$tone" ]; then
    [ -f "$tone" ] || die "tone binary '$tone' does not exist"
fi

# Modules the image carries, by modprobe name, with their dependencies
# resolved from the kernel package's own module tree; drivers Debian builds
# into the kernel are skipped.  Kept to what the test suites drive so the
# initramfs stays small.  The guest loads device drivers only for devices
# present (by modalias), and always_modules, which no device asks for,
# unconditionally.
device_modules="
    virtio_pci virtio_mmio virtio_console virtio_blk virtio_net virtio_input
    qxl
    xhci_pci xhci_hcd ehci_pci ehci_hcd uhci_hcd usb_storage usbhid hid_generic
    sd_mod sr_mod cdrom
    snd_hda_intel snd_hda_codec_generic snd_intel8x0
    pvpanic_mmio
"
always_modules="uinput evdev button"
modules="$device_modules $always_modules"

for tool in apt-cache apt-get dpkg-deb depmod modprobe cpio gzip sha256sum; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "'$tool' not found (needs a Debian-based host with apt, kmod, cpio)"
done

# Resolve the concrete kernel package linux-image-amd64 currently points at
# (its Depends pins it with "(= VERSION)"), from the local apt lists only:
# no network.  One apt-cache call, as each costs half a second here.
resolved=$(apt-cache show --no-all-versions linux-image-amd64 busybox-static \
    2>/dev/null | awk '
    /^Package: / { pkg = $2 }
    /^Version: / && pkg == "busybox-static" { print "busybox", $2 }
    /^Depends: / && pkg == "linux-image-amd64" {
        if (match($0, /linux-image-[0-9][^ ,]*-amd64 \(= [^)]*\)/)) {
            split(substr($0, RSTART, RLENGTH), f, /[ ()=]+/)
            print "kernel", f[1], f[2]
        }
    }')
kernel_pkg=$(echo "$resolved" | awk '$1 == "kernel" { print $2; exit }')
kernel_ver=$(echo "$resolved" | awk '$1 == "kernel" { print $3; exit }')
busybox_ver=$(echo "$resolved" | awk '$1 == "busybox" { print $2; exit }')
if [ -z "$kernel_pkg" ] || [ -z "$kernel_ver" ] || [ -z "$busybox_ver" ]; then
    die "cannot resolve linux-image-amd64 and busybox-static with apt-cache" \
        "(run 'apt-get update' first)"
fi

sum() { sha256sum "$1" | cut -d' ' -f1; }
stamp_text="oriel-guest 1
script $(sum "$script")
init $(sum "$init")
kernel $kernel_pkg $kernel_ver
busybox busybox-static $busybox_ver
agent $([ -n "$agent" ] && sum "$agent" || echo none)
tone $([ -n "$tone" ] && sum "$tone" || echo none)"

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
if [ -f "$outdir/stamp" ] && [ -f "$outdir/vmlinuz" ] &&
   [ -f "$outdir/vmlinux" ] &&
   [ -f "$outdir/initramfs.cpio.gz" ] &&
   [ "$(cat "$outdir/stamp")" = "$stamp_text" ]; then
    echo "guest image up to date"
    exit 0
fi

cache=${ORIEL_GUEST_CACHE:-$outdir/cache}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# fetch PACKAGE VERSION -> path of the .deb in the cache, downloading it
# only when no cached file has exactly that version.
fetch() {
    for deb in "$cache/$1"_*.deb; do
        [ -f "$deb" ] || continue
        if [ "$(dpkg-deb -f "$deb" Version)" = "$2" ]; then
            echo "$deb"
            return 0
        fi
    done
    # As root apt drops to the _apt user, which cannot write into a private
    # cache dir; it would fall back to root anyway, only noisily.
    sandbox=
    [ "$(id -u)" -eq 0 ] && sandbox="-o APT::Sandbox::User=root"
    # shellcheck disable=SC2086 # $sandbox is deliberately split
    (cd "$cache" && apt-get download -q $sandbox "$1=$2" >&2) ||
        die "apt-get download $1=$2 failed"
    for deb in "$cache/$1"_*.deb; do
        if [ -f "$deb" ] && [ "$(dpkg-deb -f "$deb" Version)" = "$2" ]; then
            echo "$deb"
            return 0
        fi
    done
    die "downloaded $1=$2 but cannot find its .deb in $cache"
}

kernel_deb=$(fetch "$kernel_pkg" "$kernel_ver")
busybox_deb=$(fetch busybox-static "$busybox_ver")

work=$(mktemp -d "$outdir/work.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
pkgroot="$work/pkg"
root="$work/root"
mkdir -p "$pkgroot" "$root"
dpkg-deb -x "$kernel_deb" "$pkgroot"
dpkg-deb -x "$busybox_deb" "$pkgroot"

# The image package ships its modules under lib/modules (usr/lib/modules on
# merged-/usr trixie and later).
moddir=
for d in "$pkgroot"/lib/modules/* "$pkgroot"/usr/lib/modules/*; do
    [ -d "$d" ] && moddir=$d
done
[ -n "$moddir" ] || die "no module tree in $kernel_deb"
kver=$(basename "$moddir")
modbase=${moddir%/lib/modules/*}
vmlinuz="$pkgroot/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || vmlinuz="$moddir/vmlinuz"
[ -f "$vmlinuz" ] || die "no kernel image in $kernel_deb"
busybox="$pkgroot/bin/busybox"
[ -f "$busybox" ] || busybox="$pkgroot/usr/bin/busybox"
[ -f "$busybox" ] || die "no busybox in $busybox_deb"

# The package's modules.dep is generated at install time; make our own.
depmod -b "$modbase" "$kver"

# Every module file the list needs, dependencies and soft dependencies
# included, deduplicated.
: >"$work/modfiles"
for m in $modules; do
    deps=$(modprobe -d "$modbase" -S "$kver" --show-depends "$m" 2>/dev/null) || {
        echo "build-guest: note: no module '$m' in $kver, skipped" >&2
        continue
    }
    echo "$deps" | sed -n 's/^insmod \([^ ]*\).*/\1/p' >>"$work/modfiles"
done
sort -u "$work/modfiles" -o "$work/modfiles"

imgmod="$root/lib/modules/$kver"
mkdir -p "$imgmod"
while read -r ko; do
    rel=${ko#"$moddir"/}
    mkdir -p "$imgmod/$(dirname "$rel")"
    # busybox's insmod cannot always read compressed modules: store them
    # uncompressed (the initramfs is compressed as a whole anyway).
    case "$ko" in
        *.ko.xz) xz -dc "$ko" >"$imgmod/${rel%.xz}" ;;
        *.ko.zst) zstd -qdc "$ko" >"$imgmod/${rel%.zst}" ;;
        *.ko.gz) gzip -dc "$ko" >"$imgmod/${rel%.gz}" ;;
        *) cp "$ko" "$imgmod/$rel" ;;
    esac
done <"$work/modfiles"
for f in modules.builtin modules.builtin.modinfo modules.order; do
    [ -f "$moddir/$f" ] && cp "$moddir/$f" "$imgmod/"
done
depmod -b "$root" "$kver"

# Filesystem skeleton.  Applet links are made at boot by
# `busybox --install -s`, which knows its own applet list; only the
# interpreter of /init must exist beforehand.
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" \
    "$root/etc/acpi" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" \
    "$root/run" "$root/root" "$root/mnt"
echo "$always_modules" | tr ' ' '\n' >"$root/etc/oriel-modules-always"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$init" "$root/init"
chmod 0755 "$root/init" "$root/bin/busybox"
if [ -n "$agent" ]; then
    cp "$agent" "$root/usr/bin/oriel-agent"
    chmod 0755 "$root/usr/bin/oriel-agent"
fi
if [ -n "$tone" ]; then
    cp "$tone" "$root/usr/bin/oriel-tone"
    chmod 0755 "$root/usr/bin/oriel-tone"
fi
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
echo oriel-guest >"$root/etc/hostname"

# For busybox init, which /init execs once the guest is set up.
cat >"$root/etc/inittab" <<'INITTAB'
::respawn:/bin/cttyhack /bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
INITTAB

# busybox acpid runs ./PWRF/00000080 (relative to -c DIR) when the ACPI
# power button fires; QEMU's system_powerdown presses it.  There is nothing
# to save in a RAM-only guest, so power off at once rather than through
# init's slower shutdown.
mkdir -p "$root/etc/acpi/PWRF"
printf '#!/bin/sh\nsync\nexec /bin/busybox poweroff -f\n' \
    >"$root/etc/acpi/PWRF/00000080"
chmod 0755 "$root/etc/acpi/PWRF/00000080"

# Root-owned entries whoever builds, in a stable order.
(cd "$root" && find . | LC_ALL=C sort |
    cpio -o -H newc -R 0:0 --quiet) | gzip -9n >"$work/initramfs.cpio.gz"

# Also the uncompressed ELF inside the bzImage: QEMU boots it through its
# PVH entry point (on q35 as on microvm), which skips the in-guest
# decompression that costs seconds under TCG.  The boot protocol header
# says where the payload is: after (setup_sects + 1) sectors, at
# payload_offset, payload_length bytes.
setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$vmlinuz" | tr -d ' ')
payload=$(od -An -tu4 -j $((0x248)) -N8 "$vmlinuz")
# shellcheck disable=SC2086 # two numbers, split on purpose
set -- $payload
payload_start=$(( (setup_sects + 1) * 512 + $1 ))
payload_length=$2
tail -c +$((payload_start + 1)) "$vmlinuz" | head -c "$payload_length" \
    >"$work/payload"
case $(od -An -tx1 -N4 "$work/payload" | tr -d ' ') in
    fd377a58) xz -dc --single-stream "$work/payload" >"$work/vmlinux" ;;
    28b52ffd) zstd -qdc "$work/payload" >"$work/vmlinux" ;;
    1f8b*) gzip -dc "$work/payload" >"$work/vmlinux" ;;
    *) die "unknown kernel payload compression in $vmlinuz" ;;
esac
[ "$(od -An -c -N4 "$work/vmlinux" | tr -d ' ')" = '177ELF' ] ||
    die "the kernel payload is not an ELF image"

cp "$vmlinuz" "$work/vmlinuz"
mv -f "$work/vmlinux" "$outdir/vmlinux"
mv -f "$work/vmlinuz" "$outdir/vmlinuz"
mv -f "$work/initramfs.cpio.gz" "$outdir/initramfs.cpio.gz"
printf '%s\n' "$stamp_text" >"$outdir/stamp"
echo "guest image built: kernel $kver ($kernel_pkg $kernel_ver)," \
    "initramfs $(du -k "$outdir/initramfs.cpio.gz" | cut -f1) KiB"
