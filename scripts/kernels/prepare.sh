#!/usr/bin/env bash
# Prepares Debian kernels for the qemu kernel matrix (scripts/kernels/run.ts):
# installs qemu and busybox when missing, downloads Debian's generic
# linux-image-<abi>-<arch>-unsigned package with apt-get download (nothing is
# installed into /boot), and leaves per kernel, in the cache folder:
#   <cache>/<release>/vmlinux     amd64: the uncompressed kernel (qemu boots it via PVH: no slow xz under TCG)
#   <cache>/<release>/Image       arm64: the kernel Image (qemu-system-aarch64 -M virt boots it directly)
#   <cache>/<release>/initrd.gz   busybox + the 9p/virtio (and virtio-blk/ext4) modules, mounts the 9p root, switch_root
#   <cache>/<release>/config      the kernel's config (for the report)
#   <cache>/<release>/btf         with --btf: the kernel's /sys/kernel/btf/vmlinux, read out of a boot
#                                 of it under qemu (for an arm64 vmlinux.h: bpf/Makefile ARCH=arm64)
# Prints one line per ready kernel: "<release> <cache>/<release>".
#   <cache>/userland-arm64/       with --userland (arm64): what an arm64 guest runs besides the agent's own
#                                 arm64 build (build/arm64: Node, addon, runtime libraries): busybox (sh and
#                                 the tools, as applet links), python3.11 and its standard library (the
#                                 workloads of the load report and the program tests, the usdt program's
#                                 target), /etc basics. Printed as "userland <dir>".
#   prepare.sh [--all] [--arch amd64|arm64] [--btf] [--userland] [cache-dir]
#     default   the kernel linux-image-<arch> points at (bookworm-security's current ABI)
#     --all     every ABI any available linux-image-<arch> version points at (e.g. the point release's too)
#     --arch    the kernels' architecture (default amd64); arm64 adds the arm64 dpkg architecture
#     --btf     also read each kernel's BTF out of a boot (bounded: 300 s; one qemu, ended by its PID)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/apt.sh
. scripts/apt.sh

all=0
arch=amd64
btf=0
userland=0
while [ $# -gt 0 ]; do
  case "$1" in
    --all) all=1 ;;
    --btf) btf=1 ;;
    --userland) userland=1 ;;
    --arch) arch=${2:?--arch needs amd64 or arm64}; shift ;;
    --arch=*) arch=${1#--arch=} ;;
    -*) echo "prepare.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
case "$arch" in
  amd64 | x86 | x86_64) arch=amd64 qemu_pkg=qemu-system-x86 pkg_arch="" ;;
  arm64 | aarch64) arch=arm64 qemu_pkg=qemu-system-arm pkg_arch=":arm64" ;;
  *) echo "prepare.sh: unknown architecture $arch (amd64 or arm64)" >&2; exit 2 ;;
