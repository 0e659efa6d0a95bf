#!/usr/bin/env bash
# Installs what is missing on a fresh Debian machine of this kind, then builds
# the addon and the BPF objects. Idempotent: a second run does (almost) nothing.
#   scripts/setup.sh          what the agent needs
#   scripts/setup.sh --test   plus what the tests need (Prometheus' promtool, bpftrace, strace for the seccomp profile,
#                             Chromium for the status page, the arm64 BPF objects: build/bpf-arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/apt.sh
. scripts/apt.sh

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "must run as root: loading BPF programs needs CAP_BPF/CAP_PERFMON and /proc/kallsyms addresses need CAP_SYSLOG"
  exit 1
fi

# 1. Debian packages.
pkgs=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make g++ python3 pkg-config linux-libc-dev pci.ids)
[ "$want_test" = 1 ] && pkgs+=(prometheus strace chromium linux-libc-dev-arm64-cross)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's prometheus package starts a service we do not want; tests run their own.
  if printf '%s\n' "${missing[@]}" | grep -qx prometheus; then
    (systemctl disable --now prometheus prometheus-node-exporter 2>/dev/null || service prometheus stop 2>/dev/null || true) >/dev/null 2>&1
  fi
fi

# 2. npm packages (Node 24 comes with them, as the devDependency `node`).
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
export PATH="$PWD/node_modules/.bin:$PATH"

# 3. The N-API addon and the container's init (rebuilt when a source is newer than a binary).
addon=native/build/Release/ebpf_native.node
init=native/build/Release/ebpf-collector-init
if [ ! -f "$addon" ] || [ ! -f "$init" ] ||
  [ -n "$(find native -maxdepth 1 \( -newer "$addon" -o -newer "$init" \) \( -name '*.cc' -o -name '*.c' -o -name '*.h' -o -name '*.gyp' \) 2>/dev/null)" ]; then
  say "building the native addon"
  # Node-API headers of the system Node (Debian's nodejs: /usr/include/node); npm passes
  # the machine's `nodedir` itself, a direct run of this script does not.
  nodedir=()
  [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ] && nodedir=(--nodedir=/usr)
  node-gyp rebuild --directory native --loglevel=error "${nodedir[@]}" >/dev/null
fi

# 4. BPF objects (make rebuilds what changed; vmlinux.h comes from this kernel's BTF).
if [ ! -r /sys/kernel/btf/vmlinux ]; then
  say "this kernel has no /sys/kernel/btf/vmlinux: CO-RE needs BTF (CONFIG_DEBUG_INFO_BTF=y)"
  exit 1
fi
make -s -C bpf
# The arm64 objects (build/bpf-arm64; vmlinux.h from Debian's arm64 kernel BTF, read out of a
# qemu boot once and cached in .cache/kernels/): test/kernels/arm64-objects.test.ts checks them.
[ "$want_test" = 1 ] && make -s -C bpf ARCH=arm64

# 5. Decoder tables (errno, syscalls) generated from this machine's kernel headers.
if [ ! -f build/tables/errno.json ] || [ ! -f build/tables/syscalls.json ]; then
  node scripts/gen-tables.ts >/dev/null
fi

# 6. src/ precompiled to build/js/ (types stripped at build, not at every start: less
#    memory and a faster start). Rebuilt when a source or directory is newer than its
#    stamp; bin/ebpf-collector.js runs src/ directly while the build is stale.
if [ ! -f build/js/.stamp ] || [ scripts/build-js.ts -nt build/js/.stamp ] ||
  [ -n "$(find src -newer build/js/.stamp \( -type d -o \( -name '*.ts' ! -name '*.test.ts' \) \) -print -quit)" ]; then
  node scripts/build-js.ts
fi
