#!/usr/bin/env bash
# voice_bench.sh - `make bench` piece: voice-to-voice latency of the voice
# loop. Starts `voxfit serve` with the tiny random-weight LLM, the tiny.en
# Whisper and espeak-ng on this machine's CPU, runs VOICE_TURNS (default 50)
# scripted spoken turns through /v1/realtime (tests/integration/voice/bench.js)
# and replaces the "## Voice loop" section of docs/BENCHMARKS.md.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VOXFIT=${VOXFIT:-$here/build/voxfit}
W=${VF_TMP:-$here/build/bench-tmp}/voice
N=${VOICE_TURNS:-50}
mkdir -p "$W"
vdir="$here/tests/integration/voice"
[ -d "$vdir/node_modules/ws" ] || (cd "$vdir" && npm install --no-audit --no-fund --silent >/dev/null) || { echo "voice bench: npm install failed"; exit 1; }
"$VOXFIT" dev mkmodel --like tiny -o "$W/tiny.gguf" >/dev/null || exit 1
if [ -n "${VF_VOICE_WHISPER:-}" ]; then cp "$VF_VOICE_WHISPER" "$W/whisper.bin"
elif ! "$VOXFIT" dev mkmodel --like whisper-tiny.en -o "$W/whisper.bin" >/dev/null 2>&1; then
  echo "voice bench: skipped (no Whisper model generator: voxfit dev mkmodel --like whisper-tiny.en)"; exit 0
fi
load=$(cut -d' ' -f1 /proc/loadavg)
raws=()
i=0
for text in "What is the weather like today?" "Set a timer for ten minutes." "Tell me a joke about computers." \
            "How far away is the moon?" "Play some music please."; do
  espeak-ng -w "$W/u$i.wav" "$text" && sox "$W/u$i.wav" -r 24000 -e signed -b 16 -c 1 -t raw "$W/u$i.raw" || exit 1
  raws+=("$W/u$i.raw"); i=$((i + 1))
done
port=$(( 20000 + (RANDOM + $$) % 40000 ))
"$VOXFIT" serve --port $port --device cpu --llm "$W/tiny.gguf" --stt "$W/whisper.bin" --voice-max-tokens 32 > "$W/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 1 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ] && break
  kill -0 $pid 2>/dev/null || { cat "$W/serve.log"; exit 1; }
  sleep 0.1
done
node "$vdir/bench.js" $port "$N" "$W/turns.json" "${raws[@]}" > "$W/table.md" || exit 1
cat "$W/table.md"
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
{
  echo "Command: \`make bench\` (bench/voice_bench.sh; \`VOICE_TURNS=N\` to change the count). $N spoken turns"
  echo "through \`/v1/realtime\` on one session: five espeak-ng utterances in turn, each followed by 1 s of"
  echo "silence and sent faster than real time; \`voxfit serve --device cpu\` with the tiny random-weight LLM"
  echo "(\`voxfit dev mkmodel --like tiny\`, replies capped at 32 tokens), the random-weight tiny.en Whisper and"
  echo "espeak-ng, on $(nproc) cores of $cpu. Stages come from the server's per-turn"
  echo "\`response.voxfit_timings\`; the overhead is the endpoint-to-first-audio time minus the four compute"
  echo "stages. Random weights make STT and the LLM write nonsense of realistic length, so their times are those"
  echo "of the real models' shapes, not of real speech. Measured $(date -u +%Y-%m-%d), load average before the"
  echo "run $load (other jobs on the machine lengthen the tails)."
  echo
  cat "$W/table.md"
} > "$W/section.md"
node -e '
  const fs = require("fs");
  const [doc, file] = process.argv.slice(1);
  let text = fs.existsSync(doc) ? fs.readFileSync(doc, "utf8") : "# voxfit benchmarks\n";
  const body = "## Voice loop\n\n" + fs.readFileSync(file, "utf8").trim() + "\n";
  const re = /## Voice loop\n[\s\S]*?(?=\n## |$)/;
  text = re.test(text) ? text.replace(re, body) : text.trimEnd() + "\n\n" + body;
  fs.writeFileSync(doc, text);
' "$here/docs/BENCHMARKS.md" "$W/section.md"
echo "updated the Voice loop section of docs/BENCHMARKS.md"