esac
cache="${1:-${EBPF_KERNEL_CACHE:-$PWD/.cache/kernels}}"
say() { printf '[kernels] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "must run as root (apt-get, depmod on the unpacked tree)"
  exit 1
fi

# 1. Host packages: qemu (TCG: no /dev/kvm needed) and a static busybox for the initramfs.
missing=()
for p in "$qemu_pkg" busybox-static xz-utils kmod; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
apt_updated=0
# A foreign architecture's packages (its kernel, its static busybox) need it in dpkg's list.
if [ -n "$pkg_arch" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  say "adding the dpkg architecture $arch (for apt-get download of its kernel and busybox)"
  dpkg --add-architecture "$arch"
  apt_get update -qq
  apt_updated=1
fi
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  [ "$apt_updated" = 1 ] || apt_get update -qq
  apt_updated=1
  apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Which kernels: the ABI package(s) the linux-image-<arch> metapackage depends on.
meta="linux-image-$arch$pkg_arch"
abis() {
  local versions
  if [ "$all" = 1 ]; then
    versions=$(apt-cache madison "$meta" | awk '{print $3}')
  else
    versions=$(apt-cache policy "$meta" | awk '/Candidate:/ {print $2}')
  fi
  for v in $versions; do
    [ "$v" = "(none)" ] && continue
    apt-cache show "$meta=$v" 2>/dev/null |
      sed -n "s/^Depends:.*\\(linux-image-[0-9][^ ,]*-$arch\\).*/\\1/p" | head -n1
  done | sort -u
}
list=$(abis)
if [ -z "$list" ] && [ "$apt_updated" = 0 ]; then
  say "apt knows no $meta: running apt-get update"
  apt_get update -qq
  list=$(abis)
fi
if [ -z "$list" ]; then
  say "no $meta in the configured apt sources"
  exit 1
fi

mkdir -p "$cache"
# One preparation at a time per cache (colleagues' runs share it).
exec 9>"$cache/.lock"
flock 9
# A cached kernel is rebuilt when the scripts that make its initramfs change.
stamp=$(cat scripts/kernels/prepare.sh scripts/kernels/initramfs-init.sh scripts/kernels/kernel-files.py | sha256sum | cut -c1-16)
# The kernel file qemu boots: amd64 the PVH vmlinux, arm64 the Image (-M virt loads it directly).
kernel_file=vmlinux
[ "$arch" = arm64 ] && kernel_file=Image

# Reads a prepared kernel's /sys/kernel/btf/vmlinux out of a boot of it: the initramfs alone
# (no root, no share of the host), which writes the BTF to a virtio serial port (binary-clean)
# that qemu writes to a file, and powers off. Bounded; the one qemu is ended by its PID.
read_btf() {
  local dir=$1 out=$1/btf.tmp qemu pid rc t0=$SECONDS
  rm -f "$out"
  case "$arch" in
    amd64) qemu=(qemu-system-x86_64 -accel tcg -cpu max -kernel "$dir/vmlinux" -append "console=ttyS0 panic=-1 kmx_btf=1") ;;
    arm64) qemu=(qemu-system-aarch64 -M virt -accel tcg -cpu max,pauth-impdef=on -kernel "$dir/Image" -append "console=ttyAMA0 panic=-1 kmx_btf=1") ;;
  esac
  "${qemu[@]}" -m 1G -smp 2 -display none -no-reboot -nodefaults -no-user-config \
    -initrd "$dir/initrd.gz" -serial "file:$dir/btf-console.txt" \
    -device virtio-serial-pci -chardev "file,id=kmxbtf,path=$out" -device virtserialport,chardev=kmxbtf,name=kmx >&2 &
  pid=$!
  # Bounded: this qemu is killed by its PID after 300 s (polled: nothing left behind).
  local waited=0
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 600 ]; do
    sleep 0.5
    waited=$((waited + 1))
  done
  kill -KILL "$pid" 2>/dev/null && say "the BTF boot took more than 300 s: qemu killed"
  rc=0
  wait "$pid" || rc=$?
  # BTF starts with its magic 0xeB9F (little-endian), version 1, flags 0.
  if [ "$rc" != 0 ] || [ "$(head -c 4 "$out" 2>/dev/null | od -An -tx1 | tr -d ' ')" != "9feb0100" ] ||
    ! grep -q 'KMX_BTF_BYTES=' "$dir/btf-console.txt" ||
    [ "$(stat -c %s "$out")" != "$(sed -n 's/.*KMX_BTF_BYTES=\([0-9]*\).*/\1/p' "$dir/btf-console.txt" | head -n1)" ]; then
    say "reading the BTF out of $(basename "$dir") failed (qemu exit $rc); console:"
    tail -n 20 "$dir/btf-console.txt" >&2 || true
    rm -f "$out"
    return 1
  fi
  mv "$out" "$dir/btf"
  rm -f "$dir/btf-console.txt"
  say "BTF of $(basename "$dir"): $(stat -c %s "$dir/btf") bytes, read in $((SECONDS - t0)) s"
}

