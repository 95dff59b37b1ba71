#!/usr/bin/env bash
# whisper_rtf.sh - real-time factor and peak memory of the embedded Whisper
# (voxfit transcribe) side by side with upstream whisper.cpp, on the same
# model files (random weights at the tiny/base/small shapes from `voxfit dev
# mkmodel --like whisper-*`), the same espeak-ng audio, 2 threads, greedy
# decoding without fallback and flash attention on (both engines' default).
# On the same ggml kernels the two engines decode the same tokens (see
# tests/integration/test_whisper_oracle.sh); on other kernels the rounding
# differs and a random model's tokens drift apart after a while, so the
# table gives the number of tokens each engine decoded (the work done).
#
# Engines: voxfit with ggml's best CPU kernels for this processor; voxfit on
# ggml's baseline x86-64 kernels; whisper.cpp 1.9.3 from the registry
# package @fugood/node-whisper-linux-x64 (built for baseline x86-64, driven
# through tests/oracle/whisper_oracle.c); and, when WHISPER_CPP_CLI names a
# whisper-cli built from source for this machine, that too. RTF = time of
# the transcription call (mel + encoder + decoder, not the model load) /
# audio length; peak = the process's maximum resident set (/usr/bin/time).
# Best of RUNS runs (default 2) for the fast engines, one run of the
# baseline-ISA ones (minutes each at the small shape). Writes the
# "## Whisper" section of docs/BENCHMARKS.md.
# Usage: bench/whisper_rtf.sh [--quick]   (--quick: tiny only, one run;
# WHISPER_BENCH_MODELS="tiny base" picks the shapes)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VOXFIT=${VOXFIT:-$here/build/voxfit}
work=${VF_TMP:-$here/build/bench-tmp}/whisper_rtf
mkdir -p "$work"
models=${WHISPER_BENCH_MODELS:-tiny base small}
runs=${RUNS:-2}
[ "${1:-}" = --quick ] && { models=tiny; runs=1; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the oracle (as in the tests) ----
O=${VF_ORACLE_DIR:-$(dirname "$work")/../whisper-oracle}
mkdir -p "$O"
addon=$O/node_modules/@fugood/node-whisper-linux-x64/index.node
inc=$O/node_modules/@fugood/whisper.node/whisper.cpp
if [ ! -f "$addon" ]; then
  (cd "$O" && npm install --no-save --omit=optional --no-audit --no-fund --silent \
     @fugood/whisper.node@1.1.3 @fugood/node-whisper-linux-x64@1.1.3) || echo "whisper.cpp oracle unavailable" >&2
fi
oracle=$O/whisper_oracle
if [ -f "$addon" ] && { [ ! -x "$oracle" ] || [ "$here/tests/oracle/whisper_oracle.c" -nt "$oracle" ]; }; then
  cc -O2 -std=gnu11 -I"$inc/include" -I"$inc/ggml/include" "$here/tests/oracle/whisper_oracle.c" -o "$oracle" -ldl
fi
x64=$work/x64
mkdir -p "$x64"
ln -sf "$here"/build/deps/llama/lib/libggml-cpu-x64.so "$x64/" 2>/dev/null

# ---- audio: about 20 s of espeak-ng speech, within one 30-second window ----
audio=$work/speech.wav
if [ ! -f "$audio" ]; then
  espeak-ng -w "$work/s.wav" "Speech recognition turns spoken language into text. A voice assistant \
listens for a question, transcribes it, asks a language model for an answer and reads the answer aloud. \
Every stage has to be fast, because people notice a delay of more than a second. This passage is long \
enough to fill most of one thirty second window of the recognizer." && sox "$work/s.wav" -r 16000 -c 1 -b 16 "$audio"
fi
secs=$(soxi -D "$audio")

# best_of N CMD...: run N times; print "ms tokens rss_kib" of the fastest
# run. The command prints "ms tokens" (transcription time, tokens in the
# result's segments) on the last line of stdout.
best_of() {
  local n=$1 best="" best_rss=""
  shift
  for _ in $(seq "$n"); do
    /usr/bin/time -f "%M" -o "$work/time.txt" "$@" > "$work/out.txt" 2> "$work/err.txt" || { echo "- - -"; return; }
    local r rss
    r=$(tail -1 "$work/out.txt"); rss=$(tail -1 "$work/time.txt")
    if [ -z "$best" ] || awk "BEGIN{exit !(${r% *} < ${best% *})}"; then best=$r; best_rss=$rss; fi
  done
  echo "$best $best_rss"
}
vox() { # model: transcription ms and tokens of voxfit (from its JSON)
  "$VOXFIT" transcribe --stt "$1" --threads 2 --no-fallback --json --tokens "$audio" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);
      console.log(j.timings.total_ms.toFixed(1), j.segments.reduce((a,g)=>a+g.tokens.length,0))})'
}
vox_x64() { VOXFIT_GGML_BACKEND_DIR=$x64 vox "$1"; }
orc() {
  "$oracle" "$addon" "$1" full "$audio" threads=2 fa=1 temp_inc=0 |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);
      console.log(j.ms.toFixed(1), j.segments.reduce((a,g)=>a+g.tokens.length,0))})'
}
cli() { # whisper-cli's own timings (load excluded), tokens from its full JSON
  "$WHISPER_CPP_CLI" -m "$1" -f "$audio" -t 2 -nf -bo 1 -bs 1 -ojf -of "$work/cli" 2>&1 >/dev/null |
    awk '/(mel|sample|encode|decode|batchd|prompt) time/ {for (i=1;i<=NF;i++) if ($i=="=") {s+=$(i+1)}} END {printf "%.1f ", s}'
  node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));
    console.log(j.transcription.reduce((a,g)=>a+g.tokens.length,0))' "$work/cli.json"
}
export -f vox vox_x64 orc cli
export VOXFIT audio oracle addon x64 WHISPER_CPP_CLI work

