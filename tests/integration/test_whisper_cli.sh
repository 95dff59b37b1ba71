#!/usr/bin/env bash
# The embedded Whisper from the command line: `voxfit dev mkmodel --like
# whisper-*` writes whisper.cpp files of any size; `voxfit transcribe`
# transcribes espeak-ng speech (16 kHz and resampled 22.05 kHz) to text and
# JSON; malformed, truncated and foreign model and audio files give clear
# errors and exit codes; `voxfit measure --stt` prints the real buffers in
# the plan's schema and `voxfit plan --stt FILE` agrees with it within 2%.
set -u
. "$(dirname "$0")/lib.sh"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || { echo "SKIP: espeak-ng or sox missing"; pass; }
"$VOXFIT" transcribe --help >/dev/null 2>&1 || fail "voxfit has no transcribe command"

# ---- mkmodel ----
"$VOXFIT" dev mkmodel --like whisper-tiny.en -o "$T/tiny.en.bin" || fail "mkmodel tiny.en"
size=$(stat -c %s "$T/tiny.en.bin")
[ "$size" -gt 77000000 ] && [ "$size" -lt 78500000 ] || fail "tiny.en is $size bytes"
"$VOXFIT" dev mkmodel --like whisper-tiny --type q5_1 -o "$T/tiny-q5_1.bin" || fail "mkmodel q5_1"
"$VOXFIT" dev mkmodel --like whisper-huge -o "$T/x.bin" 2> "$T/err"; expect_code 2 $?
grep -q "unknown Whisper size" "$T/err" || fail "unknown size message: $(cat "$T/err")"
"$VOXFIT" dev mkmodel --like whisper-tiny --type q9_9 -o "$T/x.bin" 2> "$T/err"; expect_code 2 $?

# ---- speech ----
espeak-ng -w "$T/s22.wav" "Hello world. Please turn on the lights in the kitchen." || fail espeak
sox "$T/s22.wav" -r 16000 -c 1 -b 16 "$T/s16.wav" || fail sox
"$VOXFIT" transcribe --stt "$T/tiny.en.bin" --no-fallback --json "$T/s16.wav" > "$T/a.json" || fail "transcribe"
[ "$(json_get "$T/a.json" 'j.language')" = en ] || fail "language"
[ "$(json_get "$T/a.json" 'j.segments.length > 0 && j.segments.every(s => s.t1_ms >= 0 && typeof s.text === "string")')" = true ] ||
  fail "segments: $(cat "$T/a.json")"
[ "$(json_get "$T/a.json" 'j.timings.windows >= 1 && j.timings.encode_ms > 0')" = true ] || fail "timings"
# 22.05 kHz input is resampled; the quantized model runs; beam search
"$VOXFIT" transcribe --stt "$T/tiny-q5_1.bin" --beam 3 --no-fallback --language en "$T/s22.wav" > "$T/b.txt" ||
  fail "transcribe q5_1 at 22.05 kHz"
grep -q -- "-->" "$T/b.txt" || fail "plain output: $(cat "$T/b.txt")"
# the default decoding (temperature fallback) with tokens in the JSON
"$VOXFIT" transcribe --stt "$T/tiny.en.bin" --json --tokens "$T/s16.wav" > "$T/c.json" || fail "transcribe with fallback"
[ "$(json_get "$T/c.json" 'j.segments.every(s => s.tokens.length > 0)')" = true ] || fail "tokens"

# ---- errors ----
"$VOXFIT" transcribe "$T/s16.wav" 2> "$T/err"; expect_code 2 $?
"$VOXFIT" transcribe --stt "$T/tiny.en.bin" "$T/missing.wav" 2> "$T/err"; expect_code 1 $?
echo "not audio" > "$T/text.wav"
"$VOXFIT" transcribe --stt "$T/tiny.en.bin" "$T/text.wav" 2> "$T/err"; expect_code 2 $?
head -c 300000 "$T/tiny.en.bin" > "$T/cut.bin"
"$VOXFIT" transcribe --stt "$T/cut.bin" "$T/s16.wav" 2> "$T/err"; expect_code 2 $?
grep -q "truncated" "$T/err" || fail "truncated model message: $(cat "$T/err")"
printf 'GGUF\003\000\000\000' > "$T/x.gguf"
"$VOXFIT" transcribe --stt "$T/x.gguf" "$T/s16.wav" 2> "$T/err"; expect_code 2 $?
grep -q "GGUF" "$T/err" || fail "GGUF message: $(cat "$T/err")"
"$VOXFIT" transcribe --stt "$T/tiny.en.bin" --language xx "$T/s16.wav" 2> "$T/err"; expect_code 2 $?
grep -q "unknown language" "$T/err" || fail "language message: $(cat "$T/err")"
"$VOXFIT" transcribe --stt "$T/tiny.en.bin" --beam 9 "$T/s16.wav" 2> "$T/err"; expect_code 2 $?

# ---- measure and plan ----
"$VOXFIT" transcribe --stt "$T/tiny.en.bin" --dump-mel "$T/m.mel" --duration-ms 100 "$T/s16.wav" > /dev/null || fail "dump-mel"
n=$(soxi -s "$T/s16.wav")
[ "$(stat -c %s "$T/m.mel")" -eq $((12 + 4 * 80 * ((n + 480000) / 160))) ] || fail "mel dump size"
"$VOXFIT" measure --stt "$T/tiny.en.bin" --json > "$T/m.json" || fail "measure --stt"
[ "$(json_get "$T/m.json" 'j.components[0].role')" = stt ] || fail "measure role"
[ "$(json_get "$T/m.json" 'j.buffers.reduce((a, b) => a + b.bytes, 0) === j.components[0].total_bytes + j.components[0].host_bytes')" = true ] ||
  fail "measure totals: $(cat "$T/m.json")"
"$VOXFIT" measure --stt "$T/tiny.en.bin" > /dev/null || fail "measure table"
"$VOXFIT" plan --device cpu --llm none --tts none --stt "$T/tiny.en.bin" --json > "$T/p.json" || fail "plan --stt"
node -e '
  const fs = require("fs");
  const p = JSON.parse(fs.readFileSync(process.argv[1])).components.find(c => c.role === "stt");
  const m = JSON.parse(fs.readFileSync(process.argv[2])).components[0];
  for (const k of ["weights_bytes", "kv_bytes", "compute_bytes", "total_bytes"]) {
    const e = Math.abs(p[k] - m[k]) / Math.max(1, m[k]);
    console.log(`${k}: plan ${p[k]} measured ${m[k]} (${(100 * e).toFixed(2)} %)`);
    if (e > 0.02) process.exit(1);
  }' "$T/p.json" "$T/m.json" || fail "plan and measure differ by more than 2%"
pass
