# common.sh - shared set-up of the voice integration tests (sourced after
# tests/integration/lib.sh): the npm clients, the tiny models, speech WAVs
# made with espeak-ng, and voxfit servers on free loopback ports that are
# stopped when the test exits.
VDIR="$VF_SRC/tests/integration/voice"
PIDS=()
cleanup_servers() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done; }
trap cleanup_servers EXIT

# finish: stop the servers (SIGTERM: graceful shutdown, everything freed)
# and fail on any sanitizer report in their logs (make asan), then pass.
finish() {
  cleanup_servers; PIDS=()
  if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$T"/*.log 2>/dev/null; then
    grep -h -A30 "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$T"/*.log | head -80 >&2
    fail "sanitizer report in a server log"
  fi
  pass
}

# The ws and playwright-core clients (package.json next to this file).
npm_clients() {
  # CTest runs the voice tests in parallel: one npm install at a time
  ( flock 9
    if [ ! -d "$VDIR/node_modules/ws" ] || [ ! -d "$VDIR/node_modules/playwright-core" ]; then
      cd "$VDIR" && npm install --no-audit --no-fund --silent >/dev/null 2>&1
    fi ) 9>"$VDIR/.npm.lock" || fail "npm install in $VDIR failed"
}

# Tiny random-weight models: $T/tiny.gguf and $T/whisper.bin (or the file
# in VF_VOICE_WHISPER). Returns 1 when no Whisper model can be made.
make_models() {
  [ -f "$T/tiny.gguf" ] || "$VOXFIT" dev mkmodel --like tiny -o "$T/tiny.gguf" >/dev/null || fail "mkmodel tiny"
  if [ -n "${VF_VOICE_WHISPER:-}" ]; then cp "$VF_VOICE_WHISPER" "$T/whisper.bin"; return 0; fi
  [ -f "$T/whisper.bin" ] && return 0
  "$VOXFIT" dev mkmodel --like whisper-tiny.en -o "$T/whisper.bin" >/dev/null 2>&1 || return 1
}

# speech_wav OUT "text" [lead_s] [tail_s]: 16-bit mono WAV with silence around.
speech_wav() {
  local out=$1 text=$2 lead=${3:-1} tail=${4:-3}
  espeak-ng -w "$T/.sp.wav" "$text" || fail "espeak-ng"
  sox -n -r 22050 -c 1 -b 16 "$T/.lead.wav" trim 0 "$lead"
  sox -n -r 22050 -c 1 -b 16 "$T/.tail.wav" trim 0 "$tail"
  sox "$T/.lead.wav" "$T/.sp.wav" "$T/.tail.wav" "$out" || fail "sox"
}

# start_server NAME ARGS...: runs `voxfit serve` on a free port; sets
# PORT_<NAME> and waits until /health answers 200 (60 s at most).
start_server() {
  local name=$1; shift
  local port pid i
  for i in 1 2 3 4 5 6; do
    port=$(( 20000 + (RANDOM * 7 + $$ + i * 131) % 40000 ))
    "$VOXFIT" serve --port "$port" --device cpu "$@" > "$T/$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ]; then
        PIDS+=("$pid"); eval "PORT_$name=$port"; return 0
      fi
      sleep 0.1
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    grep -q "cannot listen" "$T/$name.log" || { cat "$T/$name.log" >&2; fail "server $name did not start"; }
  done
  fail "no free port for $name"
}
