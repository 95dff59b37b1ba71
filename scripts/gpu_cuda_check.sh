#!/usr/bin/env bash
# Runs the embedded engines on a real NVIDIA GPU, from the repo root of a GPU
# machine with build/voxfit, build/deps/llama/lib (with its cuda/ and
# cuda-fallback/ folders) and the program's shared libraries (build/devlibs)
# carried along, and speech WAVs in $WAVS (espeak-ng may not be installed
# there). Writes what it finds under $OUT (default ./gpu-cuda):
#  1. which CUDA build of ggml runs here (voxfit dev cuda-probe, and the
#     choice vf_llama_rt_init makes);
#  2. the embedded Whisper on CUDA against the CPU on the same model files
#     and audio (token sequences, text, time) at tiny.en, base, small and
#     large-v3-turbo shapes;
#  3. voxfit serve with an LLM and Whisper in one process on the GPU: a chat
#     completion (greedy) against the same on the CPU, a transcription, and
#     the process's GPU memory (NVML) against the plan's total for it.
set -u
OUT=${OUT:-gpu-cuda}
WAVS=${WAVS:-build/wavs}
mkdir -p "$OUT"
L=$PWD/build/deps/llama/lib
# the CUDA 12 runtime and cuBLAS the fallback build needs, wherever pip or a
# toolkit put them
extra=$(find / -xdev \( -name 'libcudart.so.12' -o -name 'libcublas.so.12' -o -name 'libcublasLt.so.12' \) \
        -printf '%h\n' 2>/dev/null | sort -u | paste -sd: -)
echo "CUDA 12 libraries in: ${extra:-none}" | tee "$OUT/env.txt"
export LD_LIBRARY_PATH="$L:$PWD/build/devlibs${extra:+:$extra}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VOXFIT_GGML_BACKEND_DIR=$L
V=build/voxfit
T=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee -a "$OUT/env.txt"

echo "== 1. CUDA builds" | tee "$OUT/probe.txt"
for d in cuda cuda-fallback; do
  [ -e "$L/$d/libggml-cuda.so" ] || { echo "$d: not carried" | tee -a "$OUT/probe.txt"; continue; }
  s=$(date +%s%N); $V dev cuda-probe "$L/$d" 2>&1 | tail -3 | tee -a "$OUT/probe.txt"
  echo "$d: rc ${PIPESTATUS[0]}, $(( ($(date +%s%N) - s) / 1000000 )) ms" | tee -a "$OUT/probe.txt"
done
# the choice vf_llama_rt_init makes, and a model's buffers on the device it chose
$V dev mkmodel --like tiny -o "$T/tiny.gguf" >/dev/null 2>&1
VOXFIT_LOG_LEVEL=info $V measure --llm "$T/tiny.gguf" 2>&1 | tee -a "$OUT/probe.txt"

