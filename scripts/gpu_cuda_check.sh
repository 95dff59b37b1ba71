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
#  3. voxfit serve's LLM on CUDA against the CPU (greedy chat completion);
#  4. the guide's stack on a 16 GB card: a PyTorch process holds all of the
#     GPU but 15.47 GiB, voxfit plans an 8B Q4_K_M LLM + distil-small.en
#     Whisper into what is left, serves them in one process under load (four
#     conversations, two transcriptions) and NVML shows what it really holds;
#  5. the planner's llama.cpp buffers against the ones llama.cpp allocates on
#     CUDA (voxfit measure).
set -u
. "$(dirname "$0")/gpu_hold.sh"
# the system's curl, not linked against the carried Debian libcurl
curl() { LD_LIBRARY_PATH= command curl "$@"; }
OUT=${OUT:-gpu-cuda}
WAVS=${WAVS:-build/wavs}
mkdir -p "$OUT"
L=$PWD/build/deps/llama/lib
# the CUDA runtime, cuBLAS and NCCL libraries the builds need (13 for the
# primary and local ones, 12 for the fallback), wherever pip or a toolkit put them
extra=$(find / -xdev \( -name 'libcudart.so.1[23]' -o -name 'libcublas.so.1[23]' -o -name 'libcublasLt.so.1[23]' \
        -o -name 'libnccl.so.2' \) -printf '%h\n' 2>/dev/null | sort -u | paste -sd: -)
echo "CUDA libraries in: ${extra:-none}" | tee "$OUT/env.txt"
export LD_LIBRARY_PATH="$L:$PWD/build/devlibs${extra:+:$extra}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VOXFIT_GGML_BACKEND_DIR=$L
# the CUDA builds carried, in the order voxfit tries them (cuda-local: one
# built from the same llama.cpp release for this GPU)
dirs=""
for d in cuda cuda-fallback cuda-local; do [ -e "$L/$d/libggml-cuda.so" ] && dirs="$dirs${dirs:+:}$L/$d"; done
export VOXFIT_CUDA_DIRS=$dirs
V=build/voxfit
T=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee -a "$OUT/env.txt"

echo "== 1. CUDA builds" | tee "$OUT/probe.txt"
for d in cuda cuda-fallback cuda-local; do
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

