#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, run on a GPU machine from the repo
# root with the binaries built elsewhere (build/voxfit and build/deps/llama
# carried along). Writes what it finds under $OUT (default ./gpu-check):
#  1. voxfit gpu / gpu --json read real NVML figures (names, totals, the
#     driver's reserve, processes with their command lines);
#  2. voxfit plan sees the device through NVML (CUDA total = NVML total -
#     reserved; free = NVML free);
#  3. a 16 GB card (the guide's RTX 5070 Ti) is simulated by a process that
#     holds all but 15.47 GiB: voxfit gpu shows it, voxfit plan plans the
#     guide's stack into what is left, and the guide's compose file is audited.
set -u
. "$(dirname "$0")/gpu_hold.sh"
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/build/deps/llama/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
V=build/voxfit
nvidia-smi --query-gpu=name,memory.total,memory.reserved,memory.used,memory.free --format=csv | tee "$OUT/smi.csv"
$V gpu | tee "$OUT/gpu.txt"
$V gpu --json > "$OUT/gpu.json"
$V plan --llm Qwen/Qwen3-8B-GGUF:Q4_K_M --stt distil-small.en --json > "$OUT/plan_idle.json"; echo "plan idle rc=$?"
hold_gpu 150
$V gpu | tee "$OUT/gpu_16g.txt"
$V plan --llm Qwen/Qwen3-8B-GGUF:Q4_K_M --stt distil-small.en --explain | tee "$OUT/plan_16g.txt"; echo "plan 16g rc=$?"
$V plan --json > "$OUT/plan_16g_chosen.json"; echo "plan chosen rc=$?"
$V plan --llm-engine vllm --llm Qwen/Qwen3-8B-FP8 --stt-engine faster-whisper --stt distil-small.en | tee "$OUT/plan_16g_vllm.txt"
$V plan --check tests/data/guide-compose.yml | tee "$OUT/check_16g.txt"; echo "check rc=$?"
nvidia-smi | tee "$OUT/smi_16g.txt"
kill $holder 2>/dev/null; wait 2>/dev/null