echo "== 2. Whisper CUDA vs CPU" | tee "$OUT/whisper.txt"
for m in ${MODELS:-tiny.en base small large-v3-turbo}; do
  $V dev mkmodel --like whisper-$m -o "$T/$m.bin" >/dev/null 2>&1 || { echo "mkmodel $m failed"; continue; }
  for w in "$WAVS"/*.wav; do
    b=$(basename "$w" .wav)
    for dev in cpu gpu; do
      flag=""; [ $dev = cpu ] && flag="--no-gpu -t $(nproc)"
      s=$(date +%s%N)
      VOXFIT_LOG_LEVEL=info timeout 180 $V transcribe --stt "$T/$m.bin" $flag --no-fallback --json --tokens "$w" \
        > "$OUT/w-$m-$b-$dev.json" 2> "$OUT/w-$m-$b-$dev.err"
      echo "$m $b $dev rc $? wall $(( ($(date +%s%N) - s) / 1000000 )) ms" | tee -a "$OUT/whisper.txt"
    done
    python3 - "$OUT/w-$m-$b-gpu.json" "$OUT/w-$m-$b-cpu.json" <<'PY' | tee -a "$OUT/whisper.txt"
import json, sys
def load(f):
    try: j = json.load(open(f))
    except Exception as e: return None, str(e)
    return j, None
g, eg = load(sys.argv[1]); c, ec = load(sys.argv[2])
if g is None or c is None: print("  no result:", eg or ec); sys.exit()
tg = [t[0] for s in g["segments"] for t in s["tokens"]]
tc = [t[0] for s in c["segments"] for t in s["tokens"]]
i = 0
while i < min(len(tg), len(tc)) and tg[i] == tc[i]: i += 1
print(f"  tokens gpu {len(tg)} cpu {len(tc)}, identical prefix {i}, same sequence {tg == tc}, same text {g['text'] == c['text']}")
for k in ("timings",):
    if k in g: print("  gpu timings", json.dumps(g[k])); print("  cpu timings", json.dumps(c.get(k)))
PY
  done
done

echo "== 3. serve: LLM + Whisper in one process" | tee "$OUT/serve.txt"
$V dev mkmodel --like Qwen/Qwen3-0.6B --type Q8_0 -o "$T/q.gguf" >/dev/null 2>&1 || echo "mkmodel llm failed" | tee -a "$OUT/serve.txt"
[ -e "$T/base.bin" ] || $V dev mkmodel --like whisper-base -o "$T/base.bin" >/dev/null 2>&1
$V plan --llm "$T/q.gguf" --stt "$T/base.bin" --tts none --json > "$OUT/plan.json" 2> "$OUT/plan.err"
$V plan --llm "$T/q.gguf" --stt "$T/base.bin" --tts none --explain > "$OUT/plan.txt" 2>&1
w=$(ls "$WAVS"/*.wav | head -1)
for dev in gpu cpu; do
  port=$((18400 + RANDOM % 500))
  VOXFIT_LOG_LEVEL=info $V serve --device $dev --llm "$T/q.gguf" --stt "$T/base.bin" --tts none --port $port \
    > "$OUT/serve-$dev.log" 2>&1 &
  pid=$!
  for i in $(seq 120); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.5; done
  model=$(curl -s "http://127.0.0.1:$port/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
  curl -s "http://127.0.0.1:$port/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"'"$model"'","temperature":0,"max_tokens":48,"messages":[{"role":"user","content":"Say something."}]}' \
    > "$OUT/chat-$dev.json"
  curl -s "http://127.0.0.1:$port/v1/audio/transcriptions" -F file=@"$w" -F model=whisper-1 > "$OUT/stt-$dev.json"
  if [ $dev = gpu ]; then
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv | tee "$OUT/apps.csv"
    $V gpu --json > "$OUT/gpu.json" 2>&1
    $V gpu > "$OUT/gpu.txt" 2>&1
  fi
  curl -s "http://127.0.0.1:$port/metrics" > "$OUT/metrics-$dev.txt"
  kill $pid; wait $pid 2>/dev/null
  echo "$dev: chat $(head -c 400 "$OUT/chat-$dev.json")" | tee -a "$OUT/serve.txt"
  echo "$dev: stt $(head -c 300 "$OUT/stt-$dev.json")" | tee -a "$OUT/serve.txt"
done
python3 - "$OUT" <<'PY' | tee -a "$OUT/serve.txt"
import json, sys, csv, os
o = sys.argv[1]
def content(f):
    try: return json.load(open(f))["choices"][0]["message"]["content"]
    except Exception as e: return f"<{e}>"
g, c = content(f"{o}/chat-gpu.json"), content(f"{o}/chat-cpu.json")
if g.startswith("<") or c.startswith("<"): print("chat failed:", g[:200], c[:200])
n = 0
while n < min(len(g), len(c)) and g[n] == c[n]: n += 1
print(f"chat GPU vs CPU: same text {g == c}, identical prefix {n} of {len(g)}/{len(c)} chars")
try:
    p = json.load(open(f"{o}/plan.json"))
    print("plan total for the process:", p["total_bytes"] / 2**20, "MiB;", [(x["role"], x["total_bytes"] / 2**20) for x in p["components"]])
except Exception as e: print("plan:", e)
try:
    rows = list(csv.reader(open(f"{o}/apps.csv")))[1:]
    print("NVML used by processes:", rows)
except Exception as e: print("apps:", e)
PY
rm -rf "$T"
