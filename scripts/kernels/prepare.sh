#!/usr/bin/env bash
# Prepares Debian kernels for the qemu kernel matrix (scripts/kernels/run.ts):
# installs qemu and busybox when missing, downloads Debian's generic
# linux-image-<abi>-amd64-unsigned package with apt-get download (nothing is
# installed into /boot), and leaves per kernel, in the cache folder:
#   <cache>/<release>/vmlinux     the uncompressed kernel (qemu boots it via PVH: no slow xz under TCG)
#   <cache>/<release>/initrd.gz   busybox + the 9p/virtio (and virtio-blk/ext4) modules, mounts the 9p root, switch_root
#   <cache>/<release>/config      the kernel's config (for the report)
# Prints one line per ready kernel: "<release> <cache>/<release>".
#   prepare.sh [--all] [cache-dir]
#     default   the kernel linux-image-amd64 points at (bookworm-security's current ABI)
#     --all     every ABI any available linux-image-amd64 version points at (e.g. the point release's too)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/apt.sh
. scripts/apt.sh

all=0
if [ "${1:-}" = "--all" ]; then all=1; shift; fi
cache="${1:-${EBPF_KERNEL_CACHE:-$PWD/.cache/kernels}}"
say() { printf '[kernels] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "must run as root (apt-get, depmod on the unpacked tree)"
  exit 1
fi

# 1. Host packages: qemu (TCG: no /dev/kvm needed) and a static busybox for the initramfs.
missing=()
for p in qemu-system-x86 busybox-static xz-utils kmod; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
apt_updated=0
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_get update -qq
  apt_updated=1
  apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Which kernels: the ABI package(s) the linux-image-amd64 metapackage depends on.
abis() {
  local versions
  if [ "$all" = 1 ]; then
    versions=$(apt-cache madison linux-image-amd64 | awk '{print $3}')
  else
    versions=$(apt-cache policy linux-image-amd64 | awk '/Candidate:/ {print $2}')
  fi
  for v in $versions; do
    [ "$v" = "(none)" ] && continue
    apt-cache show "linux-image-amd64=$v" 2>/dev/null |
      sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*-amd64\).*/\1/p' | head -n1
  done | sort -u
}
list=$(abis)
if [ -z "$list" ] && [ "$apt_updated" = 0 ]; then
  say "apt knows no linux-image-amd64: running apt-get update"
  apt_get update -qq
  list=$(abis)
fi
if [ -z "$list" ]; then
  say "no linux-image-amd64 in the configured apt sources"
  exit 1
fi

mkdir -p "$cache"
# One preparation at a time per cache (colleagues' runs share it).
exec 9>"$cache/.lock"
flock 9
# A cached kernel is rebuilt when the scripts that make its initramfs change.
stamp=$(cat scripts/kernels/prepare.sh scripts/kernels/initramfs-init.sh scripts/kernels/kernel-files.py | sha256sum | cut -c1-16)
for pkg in $list; do
  release=${pkg#linux-image-}
  dir="$cache/$release"
  if [ -s "$dir/vmlinux" ] && [ -s "$dir/initrd.gz" ] && [ -s "$dir/config" ] &&
    [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$release $dir"
    continue
  fi
  work="$cache/.work-$release"
  rm -rf "$work"
  mkdir -p "$work/deb" "$work/tree" "$work/initrd/bin" "$work/initrd/lib/modules"
  say "downloading $pkg-unsigned"
  chown _apt "$work/deb" 2>/dev/null || true
  (cd "$work/deb" && apt-get download -qq "$pkg-unsigned" >/dev/null)
  dpkg -x "$work"/deb/*.deb "$work/tree"
  # The package ships no modules.dep: depmod on the unpacked tree resolves module dependencies.
  depmod -b "$work/tree" "$release"
  # The uncompressed ELF (CONFIG_PVH=y): qemu boots it directly, saving ~3 s of xz under TCG.
  python3 scripts/kernels/kernel-files.py vmlinux "$work/tree/boot/vmlinuz-$release" "$work/vmlinux"
  # 9p root: Debian's generic kernel has 9p and virtio-pci only as modules; virtio_blk and
  # ext4 for the guest's scratch disk (guest-init.sh); crc32c is ext4's soft dependency
  # (not in modules.dep: without it the mount fails with "Cannot load crc32c driver").
  python3 scripts/kernels/kernel-files.py modules "$work/tree/lib/modules/$release" "$work/initrd" \
    9p 9pnet_virtio virtio_pci virtio_blk crc32c_generic ext4
  cp "$(command -v busybox)" "$work/initrd/bin/busybox"
  cp scripts/kernels/initramfs-init.sh "$work/initrd/init"
  chmod 755 "$work/initrd/init"
  (cd "$work/initrd" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz")
  mkdir -p "$dir"
  mv "$work/vmlinux" "$dir/vmlinux"
  mv "$work/initrd.gz" "$dir/initrd.gz"
  cp "$work/tree/boot/config-$release" "$dir/config"
  echo "$stamp" >"$dir/stamp"
  rm -rf "$work"
  say "ready: $release ($(du -sh "$dir" | cut -f1))"
  echo "$release $dir"
done