for pkg in $list; do
  release=${pkg#linux-image-}
  dir="$cache/$release"
  if [ -s "$dir/$kernel_file" ] && [ -s "$dir/initrd.gz" ] && [ -s "$dir/config" ] &&
    [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
    if [ "$btf" = 1 ] && [ ! -s "$dir/btf" ]; then
      say "reading the BTF of $release out of a boot under qemu"
      read_btf "$dir"
    fi
    echo "$release $dir"
    continue
  fi
  work="$cache/.work-$release"
  rm -rf "$work"
  mkdir -p "$work/deb" "$work/tree" "$work/initrd/bin" "$work/initrd/lib/modules"
  say "downloading $pkg-unsigned$pkg_arch"
  chown _apt "$work/deb" 2>/dev/null || true
  (cd "$work/deb" && apt-get download -qq "$pkg-unsigned$pkg_arch" >/dev/null)
  dpkg -x "$work"/deb/*.deb "$work/tree"
  # The package ships no modules.dep: depmod on the unpacked tree resolves module dependencies.
  depmod -b "$work/tree" "$release"
  # 9p root: Debian's generic kernel has 9p and virtio-pci only as modules (overlay: an arm64
  # guest's root is an overlay of arm64 trees from the share, initramfs-init.sh); virtio_blk and
  # ext4 for the guest's scratch disk (guest-init.sh); crc32c is ext4's soft dependency
  # (not in modules.dep: without it the mount fails with "Cannot load crc32c driver");
  # virtio_console for the BTF read-out (read_btf) and arm64's results port (-M virt has one UART).
  modules=(9p 9pnet_virtio virtio_pci virtio_blk crc32c_generic ext4 virtio_console overlay)
  if [ "$arch" = amd64 ]; then
    # The uncompressed ELF (CONFIG_PVH=y): qemu boots it directly, saving ~3 s of xz under TCG.
    python3 scripts/kernels/kernel-files.py vmlinux "$work/tree/boot/vmlinuz-$release" "$work/$kernel_file"
    cp "$(command -v busybox)" "$work/initrd/bin/busybox"
  else
    # Debian's arm64 vmlinuz is the uncompressed Image already (an EFI-stub PE); older ones were gzip.
    if [ "$(head -c 2 "$work/tree/boot/vmlinuz-$release" | od -An -tx1 | tr -d ' ')" = "1f8b" ]; then
      gzip -dc "$work/tree/boot/vmlinuz-$release" >"$work/$kernel_file"
    else
      cp "$work/tree/boot/vmlinuz-$release" "$work/$kernel_file"
    fi
    # The initramfs runs in the guest: it needs the arm64 busybox.
    (cd "$work/deb" && apt-get download -qq "busybox-static$pkg_arch" >/dev/null)
    mkdir -p "$work/bb"
    dpkg -x "$work"/deb/busybox-static_*.deb "$work/bb"
    cp "$work/bb/bin/busybox" "$work/initrd/bin/busybox"
  fi
  python3 scripts/kernels/kernel-files.py modules "$work/tree/lib/modules/$release" "$work/initrd" "${modules[@]}"
  cp scripts/kernels/initramfs-init.sh "$work/initrd/init"
  chmod 755 "$work/initrd/init"
  (cd "$work/initrd" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz")
  mkdir -p "$dir"
  rm -f "$dir/btf"
  mv "$work/$kernel_file" "$dir/$kernel_file"
  mv "$work/initrd.gz" "$dir/initrd.gz"
  cp "$work/tree/boot/config-$release" "$dir/config"
  echo "$stamp" >"$dir/stamp"
  rm -rf "$work"
  say "ready: $release ($(du -sh "$dir" | cut -f1))"
  if [ "$btf" = 1 ]; then
    say "reading the BTF of $release out of a boot under qemu"
    read_btf "$dir"
  fi
  echo "$release $dir"
done

# The arm64 guest's userland beside build/arm64 (Debian packages unpacked with dpkg -x: no
# maintainer scripts run, nothing installed on this machine).
if [ "$userland" = 1 ] && [ "$arch" = arm64 ]; then
  dir="$cache/userland-$arch"
  if [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ]; then
    work="$cache/.work-userland-$arch"
    rm -rf "$work" "$dir"
    mkdir -p "$work/deb" "$work/root"
    chown _apt "$work/deb" 2>/dev/null || true
    say "downloading the arm64 guest userland (busybox, python3.11)"
    # The program tests' python children use ctypes and mmap: the whole standard library (and
    # libffi for ctypes), not only python3.11-minimal's.
    (cd "$work/deb" && apt-get download -qq busybox-static:arm64 python3.11-minimal:arm64 \
      libpython3.11-minimal:arm64 libpython3.11-stdlib:arm64 libexpat1:arm64 libffi8:arm64 >/dev/null)
    for deb in "$work"/deb/*.deb; do dpkg -x "$deb" "$work/root"; done
    root="$work/root"
    # busybox's applets as links at their usual paths (the same version's list as this machine's
    # busybox-static), without replacing a real program of the tree.
    for applet in $(busybox --list-full); do
      [ -e "$root/$applet" ] || [ -L "$root/$applet" ] && continue
      mkdir -p "$root/$(dirname "$applet")"
      ln -s /bin/busybox "$root/$applet"
    done
    ln -sf python3.11 "$root/usr/bin/python3"
    mkdir -p "$root/etc" "$root/root" "$root/tmp" "$root/run" "$root/proc" "$root/sys" "$root/dev"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
    printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
    mv "$root" "$dir"
    echo "$stamp" >"$dir/stamp"
    rm -rf "$work"
    say "ready: userland-$arch ($(du -sh "$dir" | cut -f1))"
  fi
  echo "userland $dir"
fi
