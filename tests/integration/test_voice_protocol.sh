#!/usr/bin/env bash
# test_voice_protocol.sh - the realtime websocket with a real client (`ws`):
# a full spoken turn through the embedded STT, LLM and TTS, cancel,
# malformed events and wrong audio sizes; plus the REST audio endpoints
# with curl (WAV, raw PCM, FLAC, Ogg, response formats, errors).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/voice/common.sh"
npm_clients
if ! make_models; then echo "SKIP: no Whisper model generator yet (voxfit dev mkmodel --like whisper-tiny.en)"; pass; fi
start_server A --llm "$T/tiny.gguf" --stt "$T/whisper.bin" --voice-max-tokens 40 --max-body 32MiB
U="http://127.0.0.1:$PORT_A"

speech_wav "$T/q.wav" "What is the weather like today?" 0.5 1.5
sox "$T/q.wav" -r 24000 -e signed -b 16 -c 1 -t raw "$T/q24.raw" || fail "sox raw"
node "$VDIR/protocol.js" "$PORT_A" "$T/q24.raw" || fail "realtime protocol checks"

# ---- REST: /v1/audio/transcriptions (a short file keeps the random model quick) ----
speech_wav "$T/q.wav" "Hello." 0.2 0.3
export D=$(soxi -D "$T/q.wav")
sox "$T/q.wav" -r 24000 -e signed -b 16 -c 1 -t raw "$T/q24.raw" || fail "sox raw"
code=$(curl -s -o "$T/t.json" -w '%{http_code}' "$U/v1/audio/transcriptions" -F file=@"$T/q.wav" -F model=whisper-1)
expect_code 200 "$code"; [ "$(json_get "$T/t.json" 'typeof j.text')" = string ] || fail "json has text"
code=$(curl -s -o "$T/t.txt" -w '%{http_code}' -D "$T/h.txt" "$U/v1/audio/transcriptions" -F file=@"$T/q.wav" -F response_format=text)
expect_code 200 "$code"; grep -qi '^content-type: text/plain' "$T/h.txt" || fail "text response type"
code=$(curl -s -o "$T/v.json" -w '%{http_code}' "$U/v1/audio/transcriptions" -F file=@"$T/q.wav" -F response_format=verbose_json)
expect_code 200 "$code"
[ "$(json_get "$T/v.json" 'j.task + " " + (Math.abs(j.duration - process.env.D) < 0.05) + " " + Array.isArray(j.segments)')" = "transcribe true true" ] || fail "verbose_json: $(cat "$T/v.json" | head -c 300)"
sox "$T/q.wav" -r 16000 -e signed -b 16 -c 1 -t raw "$T/q16.raw"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/audio/transcriptions" -F "file=@$T/q16.raw;type=audio/pcm")
expect_code 200 "$code"
code=$(curl -s -o "$T/r24.json" -w '%{http_code}' "$U/v1/audio/transcriptions" -F "file=@$T/q24.raw;filename=a.pcm" -F sample_rate=24000 -F response_format=verbose_json)
expect_code 200 "$code"
[ "$(json_get "$T/r24.json" 'Math.abs(j.duration - process.env.D) < 0.05')" = true ] || fail "raw 24 kHz duration: $(cat "$T/r24.json" | head -c 200)"
for fmt in flac ogg; do
  sox "$T/q.wav" -r 44100 -c 2 "$T/q.$fmt" || fail "sox $fmt"
  code=$(curl -s -o "$T/f.json" -w '%{http_code}' "$U/v1/audio/transcriptions" -F file=@"$T/q.$fmt" -F response_format=verbose_json)
  expect_code 200 "$code"
  [ "$(json_get "$T/f.json" 'Math.abs(j.duration - process.env.D) < 0.05')" = true ] || fail "$fmt decode: $(head -c 200 "$T/f.json")"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: audio/wav' --data-binary @"$T/q.wav" "$U/v1/audio/transcriptions")
expect_code 200 "$code"
# errors in OpenAI's shape
printf 'not audio at all' > "$T/junk.wav"
code=$(curl -s -o "$T/e.json" -w '%{http_code}' "$U/v1/audio/transcriptions" -F file=@"$T/junk.wav")
expect_code 400 "$code"; [ "$(json_get "$T/e.json" 'j.error.type')" = invalid_request_error ] || fail "error shape"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/audio/transcriptions" -F model=x)
expect_code 400 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/audio/transcriptions" -F file=@"$T/q.wav" -F response_format=srt)
expect_code 400 "$code"
printf 'abc' > "$T/odd.pcm"
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/audio/transcriptions" -F "file=@$T/odd.pcm;type=audio/pcm")
expect_code 400 "$code"

# ---- REST: /v1/audio/speech ----
code=$(curl -s -o "$T/s.wav" -w '%{http_code}' "$U/v1/audio/speech" -H 'Content-Type: application/json' \
  -d '{"model":"tts-1","input":"Hello from the speech endpoint.","voice":"alloy","response_format":"wav"}')
expect_code 200 "$code"
[ "$(soxi -r "$T/s.wav")" = 24000 ] || fail "speech wav rate"
d1=$(soxi -D "$T/s.wav")
code=$(curl -s -o "$T/s2.wav" -w '%{http_code}' "$U/v1/audio/speech" -H 'Content-Type: application/json' \
  -d '{"input":"Hello from the speech endpoint.","voice":"en-gb","speed":2.0}')
expect_code 200 "$code"
d2=$(soxi -D "$T/s2.wav")
node -e "process.exit($d2 < $d1 * 0.75 ? 0 : 1)" || fail "speed 2.0 is not faster ($d1 s vs $d2 s)"
code=$(curl -s -o "$T/s.pcm" -w '%{http_code}' "$U/v1/audio/speech" -H 'Content-Type: application/json' \
  -d '{"input":"Raw samples.","response_format":"pcm"}')
expect_code 200 "$code"
[ $(( $(stat -c %s "$T/s.pcm") % 2 )) = 0 ] && [ "$(stat -c %s "$T/s.pcm")" -gt 10000 ] || fail "pcm size"
for body in '{"input":""}' '{"voice":"alloy"}' '{"input":"x","speed":9}' '{"input":"x","response_format":"mp3"}' 'nope'; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/audio/speech" -H 'Content-Type: application/json' -d "$body")
  expect_code 400 "$code"
done
code=$(curl -s -o "$T/st.json" -w '%{http_code}' "$U/v1/voice/status")
expect_code 200 "$code"; [ "$(json_get "$T/st.json" 'j.engines.stt.engine')" = whisper ] || fail "status"
finish
