#!/usr/bin/env bash
# voxfit serve --role: one stage alone, as `voxfit up` and the emitted
# compose file run the embedded engines. An STT-only server answers
# transcriptions and has no LLM (empty /v1/models, chat gets 404); an
# LLM-only server has no speech endpoints' engines.
set -u
. "$(dirname "$0")/lib.sh"
"$VOXFIT" dev mkmodel --like whisper-tiny.en -o "$T/w.bin" || fail "mkmodel whisper"
"$VOXFIT" dev mkmodel --like tiny -o "$T/tiny.gguf" || fail "mkmodel tiny"
espeak-ng -w "$T/hi.wav" "hello there" || fail "espeak-ng"
port=$((20000 + RANDOM % 20000))
"$VOXFIT" serve --role stt --stt "$T/w.bin" --port $port > "$T/stt.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/v1/models" | grep -q '"data":\[\]' || fail "stt role lists a model"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"model":"x","messages":[{"role":"user","content":"hi"}]}' "http://127.0.0.1:$port/v1/chat/completions")
[ "$code" = 404 ] || fail "chat on an stt-only server gave $code"
curl -sf -F file=@"$T/hi.wav" -F model=whisper-1 "http://127.0.0.1:$port/v1/audio/transcriptions" \
  | grep -q '"text"' || fail "transcription failed"
kill $pid; wait $pid 2>/dev/null
"$VOXFIT" serve --role llm --llm "$T/tiny.gguf" --stt "$T/w.bin" --port $port --device cpu > "$T/llm.log" 2>&1 &
pid=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/v1/models" | grep -q tiny || fail "llm role lists no model"
grep -q "stt none" "$T/llm.log" || fail "llm role still loaded speech-to-text"
pass
