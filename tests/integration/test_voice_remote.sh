#!/usr/bin/env bash
# test_voice_remote.sh - the remote engines against a second voxfit: server
# A runs everything embedded (LLM, Whisper, espeak-ng); server B takes all
# three stages from A's OpenAI endpoints (--llm/--stt/--tts http://A/v1).
# B's transcription must equal A's (greedy decoding), its speech match A's
# in length and level, and a spoken realtime turn on B must complete.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/voice/common.sh"
npm_clients
if ! make_models; then echo "SKIP: no Whisper model generator yet (voxfit dev mkmodel --like whisper-tiny.en)"; pass; fi
start_server A --llm "$T/tiny.gguf" --stt "$T/whisper.bin" --voice-max-tokens 40
A="http://127.0.0.1:$PORT_A"
start_server B --llm "$A/v1" --stt "$A/v1" --stt-model whisper-tiny --tts "$A/v1" --tts-model espeak --voice-max-tokens 40
B="http://127.0.0.1:$PORT_B"

code=$(curl -s -o "$T/st.json" -w '%{http_code}' "$B/v1/voice/status"); expect_code 200 "$code"
[ "$(json_get "$T/st.json" 'j.engines.stt.engine + " " + j.engines.tts.engine')" = "remote remote" ] || fail "B's engines: $(cat "$T/st.json")"

speech_wav "$T/h.wav" "Hello there." 0.2 0.3
for s in A B; do
  u=$([ $s = A ] && echo "$A" || echo "$B")
  code=$(curl -s -o "$T/tr$s.json" -w '%{http_code}' "$u/v1/audio/transcriptions" -F file=@"$T/h.wav")
  expect_code 200 "$code"
  code=$(curl -s -o "$T/sp$s.pcm" -w '%{http_code}' "$u/v1/audio/speech" -H 'Content-Type: application/json' \
    -d '{"input":"The remote voice sounds the same.","voice":"alloy","speed":1.2,"response_format":"pcm"}')
  expect_code 200 "$code"
done
[ "$(json_get "$T/trA.json" j.text)" = "$(json_get "$T/trB.json" j.text)" ] || fail "remote STT differs: $(cat "$T/trA.json") vs $(cat "$T/trB.json")"
# espeak-ng's output length varies by a few samples from call to call, so
# compare durations and levels rather than bytes
a=$(stat -c %s "$T/spA.pcm"); b=$(stat -c %s "$T/spB.pcm")
node -e "process.exit(Math.abs($a - $b) < 0.05 * $a ? 0 : 1)" || fail "remote TTS length differs: $a vs $b bytes"
ra=$(sox -t raw -r 24000 -e signed -b 16 -c 1 "$T/spA.pcm" -n stat 2>&1 | awk '/RMS.*amplitude/{print $3}')
rb=$(sox -t raw -r 24000 -e signed -b 16 -c 1 "$T/spB.pcm" -n stat 2>&1 | awk '/RMS.*amplitude/{print $3}')
node -e "process.exit(Math.abs($ra - $rb) < 0.1 * $ra && $rb > 0.01 ? 0 : 1)" || fail "remote TTS level differs: RMS $ra vs $rb"
[ "$(stat -c %s "$T/spB.pcm")" -gt 20000 ] || fail "remote TTS audio too short"

speech_wav "$T/q.wav" "What is the weather like today?" 0.5 1.5
sox "$T/q.wav" -r 24000 -e signed -b 16 -c 1 -t raw "$T/q24.raw"
node "$VDIR/protocol.js" "$PORT_B" "$T/q24.raw" turn || fail "realtime turn on B with remote engines"
grep -q "POST /v1/audio/transcriptions 200" "$T/A.log" && grep -q "POST /v1/audio/speech 200" "$T/A.log" \
  && grep -q "POST /v1/chat/completions 200" "$T/A.log" || fail "B did not use A's endpoints"
finish
