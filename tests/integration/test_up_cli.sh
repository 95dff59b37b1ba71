#!/usr/bin/env bash
# voxfit up with real child processes: tests/fakenvml's fake engine stands
# in for llama-server, faster-whisper, Kokoro-FastAPI and voxfit serve (it
# serves /health and /v1/models and takes memory on purpose), and the fake
# libnvidia-ml.so.1 plays a 16 GiB GPU whose per-process memory is what the
# engines declare. Shown: the planned order and the memory check; an engine
# over its plan, out of memory at start or while running, never ready,
# failing to start, crashing; the fallback ladder in order; SIGTERM and
# SIGKILL leaving no process behind; plan files; the CPU path (resident
# memory); usage errors.
set -u
. "$(dirname "$0")/lib.sh"
FAKES="$(dirname "$VOXFIT")/tests/fakenvml"
FE="$FAKES/vf_fake_engine"
[ -x "$FE" ] || fail "fake engine not built: $FE"
export VOXFIT_CACHE="$T/cache" FAKE_ENGINE_PIDS="$T/pids"
export VOXFIT_NVML_LIB="$FAKES/libnvidia-ml.so.1" FAKE_NVML_DIR="$T/nvml" FAKE_NVML_DEVICES=1
export FAKE_NVML_TOTAL=$((16 * 1024 * 1024 * 1024 + 503316480))   # a 16 GiB card as CUDA sees it
mkdir -p "$T/pids" "$T/nvml"
V=""
trap '[ -n "$V" ] && kill -TERM $V 2>/dev/null' EXIT   # a failed check never leaves a stack running
GUIDE=(--llm Qwen/Qwen3-8B-GGUF:Q4_K_M --stt large-v3 --stt-engine faster-whisper --tts kokoro-82m)
up() { "$VOXFIT" up --port-base 0 --settle 200 --stop-timeout 2 --json "$@"; }
bg() { exec "$VOXFIT" up --port-base 0 --settle 200 --stop-timeout 2 --json "$@"; }   # with &: $! is voxfit
no_orphans() {
  for _ in $(seq 200); do
    local left=""
    for f in "$T"/pids/*; do [ -e "$f" ] || continue; p=$(basename "$f"); kill -0 "$p" 2>/dev/null && left="$left $p"; done
    [ -z "$left" ] && return 0
    sleep 0.05
  done
  ps -o pid,pgid,args -p ${left// /,} >&2; fail "processes outlived voxfit up:$left ($1)"
}
# events FILE EXPR: a JS expression over the list of events e (the JSON lines)
events() { node -e "const e=require('fs').readFileSync(process.argv[1],'utf8').trim().split('\n').filter(Boolean).map(JSON.parse);console.log($2)" "$1"; }
wait_for() { for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; fail "timed out waiting for $2 in $1"; }

out=$("$VOXFIT" up --help); expect_code 0 $?
for f in --plan --engine-cmd --ready-timeout --max-fallbacks --once --json --llm --stt --ctx; do
  echo "$out" | grep -q -- "$f" || fail "up --help lacks $f"; done

# --- the guide's stack on a 16 GiB GPU: largest first, each checked by NVML per process
up "${GUIDE[@]}" --once --engine-cmd llama.cpp="$FE --fake-mem 0.9x" \
   --engine-cmd faster-whisper="$FE --fake-mem 0.95x" --engine-cmd kokoro="$FE --fake-mem 20MiB" > "$T/a.jsonl" 2> "$T/a.txt"
expect_code 0 $?
[ "$(events "$T/a.jsonl" 'e.filter(x => x.event === "start").map(x => x.role).join(",")')" = "llm,stt,tts" ] \
  || fail "start order: $(cat "$T/a.txt")"
[ "$(events "$T/a.jsonl" 'e.filter(x => x.event === "ready" && x.role !== "tts").every(x => x.measured === "nvml" && x.ok && Math.abs(x.took_bytes / x.planned_bytes - (x.role === "llm" ? 0.9 : 0.95)) < 0.01)')" = true ] \
  || fail "NVML per-process checks: $(grep ready "$T/a.jsonl")"
[ "$(events "$T/a.jsonl" 'e.find(x => x.event === "running").engines.length + ":" + e[e.length-1].exit_code')" = "3:0" ] \
  || fail "not all running"
grep -q "\[llm\] ready in .* took .* (GPU, NVML per process) of .* planned: ok" "$T/a.txt" || fail "text report: $(cat "$T/a.txt")"
grep -q -- "-c [0-9]* -np 1 -ngl 999" "$T/a.txt" || fail "planned llama-server flags not passed"
grep -q "WHISPER__MODEL=Systran/faster-whisper-large-v3" "$T/a.txt" || fail "faster-whisper model not passed"
no_orphans "--once"

# --- the LLM takes more than planned: shorter context, re-planned, then it fits
up "${GUIDE[@]}" --once --engine-cmd llama.cpp="$FE --fake-mem 0.9x --fake-over-ctx 16384" \
   --engine-cmd faster-whisper="$FE --fake-mem 0.9x" --engine-cmd kokoro="$FE" > "$T/b.jsonl" 2> "$T/b.txt"
expect_code 0 $?
[ "$(events "$T/b.jsonl" 'e.filter(x => x.event === "failed").map(x => x.role + ":" + x.reason).join()')" = "llm:over" ] \
  || fail "over-plan not reported: $(cat "$T/b.txt")"
[ "$(events "$T/b.jsonl" 'e.filter(x => x.event === "fallback")[0].kind')" = "shorter context" ] || fail "first fallback"
ctx=$(events "$T/b.jsonl" 'e.filter(x => x.event === "start" && x.role === "llm").pop().command.match(/ -c (\d+)/)[1]')
[ "$ctx" -le 16384 ] || fail "the LLM restarted with -c $ctx"
grep -q "over its plan: took .* planned .* over the plan" "$T/b.txt" || fail "over-plan text: $(cat "$T/b.txt")"
no_orphans "over"

# --- Whisper runs out of memory at start: the ladder goes down in quality order to a smaller Whisper
up "${GUIDE[@]}" --ctx 16384 --once --engine-cmd llama.cpp="$FE --fake-mem 0.9x" \
   --engine-cmd faster-whisper="$FE --fake-mem 0.9x --fake-oom-model faster-whisper-large-v3" \
   --engine-cmd kokoro="$FE" > "$T/c.jsonl" 2> "$T/c.txt"
expect_code 0 $?
kinds=$(events "$T/c.jsonl" 'e.filter(x => x.event === "fallback").map(x => x.kind).join(",")')
case "$kinds" in
  "shorter context,"*"lower KV precision,smaller Whisper") ;;
  *) fail "ladder order: $kinds" ;;
esac
[ "$(events "$T/c.jsonl" 'e.filter(x => x.event === "failed").every(x => x.role === "stt" && x.reason === "oom")')" = true ] || fail "oom reasons"
events "$T/c.jsonl" 'e.filter(x => x.event === "start" && x.role === "stt").pop().command' | grep -q "faster-whisper-large-v3-turbo" \
  || fail "not restarted with the smaller Whisper"
grep -q "CUDA error: out of memory" "$T/c.txt" || fail "the engine's own error is not shown"
no_orphans "oom"

# --- never ready: bounded wait, then stopped, exit 1
up "${GUIDE[@]}" --ready-timeout 1 --once --engine-cmd llama.cpp="$FE --fake-never-ready" > "$T/d.jsonl" 2> "$T/d.txt"
expect_code 1 $?
[ "$(events "$T/d.jsonl" 'e.find(x => x.event === "failed").reason')" = timeout ] || fail "timeout: $(cat "$T/d.txt")"
grep -q "not ready after 1 s" "$T/d.txt" || fail "timeout text"
no_orphans "timeout"

# --- fails to start: its exit code and output; a missing binary
up "${GUIDE[@]}" --once --engine-cmd llama.cpp="$FE --fake-exit 3" > "$T/e.jsonl" 2> "$T/e.txt"; expect_code 1 $?
[ "$(events "$T/e.jsonl" 'e.find(x => x.event === "failed").reason + ":" + e.find(x => x.event === "failed").exit_code')" = "exit:3" ] \
  || fail "exit 3: $(cat "$T/e.txt")"
grep -q "unrecognized arguments" "$T/e.txt" || fail "the engine's output is not shown"
up "${GUIDE[@]}" --once --engine-cmd llama.cpp="/nonexistent/llama-server" > "$T/f.jsonl" 2> "$T/f.txt"; expect_code 1 $?
grep -q "cannot run '/nonexistent/llama-server'.*--engine-cmd llama.cpp=" "$T/f.txt" || fail "missing binary: $(cat "$T/f.txt")"
no_orphans "start failures"

# --- crashes while running: restarted (with what started after it); then SIGTERM stops all
rm -f "$T/crashed"
bg "${GUIDE[@]}" --engine-cmd llama.cpp="$FE --fake-mem 0.9x --fake-child" \
   --engine-cmd faster-whisper="$FE --fake-mem 0.9x --fake-crash-ms 300 --fake-once $T/crashed" \
   --engine-cmd kokoro="$FE" > "$T/g.jsonl" 2> "$T/g.txt" & V=$!
wait_for "$T/g.jsonl" '"event":"restart"'
for _ in $(seq 400); do [ "$(grep -c '"event":"running"' "$T/g.jsonl")" -ge 2 ] && break; sleep 0.05; done
[ "$(grep -c '"event":"running"' "$T/g.jsonl")" -ge 2 ] || fail "not running again after the crash: $(cat "$T/g.txt")"
kill -TERM $V; wait $V; expect_code 0 $?
grep -q "died after .* killed by signal 6" "$T/g.txt" || fail "crash not reported: $(cat "$T/g.txt")"
[ "$(events "$T/g.jsonl" 'e[e.length-1].event + ":" + e[e.length-1].reason')" = "done:signal" ] || fail "no clean stop"
no_orphans "SIGTERM"

# --- out of memory while running: the ladder, then running again
rm -f "$T/crashed"
bg "${GUIDE[@]}" --engine-cmd llama.cpp="$FE --fake-mem 0.9x --fake-crash-oom-ms 300 --fake-once $T/crashed" \
   --engine-cmd faster-whisper="$FE --fake-mem 0.9x" --engine-cmd kokoro="$FE" > "$T/h.jsonl" 2> "$T/h.txt" & V=$!
wait_for "$T/h.jsonl" '"event":"fallback"'
for _ in $(seq 400); do [ "$(grep -c '"event":"running"' "$T/h.jsonl")" -ge 2 ] && break; sleep 0.05; done
kill -INT $V; wait $V; expect_code 0 $?
[ "$(events "$T/h.jsonl" 'e.filter(x => x.event === "exited").map(x => x.role + ":" + x.reason).join()')" = "llm:oom" ] \
  || fail "OOM while running: $(cat "$T/h.txt")"
[ "$(grep -c '"event":"running"' "$T/h.jsonl")" -ge 2 ] || fail "not running after the fallback: $(cat "$T/h.txt")"
no_orphans "SIGINT"

# --- voxfit killed outright: the guards stop every engine, their workers and a stubborn one
bg "${GUIDE[@]}" --engine-cmd llama.cpp="$FE --fake-mem 0.9x --fake-child" \
   --engine-cmd faster-whisper="$FE --fake-mem 0.9x --fake-ignore-term" --engine-cmd kokoro="$FE --fake-child" \
   > "$T/k.jsonl" 2> "$T/k.txt" & V=$!
wait_for "$T/k.jsonl" '"event":"running"'
[ "$(ls "$T/pids" | wc -l)" -ge 5 ] || fail "engines and workers not all recorded"
kill -KILL $V; wait $V 2>/dev/null
no_orphans "SIGKILL of voxfit"

# --- SIGTERM while an engine is still loading: exit 1, nothing left
bg "${GUIDE[@]}" --engine-cmd llama.cpp="$FE --fake-never-ready" > "$T/s.jsonl" 2> "$T/s.txt" & V=$!
wait_for "$T/s.jsonl" '"event":"start"'
sleep 0.3; kill -TERM $V; wait $V; expect_code 1 $?
no_orphans "SIGTERM during start"

# --- a plan file: the same flags as voxfit plan, started as planned
"$VOXFIT" plan --vram 16GiB "${GUIDE[@]}" --llm-args "-c 8192" --json > "$T/plan.json"; expect_code 0 $?
flags=$("$VOXFIT" plan --vram 16GiB "${GUIDE[@]}" --llm-args "-c 8192" --emit llama.cpp | sed 's/.*--port 8000 //')
out=$("$VOXFIT" up --plan "$T/plan.json" --dry-run --port-base 9000 2>&1); expect_code 0 $?
echo "$out" | grep -qF -- "--port 9000 $flags" || fail "--plan flags differ from plan --emit: $out / $flags"
up --plan "$T/plan.json" --once --engine-cmd llama.cpp="$FE --fake-mem 0.9x" \
   --engine-cmd faster-whisper="$FE --fake-mem 0.9x" --engine-cmd kokoro="$FE" > "$T/p.jsonl" 2> "$T/p.txt"
expect_code 0 $?
events "$T/p.jsonl" 'e.find(x => x.event === "start").command' | grep -q -- "-c 8192" || fail "--plan: context not as planned"

# --- the plan does not fit at all: fallbacks before anything starts, bounded
up --vram 4GiB --llm Qwen/Qwen3-32B-GGUF:Q8_0 --stt large-v3 --tts none --max-fallbacks 2 --once > "$T/n.jsonl" 2> "$T/n.txt"
expect_code 1 $?
grep -q "giving up after 2 fallbacks" "$T/n.txt" || fail "unbounded or silent: $(cat "$T/n.txt")"
[ "$(events "$T/n.jsonl" 'e.filter(x => x.event === "start").length')" = 0 ] || fail "started an engine that cannot fit"

# --- the CPU path: resident memory against a RAM plan; over the plan -> a smaller Whisper
unset VOXFIT_NVML_LIB
"$VOXFIT" dev mkmodel --like tiny -o "$T/tiny.gguf" > /dev/null || fail "mkmodel"
up --device cpu --llm "$T/tiny.gguf" --stt base.en --tts none --max-ctx 2048 --ctx 1024 --tolerance-min 8MiB --once \
   --engine-cmd llama.cpp="$FE --fake-mode rss --fake-mem 0.5x" \
   --engine-cmd voxfit="$FE --fake-mode rss --fake-mem 0.5x --fake-over-model ggml-base.en.bin" > "$T/r.jsonl" 2> "$T/r.txt"
expect_code 0 $?
[ "$(events "$T/r.jsonl" 'e.filter(x => x.event === "ready").every(x => x.measured === "rss")')" = true ] || fail "RSS not measured"
[ "$(events "$T/r.jsonl" 'e.filter(x => x.event === "fallback").map(x => x.kind).join()')" = "smaller Whisper" ] \
  || fail "CPU fallback: $(cat "$T/r.txt")"
events "$T/r.jsonl" 'e.filter(x => x.event === "start" && x.role === "stt").pop().command' | grep -q -- "--role stt .*--stt ggml-tiny.en.bin" \
  || fail "voxfit serve --role stt not given the smaller model"
no_orphans "cpu"

# --- usage errors
"$VOXFIT" up --engine-cmd warp=x --once 2>/dev/null; expect_code 2 $?
"$VOXFIT" up --plan "$T/plan.json" --llm x 2>/dev/null; expect_code 2 $?
"$VOXFIT" up --device cpu --llm Qwen/Qwen3-9B --once 2>/dev/null; expect_code 2 $?
"$VOXFIT" up --plan /nonexistent.json 2>/dev/null; expect_code 2 $?
pass
