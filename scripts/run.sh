#!/usr/bin/env bash
# make run: the main job. Plans the stack for this machine (the GPU NVML
# finds, else the CPU) and starts the voice assistant with that plan.
# VOXFIT_ARGS adds flags to `voxfit serve` (e.g. --port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/voxfit
echo "== voxfit plan for this machine"
"$bin" plan || true
if "$bin" --help | grep -q "^  serve"; then
  echo "== starting voxfit serve (Ctrl-C stops it)"
  exec "$bin" serve ${VOXFIT_ARGS:-}
fi
