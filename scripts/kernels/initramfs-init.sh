#!/bin/busybox sh
# PID 1 of the kernel-matrix initramfs (scripts/kernels/prepare.sh): loads the
# 9p/virtio modules Debian's generic kernel lacks built in, mounts the root the
# command line names (the host's /, shared read-only by qemu) and hands over to
# its init= program. Reads the standard root=, rootfstype=, rootflags=, ro, init=.
# With kmx_btf=1 it mounts no root: it writes /sys/kernel/btf/vmlinux to the virtio
# serial port named "kmx" (a file on the host; prepare.sh --btf) and powers off.
# With kmx_lower=<dir>:<dir>... (paths in the share) the root is an overlay of those
# trees (the first on top) with a tmpfs for writes, and the share itself is at /host:
# an arm64 guest's userland from the x86_64 host's files. Writes never reach the host.
bb=/bin/busybox
$bb mkdir -p /proc /sys /dev /newroot
$bb mount -t proc proc /proc
$bb mount -t devtmpfs dev /dev
ROOT=/dev/root FSTYPE=9p FLAGS= INIT=/sbin/init RO=rw BTF= LOWER=
for a in $($bb cat /proc/cmdline); do
  case "$a" in
    root=*) ROOT=${a#root=} ;;
    rootfstype=*) FSTYPE=${a#rootfstype=} ;;
    rootflags=*) FLAGS=${a#rootflags=} ;;
    init=*) INIT=${a#init=} ;;
    ro) RO=ro ;;
    kmx_btf=1) BTF=1 ;;
    kmx_lower=*) LOWER=${a#kmx_lower=} ;;
  esac
done
for m in $($bb cat /modules.order); do
  $bb insmod "/lib/modules/$m" || echo "initramfs: insmod $m failed"
done
if [ -n "$BTF" ]; then
  $bb mount -t sysfs sysfs /sys
  port=
  for p in /sys/class/virtio-ports/*; do
    [ "$($bb cat "$p/name" 2>/dev/null)" = kmx ] && port=/dev/${p##*/}
  done
  # The byte count on the console lets the host check it got all of it.
  if [ -n "$port" ] && $bb cat /sys/kernel/btf/vmlinux >"$port"; then
    echo "KMX_BTF_BYTES=$($bb stat -c %s /sys/kernel/btf/vmlinux)"
  else
    echo "initramfs: no BTF or no virtio port named kmx"
  fi
  $bb sync
  $bb poweroff -f
fi
if [ -n "$LOWER" ]; then
  $bb mkdir -p /host /rw
  lowerdirs=
  for d in $(echo "$LOWER" | $bb tr ':' ' '); do lowerdirs="$lowerdirs${lowerdirs:+:}/host$d"; done
  if ! $bb mount -t "$FSTYPE" -o "ro${FLAGS:+,$FLAGS}" "$ROOT" /host ||
    ! $bb mount -t tmpfs -o mode=755 rw /rw || ! $bb mkdir -p /rw/upper /rw/work ||
    ! $bb mount -t overlay -o "lowerdir=$lowerdirs,upperdir=/rw/upper,workdir=/rw/work" overlay /newroot; then
    echo "initramfs: the overlay root ($lowerdirs) failed"
    $bb poweroff -f
  fi
  $bb mkdir -p /newroot/host
  $bb mount --move /host /newroot/host
elif ! $bb mount -t "$FSTYPE" -o "$RO${FLAGS:+,$FLAGS}" "$ROOT" /newroot; then
  echo "initramfs: mounting the root ($FSTYPE $ROOT) failed"
  $bb poweroff -f
fi
$bb umount /proc
$bb mount --move /dev /newroot/dev 2>/dev/null || $bb umount /dev
exec $bb switch_root /newroot "$INIT"
