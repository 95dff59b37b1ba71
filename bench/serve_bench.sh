#!/usr/bin/env bash
# serve_bench.sh - voxfit serve against a direct libllama decode loop on the
# same model (Qwen3-0.6B shapes, Q8_0, random weights from mkmodel), the
# same threads and context: time to first token and decode tokens/s of one
# stream through the server vs the loop (the server's overhead), then
# aggregate tokens/s with 1, 2, 4 and 8 concurrent streams.
#
# usage: bench/serve_bench.sh [--quick] [--markdown FILE | --no-markdown]
#   --quick      fewer tokens and rounds (a smoke run)
#   --markdown   replace the "## Server" section of FILE with the results
#                (default: docs/BENCHMARKS.md; `make bench` runs it so)
# env: VOXFIT (binary, default build/voxfit), THREADS (default: half the
#      CPUs, as serve), NGL (layers on the GPU for both, default 0: CPU),
#      MODEL (a .gguf to use instead of the generated one)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VOXFIT=${VOXFIT:-$here/build/voxfit}
work=${VF_TMP:-/tmp/voxfit-bench}/serve_bench
mkdir -p "$work"
quick=0; md="$here/docs/BENCHMARKS.md"
while [ $# -gt 0 ]; do
  case $1 in --quick) quick=1;; --markdown) md=$2; shift;; --no-markdown) md="";; *) echo "unknown option $1" >&2; exit 2;; esac
  shift
done
load=$(cut -d' ' -f1-3 /proc/loadavg)
threads=${THREADS:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))}
ngl=${NGL:-0}
ctx=2048
if [ $quick = 1 ]; then n_tok=32; rounds=1; else n_tok=128; rounds=${ROUNDS:-5}; fi

model=${MODEL:-$work/qwen3-0.6b-q8_0.gguf}
[ -f "$model" ] || "$VOXFIT" dev mkmodel --like Qwen/Qwen3-0.6B --type Q8_0 -o "$model" >/dev/null

# the direct loop, built against the same llama.cpp libraries voxfit links
L=$here/build/deps/llama
cc -O2 -o "$work/serve_direct" "$here/bench/serve_direct.c" -I"$L/include" \
   "$L"/lib/libllama.v*.so "$L"/lib/libggml.v*.so "$L/lib/libggml-base.so" -Wl,-rpath,"$L/lib"
export VOXFIT_GGML_BACKEND_DIR=$L/lib
eog=$("$work/serve_direct" "$model" --eog)

# the server: same model, threads, per-conversation context; 8 slots
device=cpu; [ "$ngl" != 0 ] && device=auto
"$VOXFIT" serve --port 0 --llm "$model" --device "$device" --threads "$threads" --sessions "${SESSIONS:-8}" \
  --ctx "$ctx" --max-ctx "$ctx" --no-prompt-cache --log-level warn > "$work/serve.log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null' EXIT
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*listening on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$work/serve.log" | head -1)
  [ -n "$port" ] || port=$(ss -ltnp 2>/dev/null | sed -n "s/.*127.0.0.1:\([0-9]*\).*pid=$spid,.*/\1/p" | head -1)
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  kill -0 $spid || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
base="http://127.0.0.1:$port"
model_id=$(curl -s "$base/v1/models" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).data[0].id))')
node "$here/bench/serve_client.mjs" "$base" "$model_id" 1 8 "$eog" 1 >/dev/null   # warm-up
# Direct and served rounds alternate, so both see the same machine: on a
# shared machine the speed drifts by more than the overhead being measured.
d_runs=(); s_runs=()
for _ in $(seq 1 "$rounds"); do
  d_runs+=("$(NGL=$ngl "$work/serve_direct" "$model" "$n_tok" "$threads" "$ctx" 1)")
  s_runs+=("$(node "$here/bench/serve_client.mjs" "$base" "$model_id" 1 "$n_tok" "$eog" 1)")
done
merge() { # JSON results of single rounds -> one: means, best decode, best TTFT
  node -e '
    const r = process.argv.slice(1).map((s) => JSON.parse(s));
    const mean = (k) => r.reduce((a, x) => a + x[k], 0) / r.length;
    const o = Object.assign({}, r[0]);
    o.rounds = r.length;
    o.decode_tps = mean("decode_tps");
    o.ttft_ms = mean("ttft_ms");
    o.best_decode_tps = Math.max(...r.map((x) => x.best_decode_tps));
    o.best_ttft_ms = Math.min(...r.map((x) => x.best_ttft_ms));
    console.log(JSON.stringify(o));' "$@"
}
direct=$(merge "${d_runs[@]}")
single=$(merge "${s_runs[@]}")
echo "direct libllama loop: $direct"
echo "through the server, 1 stream: $single"
conc=()
for n in 1 2 4 8; do
  r=$(node "$here/bench/serve_client.mjs" "$base" "$model_id" "$n" $(( n_tok / 2 )) "$eog" 1)
  echo "through the server, $n streams: $r"
  conc+=("$r")
