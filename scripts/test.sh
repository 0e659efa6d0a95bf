#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, format, types, lint, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PATH="$PWD/node_modules/.bin:$PATH"
echo "[test] node $(node --version)"
prettier --check --log-level warn .
tsc -p tsconfig.json
eslint --max-warnings 0 .
node --test --test-concurrency=1 --test-timeout=120000 "src/**/*.test.ts" "test/**/*.test.ts"
node scripts/kernels/run.ts --quick || { echo "[test] FAILED: kernel matrix (Debian 6.1 under qemu, scripts/kernels/run.ts --quick); it needs root, apt and qemu-system-x86_64" >&2; exit 1; }
# The same on Debian's arm64 kernel with the arm64 build (5-6 min under TCG on 2 busy vCPUs).
node scripts/kernels/run.ts --quick --arch arm64 --no-host || { echo "[test] FAILED: arm64 kernel matrix (Debian arm64 6.1 under qemu-system-aarch64, scripts/kernels/run.ts --quick --arch arm64); it needs root, apt and qemu-system-arm" >&2; exit 1; }
