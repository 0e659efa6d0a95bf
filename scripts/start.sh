#!/usr/bin/env bash
# `npm start`: set up what is missing, then run the default pipeline until SIGTERM/SIGINT.
# npm forwards SIGTERM and SIGINT to its script's process, this one: during set-up the trap
# ends the set-up's whole process group; after it the process becomes the agent's init
# (native/init.c, by exec — no shell is left between npm and the agent to orphan it), which
# forwards signals to the agent from its first instant and exits with its status.
set -euo pipefail
cd "$(dirname "$0")/.."

set -m # the set-up gets a process group of its own: one kill reaches apt, npm and make
bash scripts/setup.sh &
setup=$!
trap 'kill -TERM -- -$setup 2>/dev/null; wait $setup; exit 143' TERM
trap 'kill -TERM -- -$setup 2>/dev/null; wait $setup; exit 130' INT
wait $setup
trap - TERM INT
set +m

export PATH="$PWD/node_modules/.bin:$PATH"
exec native/build/Release/ebpf-collector-init node bin/ebpf-collector.js run --config pipelines/default.yaml "$@"