echo "== 3. serve: the LLM on CUDA against the CPU" | tee "$OUT/serve.txt"
$V dev mkmodel --like Qwen/Qwen3-0.6B --type Q8_0 -o "$T/q.gguf" >/dev/null 2>&1 || echo "mkmodel llm failed" | tee -a "$OUT/serve.txt"
serve_up() { # port args... -> pid in $pid, waits for /health
  local port=$1; shift
  VOXFIT_LOG_LEVEL=info $V serve --port "$port" "$@" &
  pid=$!
  for i in $(seq 240); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0; sleep 0.5; done
  return 1
}
chat() { # port max_tokens -> response on stdout
  local model
  model=$(curl -s "http://127.0.0.1:$1/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
  curl -s "http://127.0.0.1:$1/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"'"$model"'","temperature":0,"max_tokens":'"$2"',"messages":[{"role":"user","content":"Say something."}]}'
}
for dev in gpu cpu; do
  port=$((18400 + RANDOM % 500))
  serve_up $port --device $dev --llm "$T/q.gguf" --stt none --tts none --sessions 1 --ctx 4096 > "$OUT/serve-$dev.log" 2>&1 ||
    echo "$dev: serve did not become ready" | tee -a "$OUT/serve.txt"
  chat $port 32 > "$OUT/chat-$dev.json"
  kill $pid; wait $pid 2>/dev/null
  echo "$dev: $(head -c 300 "$OUT/chat-$dev.json")" | tee -a "$OUT/serve.txt"
done
python3 - "$OUT" <<'PY' | tee -a "$OUT/serve.txt"
import json, sys
o = sys.argv[1]
def content(f):
    try: return json.load(open(f))["choices"][0]["message"]["content"]
    except Exception as e: return None
g, c = content(f"{o}/chat-gpu.json"), content(f"{o}/chat-cpu.json")
if g is None or c is None: print("chat failed on", "GPU" if g is None else "CPU")
else:
    n = 0
    while n < min(len(g), len(c)) and g[n] == c[n]: n += 1
    print(f"chat GPU vs CPU: same text {g == c}, identical prefix {n} of {len(g)}/{len(c)} characters")
PY

echo "== 4. the guide's stack on a 16 GB card (the H100 less what a holder takes)" | tee "$OUT/card16.txt"
$V dev mkmodel --like Qwen/Qwen3-8B --type Q4_K_M --weights zeros -o "$T/q8b.gguf" >/dev/null 2>&1 || echo "mkmodel 8B failed" | tee -a "$OUT/card16.txt"
$V dev mkmodel --like whisper-distil-small.en -o "$T/ds.bin" >/dev/null 2>&1 || echo "mkmodel distil-small.en failed" | tee -a "$OUT/card16.txt"
hold_gpu 240
$V gpu | tee -a "$OUT/card16.txt"
$V plan --llm "$T/q8b.gguf" --stt "$T/ds.bin" --tts none --sessions 4 --explain > "$OUT/card16-plan.txt" 2>&1
$V plan --llm "$T/q8b.gguf" --stt "$T/ds.bin" --tts none --sessions 4 --json > "$OUT/card16-plan.json" 2>&1
cat "$OUT/card16-plan.txt" | tee -a "$OUT/card16.txt"
port=$((18900 + RANDOM % 500))
serve_up $port --llm "$T/q8b.gguf" --stt "$T/ds.bin" --tts none --sessions 4 > "$OUT/card16-serve.log" 2>&1 ||
  echo "serve did not become ready" | tee -a "$OUT/card16.txt"
# load: four conversations at once and two transcriptions
w=$(ls "$WAVS"/*.wav | tail -1)
load=""
for i in 1 2 3 4; do chat $port 64 > "$OUT/card16-chat$i.json" & load="$load $!"; done
for i in 1 2; do
  curl -s "http://127.0.0.1:$port/v1/audio/transcriptions" -F file=@"$w" -F model=whisper-1 > "$OUT/card16-stt$i.json" &
  load="$load $!"
done
wait $load
sleep 1
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader | tee "$OUT/card16-apps.csv" | tee -a "$OUT/card16.txt"
nvidia-smi --query-gpu=memory.total,memory.used,memory.free --format=csv | tee -a "$OUT/card16.txt"
$V gpu | tee -a "$OUT/card16.txt"
curl -s "http://127.0.0.1:$port/health" | tee -a "$OUT/card16.txt"; echo
kill $pid; wait $pid 2>/dev/null
kill $holder 2>/dev/null; wait $holder 2>/dev/null
python3 - "$OUT" "$pid" <<'PY' | tee -a "$OUT/card16.txt"
import json, sys, csv
o, pid = sys.argv[1], sys.argv[2]
ok = [f for f in range(1, 5) if '"choices"' in open(f"{o}/card16-chat{f}.json").read()]
st = [f for f in range(1, 3) if '"text"' in open(f"{o}/card16-stt{f}.json").read()]
print(f"chats answered: {len(ok)}/4, transcriptions: {len(st)}/2")
p = json.load(open(f"{o}/card16-plan.json"))
print("plan: fits", p["fits"], "total %.1f MiB" % (p["total_bytes"] / 2**20),
      [(c["role"], round(c["total_bytes"] / 2**20, 1)) for c in p["components"] if c.get("placement") == "gpu"])
for row in csv.reader(open(f"{o}/card16-apps.csv")):
    if row and row[0].strip() == pid: print("voxfit serve used (NVML):", row[1].strip())
PY
grep -iE "error|out of memory|failed" "$OUT/card16-serve.log" | head -5 | tee -a "$OUT/card16.txt"

echo "== 5. plan vs measure on CUDA (buffers llama.cpp really allocates)" | tee "$OUT/pvm.txt"
$V dev mkmodel --like meta-llama/Llama-3.2-1B-Instruct --type Q4_K_M --weights zeros -o "$T/l1b.gguf" >/dev/null 2>&1
for m in q.gguf l1b.gguf; do
  for cfg in "4096 on" "32768 on" "8192 off"; do
    set -- $cfg
    $V measure --llm "$T/$m" --ctx $1 -fa $2 --json > "$T/m.json" 2>/dev/null
    $V plan --llm "$T/$m" --stt none --tts none --llm-args "-c $1 -np 1 -fa $2 -ngl 99" --json > "$T/p.json" 2>/dev/null
    python3 - "$T/p.json" "$T/m.json" "$m ctx $1 fa $2" <<'PY' | tee -a "$OUT/pvm.txt"
import json, sys
try:
    p = json.load(open(sys.argv[1]))["components"][0]; m = json.load(open(sys.argv[2]))["components"][0]
except Exception as e:
    print(sys.argv[3], "no result:", e); sys.exit()
cells = []
for k in ("weights_bytes", "kv_bytes", "compute_bytes"):
    e = abs(p[k] - m[k]) / max(1, m[k]) * 100
    cells.append(f"{k[:-6]} {p[k]/2**20:.2f}/{m[k]/2**20:.2f} MiB ({e:.2f}%)")
print(sys.argv[3], m.get("placement"), "; ".join(cells))
PY
  done
done
rm -rf "$T"
