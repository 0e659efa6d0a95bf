#!/bin/busybox sh
# PID 1 of the kernel-matrix initramfs (scripts/kernels/prepare.sh): loads the
# 9p/virtio modules Debian's generic kernel lacks built in, mounts the root the
# command line names (the host's /, shared read-only by qemu) and hands over to
# its init= program. Reads the standard root=, rootfstype=, rootflags=, ro, init=.
bb=/bin/busybox
$bb mkdir -p /proc /sys /dev /newroot
$bb mount -t proc proc /proc
$bb mount -t devtmpfs dev /dev
ROOT=/dev/root FSTYPE=9p FLAGS= INIT=/sbin/init RO=rw
for a in $($bb cat /proc/cmdline); do
  case "$a" in
    root=*) ROOT=${a#root=} ;;
    rootfstype=*) FSTYPE=${a#rootfstype=} ;;
    rootflags=*) FLAGS=${a#rootflags=} ;;
    init=*) INIT=${a#init=} ;;
    ro) RO=ro ;;
  esac
done
for m in $($bb cat /modules.order); do
  $bb insmod "/lib/modules/$m" || echo "initramfs: insmod $m failed"
done
if ! $bb mount -t "$FSTYPE" -o "$RO${FLAGS:+,$FLAGS}" "$ROOT" /newroot; then
  echo "initramfs: mounting the root ($FSTYPE $ROOT) failed"
  $bb poweroff -f
fi
$bb umount /proc
$bb mount --move /dev /newroot/dev 2>/dev/null || $bb umount /dev
exec $bb switch_root /newroot "$INIT"
