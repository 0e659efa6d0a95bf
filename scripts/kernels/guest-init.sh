#!/bin/sh
# PID 1 inside a kernel-matrix guest (started by scripts/kernels/run.ts, run by the
# host's /bin/sh over the read-only 9p root). Mounts the guest's own kernel
# filesystems and a tmpfs wherever something writes (the root stays read-only),
# runs the job script named by kmx_job= in the folder named by kmx_cwd=, writes
# everything it prints to the second serial port, then "KMX_EXIT=<rc>", and powers off.
# A run without that marker line is a failure (a panic also ends qemu with status 0).
# An arm64 guest (-M virt: one UART) writes to the virtio serial port named "kmx" instead
# (kmx_out=virtio), and its root is an overlay of arm64 trees with the host's share at
# kmx_host=/host (initramfs-init.sh): the checkout is bound from there to its own path.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
bb=/bin/busybox

# The share shows the host's /proc, /sys and /dev as plain files: mount ours unconditionally.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null  # already moved here by the initramfs
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
job=
cwd=/
out=/dev/ttyS1
host=
for a in $(cat /proc/cmdline); do
  case "$a" in
    kmx_job=*) job=${a#kmx_job=} ;;
    kmx_cwd=*) cwd=${a#kmx_cwd=} ;;
    kmx_host=*) host=${a#kmx_host=} ;;
    kmx_out=virtio)
      for p in /sys/class/virtio-ports/*; do
        [ "$(cat "$p/name" 2>/dev/null)" = kmx ] && out=/dev/${p##*/}
      done
      ;;
  esac
done
exec 3>"$out"
say() { echo "$*" >&3; }
mount -t tmpfs -o mode=755 run /run
# The job lives in the host's /tmp: copy it before our tmpfs hides that.
[ -n "$job" ] && cp "$job" /run/kmx-job.sh
# The checkout may live under a directory hidden below (a clone in /tmp, in /root):
# keep a handle on it and put it back at its own path afterwards (still read-only).
keep_cwd=""
[ -z "$host" ] && case "$cwd" in
  /tmp/* | /var/tmp/* | /root/* | /var/lib/bpf/*)
    mkdir -p /run/kmx-cwd && mount --bind "$cwd" /run/kmx-cwd && keep_cwd=1
    ;;
esac
for d in /root /var/lib/bpf; do
  [ -d "$d" ] && mount -t tmpfs -o mode=1777 tmp "$d"
done
# /tmp and /var/tmp on the scratch disk qemu attaches (an ext4 image in the host's run
# folder), as on the development machine: a real block device and a real page cache
# for the block-layer and page-cache programs.
if [ -b /dev/vda ] && mount -t ext4 /dev/vda /tmp; then
  chmod 1777 /tmp
  mkdir -p -m 1777 /tmp/.var-tmp
  # An arm64 guest's overlay root has no /var/tmp of its own (made in its memory; the host's / has one).
  mkdir -p /var/tmp
  mount --bind /tmp/.var-tmp /var/tmp || say "cannot bind /tmp/.var-tmp on /var/tmp"
else
  say "no scratch disk: /tmp and /var/tmp are tmpfs"
  mkdir -p /var/tmp
  mount -t tmpfs -o mode=1777 tmp /tmp
  mount -t tmpfs -o mode=1777 tmp /var/tmp
fi
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t securityfs securityfs /sys/kernel/security
# cgroups laid out as on the development machine: v1 memory beside the v2 hierarchy.
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
mkdir -p /sys/fs/cgroup/memory /sys/fs/cgroup/unified
mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
$bb ip link set lo up
$bb hostname kmx-guest
if [ -n "$keep_cwd" ]; then
  mkdir -p "$cwd" && mount --bind /run/kmx-cwd "$cwd"
elif [ -n "$host" ]; then
  mkdir -p "$cwd" && mount --bind "$host$cwd" "$cwd"
fi

say "KMX_READY"
say "KMX_INFO uname=$(uname -r) btf=$(stat -c %s /sys/kernel/btf/vmlinux 2>/dev/null || echo none) kprobe_events=$([ -e /sys/kernel/tracing/kprobe_events ] && echo yes || echo no) pmus=$(ls /sys/bus/event_source/devices | tr '\n' ,) lsm=$(cat /sys/kernel/security/lsm 2>/dev/null)"
rc=127
if [ -s /run/kmx-job.sh ]; then
  cd "$cwd" && sh /run/kmx-job.sh >&3 2>&1
  rc=$?
else
  say "no job (kmx_job=$job)"
fi
say "KMX_EXIT=$rc"
sync
echo o >/proc/sysrq-trigger
sleep 5
$bb poweroff -f
