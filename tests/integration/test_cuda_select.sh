#!/usr/bin/env bash
# Choosing a CUDA build of ggml (src/llm/llama_rt.c): `voxfit dev
# cuda-probe DIR` says whether DIR/libggml-cuda.so runs here and why not,
# and a CUDA build that cannot run never takes the process down: voxfit
# says why and runs on the CPU. Without a GPU every candidate fails to
# load, which is the path exercised here; scripts/gpu_cuda_check.sh runs
# the same choice on a GPU machine.
set -u
. "$(dirname "$0")/lib.sh"

# usage errors
"$VOXFIT" dev cuda-probe > /dev/null 2>&1; expect_code 2 $?
"$VOXFIT" dev cuda-probe a b > /dev/null 2>&1; expect_code 2 $?
"$VOXFIT" dev cuda-probe --help > "$T/help" 2>&1; expect_code 0 $?
grep -q "usage: voxfit dev cuda-probe DIR" "$T/help" || fail "no usage line"

# a folder without the library
"$VOXFIT" dev cuda-probe "$T/none" > "$T/o1" 2>&1; expect_code 1 $?
grep -q "^fails: cannot load it: .*libggml-cuda.so" "$T/o1" || fail "missing library: $(cat "$T/o1")"

# a file that is not a shared library
mkdir -p "$T/junk" && echo "not an ELF file" > "$T/junk/libggml-cuda.so"
"$VOXFIT" dev cuda-probe "$T/junk" > "$T/o2" 2>&1; expect_code 1 $?
grep -q "^fails: cannot load it: " "$T/o2" || fail "junk library: $(cat "$T/o2")"

# a real shared library that is no ggml backend (any library on the system)
lib=$(ldconfig -p | awk '/libz\.so\.1 .*x86-64|libz\.so\.1 \(libc6,x86-64\)/ {print $NF; exit}')
if [ -n "$lib" ]; then
  mkdir -p "$T/notggml" && cp "$lib" "$T/notggml/libggml-cuda.so"
  "$VOXFIT" dev cuda-probe "$T/notggml" > "$T/o3" 2>&1; expect_code 1 $?
  grep -q "^fails: ggml cannot register" "$T/o3" || fail "non-ggml library: $(cat "$T/o3")"
fi

# the runtime tries each candidate in order, says why each fails and runs on
# the CPU; the model is measured as usual
"$VOXFIT" dev mkmodel --like tiny -o "$T/tiny.gguf" > /dev/null 2>&1 || fail mkmodel
VOXFIT_CUDA_DIRS="$T/junk:$T/none" "$VOXFIT" measure --llm "$T/tiny.gguf" --ctx 256 --json \
  > "$T/m.json" 2> "$T/m.err"
expect_code 0 $?
grep -q "CUDA build in $T/junk does not run here: cannot load it" "$T/m.err" || fail "no reason for junk: $(cat "$T/m.err")"
grep -q "CUDA: no libggml-cuda.so in $T/none" "$T/m.err" || fail "no note for the empty folder: $(cat "$T/m.err")"
grep -q "no CUDA build runs on this machine: models run on the CPU" "$T/m.err" || fail "no summary: $(cat "$T/m.err")"
[ "$(json_get "$T/m.json" 'j.device.kind')" = cpu ] || fail "not on the CPU: $(cat "$T/m.json")"
[ "$(json_get "$T/m.json" 'j.components[0].kv_bytes > 0')" = true ] || fail "no KV measured"

# no candidate at all: silent
VOXFIT_CUDA_DIRS="" "$VOXFIT" measure --llm "$T/tiny.gguf" --ctx 256 > /dev/null 2> "$T/m2.err"
expect_code 0 $?
grep -qi "cuda" "$T/m2.err" && fail "noise without candidates: $(cat "$T/m2.err")"
pass
