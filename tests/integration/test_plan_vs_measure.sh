#!/usr/bin/env bash
# The planner's llama.cpp figures agree with what llama.cpp really
# allocates, within 2% per component, for Qwen3-0.6B and Llama-3.2-1B shapes
# at several contexts, KV types, batch sizes, with and without flash
# attention (the full grid, with Qwen3-1.7B too, runs in make bench).
set -u
. "$(dirname "$0")/lib.sh"
VF_TMP="$T" VOXFIT="$VOXFIT" bash "$VF_SRC/bench/plan_vs_measure.sh" --quick || fail "plan and measure disagree"
pass