rows=""
for m in $models; do
  f=$work/$m.bin
  [ -f "$f" ] || "$VOXFIT" dev mkmodel --like "whisper-$m" -o "$f" > /dev/null || continue
  row() { # label "ms tokens rss"
    local ms tok rss
    read -r ms tok rss <<< "$2"
    if [ "$ms" = "-" ]; then rows+="| $m | $1 | failed | | | |"$'\n'; return; fi
    rows+=$(awk -v m="$m" -v l="$1" -v ms="$ms" -v t="$tok" -v rss="$rss" -v s="$secs" \
      'BEGIN { printf "| %s | %s | %.2f | %.3f | %d | %.0f |", m, l, ms / 1000, ms / 1000 / s, t, rss / 1024 }')$'\n'
  }
  echo "== $m" >&2
  row "voxfit (best kernels for this CPU)" "$(best_of "$runs" bash -c 'vox "$0"' "$f")"
  row "voxfit (ggml baseline x86-64 kernels)" "$(best_of 1 bash -c 'vox_x64 "$0"' "$f")"
  [ -x "$oracle" ] && row "whisper.cpp 1.9.3, registry build (baseline x86-64)" "$(best_of 1 bash -c 'orc "$0"' "$f")"
  [ -n "${WHISPER_CPP_CLI:-}" ] && [ -x "$WHISPER_CPP_CLI" ] &&
    row "whisper.cpp $(git -C "$(dirname "$WHISPER_CPP_CLI")" log -1 --format=%h 2>/dev/null || echo native), built here (-march=native)" \
      "$(best_of "$runs" bash -c 'cli "$0"' "$f")"
done

md=$work/whisper.md
{
  echo "Command: \`make bench\` (bench/whisper_rtf.sh). Random-weight models at the real shapes"
  echo "(\`voxfit dev mkmodel --like whisper-tiny\`, f16), $(printf '%.1f' "$secs") s of espeak-ng speech, 2 threads, greedy"
  echo "decoding without temperature fallback, flash attention on (both engines' default). Time = the"
  echo "transcription call (mel + encoder + decoder; model load excluded), best of $runs run(s) (baseline-ISA"
  echo "engines: one run); RTF = time / audio length (lower is faster); tokens = tokens in the result's segments"
  echo "(the decoding work; random weights amplify kernel rounding, so engines on different kernels drift apart);"
  echo "peak = maximum resident set of the process. Machine:"
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, load average before"
  echo "the run $load_before, after it $(cut -d' ' -f1-3 /proc/loadavg) (on a shared machine other processes"
  echo "compete for the cores, and ggml's spinning thread barriers make 2-thread runs much slower then). $(date +%Y-%m-%d)."
  echo "The registry whisper.cpp is compiled without AVX and, in this build, computes on one thread"
  echo "whatever n_threads says; voxfit on ggml's baseline kernels shows the same ISA side by side."
  echo
  echo "| model | engine | time s | RTF | tokens | peak MiB |"
  echo "|---|---|---|---|---|---|"
  printf "%s" "$rows"
} > "$md"
cat "$md"
node -e '
  const fs = require("fs");
  const [doc, file] = process.argv.slice(1);
  let text = fs.existsSync(doc) ? fs.readFileSync(doc, "utf8") : "# Benchmarks\n";
  const body = "## Whisper\n\n" + fs.readFileSync(file, "utf8").trim() + "\n";
  const re = /## Whisper\n[\s\S]*?(?=\n## |$)/;
  text = re.test(text) ? text.replace(re, body) : text.trimEnd() + "\n\n" + body;
  fs.writeFileSync(doc, text);
' "$here/docs/BENCHMARKS.md" "$md"
