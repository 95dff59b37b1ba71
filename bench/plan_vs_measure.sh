#!/usr/bin/env bash
# plan vs measure: for real architectures (random or zero weights in real
# GGUF files), compare `voxfit plan`'s prediction of every llama.cpp buffer
# with what llama.cpp really allocates (`voxfit measure`) on this machine.
# Usage: bench/plan_vs_measure.sh [--quick] [--markdown FILE]
# Prints one row per configuration; exits 1 if any component is off by more
# than 2% (and more than 1 MiB).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VOXFIT=${VOXFIT:-$here/build/voxfit}
work=${VF_TMP:-/tmp/voxfit-bench}/plan_vs_measure
mkdir -p "$work"
quick=0; md=""
while [ $# -gt 0 ]; do
  case $1 in --quick) quick=1;; --markdown) md=$2; shift;; esac; shift
done
if [ $quick = 1 ]; then
  models="Qwen/Qwen3-0.6B:Q8_0 meta-llama/Llama-3.2-1B-Instruct:Q4_K_M"
  grid="4096:512:f16:on 16384:256:q8_0:on 2048:512:f16:off 8192:128:f16:off"
else
  models="Qwen/Qwen3-0.6B:Q8_0 Qwen/Qwen3-0.6B:Q4_K_M Qwen/Qwen3-1.7B:Q8_0 meta-llama/Llama-3.2-1B-Instruct:Q4_K_M meta-llama/Llama-3.2-1B-Instruct:F16"
  grid="2048:512:f16:on 4096:512:f16:on 8192:512:q8_0:on 16384:256:q8_0:on 32768:512:q4_0:on 4096:2048:f16:on 2048:512:f16:off 8192:128:f16:off 16384:512:f16:off"
fi
worst=0; rows=""
hdr="| model | quant | ctx | ubatch | KV type | FA | weights plan / measured MiB | KV | compute | output | worst |"
sep="|---|---|---|---|---|---|---|---|---|---|---|"
for m in $models; do
  arch=${m%%:*}; q=${m##*:}
  f="$work/$(echo "$arch" | tr '/' '_')-$q.gguf"
  [ -f "$f" ] || "$VOXFIT" dev mkmodel --like "$arch" --type "$q" --weights zeros -o "$f"
  for g in $grid; do
    IFS=: read -r ctx ub kv fa <<< "$g"
    fav=$([ "$fa" = on ] && echo on || echo off)
    "$VOXFIT" measure --llm "$f" -c "$ctx" -ub "$ub" --kv-type "$kv" -fa "$fav" --json > "$work/m.json"
    "$VOXFIT" plan --device cpu --llm "$f" --stt none --tts none --margin 0 \
      --llm-args "-c $ctx -ub $ub -ctk $kv -ctv $kv -fa $fav" --json > "$work/p.json" || true
    row=$(node -e '
      const fs = require("fs");
      const m = JSON.parse(fs.readFileSync(process.argv[1])).components[0];
      const p = JSON.parse(fs.readFileSync(process.argv[2])).components[0];
      const mib = b => (b / 1048576).toFixed(2);
      let worst = 0, cells = [];
      for (const k of ["weights_bytes", "kv_bytes", "compute_bytes", "overhead_bytes"]) {
        const a = p[k], b = m[k];
        const err = b ? Math.abs(a - b) / b : (a ? 1 : 0);
        if (Math.abs(a - b) > 1048576) worst = Math.max(worst, err);
        cells.push(mib(a) + " / " + mib(b));
      }
      console.log(cells.join(" | ") + " | " + (100 * worst).toFixed(2) + "%");
    ' "$work/m.json" "$work/p.json")
    line="| $arch | $q | $ctx | $ub | $kv | $fa | $row |"
    echo "$line"
    rows+="$line"$'\n'
    w=$(echo "$row" | awk -F'|' '{gsub(/[ %]/,"",$NF); print $NF}')
    worst=$(awk -v a="$worst" -v b="$w" 'BEGIN{print (b>a)?b:a}')
  done
done
echo "worst component error: ${worst}%"
if [ -n "$md" ]; then
  {
    echo "$hdr"; echo "$sep"; printf '%s' "$rows"
    echo; echo "Worst component error: ${worst}% (CPU, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))."
  } > "$md"
fi
awk -v w="$worst" 'BEGIN{exit (w>2.0)?1:0}'