done
kill $spid; wait $spid 2>/dev/null || true
trap - EXIT

report=$(node -e '
const direct_rounds = process.argv[1];
const [direct, single, ...conc] = process.argv.slice(2).map((s) => JSON.parse(s));
const pct = (a, b) => ((a - b) / b * 100).toFixed(1);
let t = "| best of " + direct_rounds + " runs | direct libllama loop | through voxfit serve | server overhead |\n|---|---|---|---|\n";
t += `| decode tokens/s (1 stream) | ${direct.best_decode_tps.toFixed(1)} | ${single.best_decode_tps.toFixed(1)} | ${pct(direct.best_decode_tps, single.best_decode_tps)}% |\n`;
t += `| time to first token, ms (prompt ${direct.prompt_tokens} tokens) | ${direct.best_ttft_ms.toFixed(1)} | ${single.best_ttft_ms.toFixed(1)} | ${(single.best_ttft_ms - direct.best_ttft_ms).toFixed(1)} ms |\n`;
t += `| mean decode tokens/s | ${direct.decode_tps.toFixed(1)} | ${single.decode_tps.toFixed(1)} | |\n\n`;
t += "| concurrent streams | aggregate tokens/s | per-stream tokens/s | mean TTFT ms |\n|---|---|---|---|\n";
for (const c of conc) t += `| ${c.streams} | ${c.aggregate_tps.toFixed(1)} | ${c.decode_tps.toFixed(1)} | ${c.ttft_ms.toFixed(1)} |\n`;
console.log(t);
' "$rounds" "$direct" "$single" "${conc[@]}")
echo
echo "$report"

if [ -n "$md" ]; then
  cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
  section=$(cat <<EOF
## Server

\`bench/serve_bench.sh$( [ $quick = 1 ] && echo " --quick")\` (run by \`make bench\`): \`voxfit serve\` on a
Qwen3-0.6B-shaped Q8_0 model with random weights (\`voxfit dev mkmodel --like Qwen/Qwen3-0.6B --type Q8_0\`),
against \`bench/serve_direct.c\`, a plain libllama decode loop on the same model, context ($ctx), threads
($threads) and sampler (temperature 1, seed 42, end-of-generation tokens banned so every answer has the
asked length). Through the server the client (\`bench/serve_client.mjs\`) streams over HTTP/SSE on
loopback and times the chunks it receives: decode tokens/s = (tokens - 1) / (last chunk - first chunk),
TTFT = request sent -> first content chunk (the direct loop: prompt decode -> the first token after which
there is text to show, as the server holds back UTF-8 characters split over tokens). The server runs
with \`--no-prompt-cache\`, so that each round decodes its prompt whole as the loop does (with the cache,
the same prompt again reuses 31 of its 32 tokens' cells). Concurrent streams ask for $(( n_tok / 2 )) tokens each;
aggregate = all tokens / wall time. Machine: $cpu, $(nproc) CPUs, NGL=$ngl, load average before the run: $load. $(date -u +%Y-%m-%d).
Direct and served rounds alternate (one of each, $rounds times) so both meet the same machine; the
overhead row compares the best round of each, the figure least disturbed by other
processes; on a shared machine the means move by tens of percent from run to run.$(awk -v l="${load%% *}" -v n="$(nproc)" 'BEGIN { if (l + 0 >= n) printf "\n**The load average was at or above the CPU count: other processes shared the CPUs, so these\nfigures measure contention, not the server. Rerun on an idle machine.**" }')

$report
EOF
)
  node -e '
const fs = require("fs");
const [file, section] = process.argv.slice(1);
let doc = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "# Benchmarks\n";
const start = doc.search(/^## Server$/m);
if (start < 0) doc = doc.replace(/\n*$/, "\n\n") + section + "\n";
else {
  const rest = doc.slice(start + 1).search(/^## /m);
  const end = rest < 0 ? doc.length : start + 1 + rest;
  doc = doc.slice(0, start) + section + "\n" + (rest < 0 ? "" : "\n" + doc.slice(end));
}
fs.writeFileSync(file, doc);
' "$md" "$section"
  echo "updated the Server section of $md"
fi
