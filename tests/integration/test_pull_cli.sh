#!/usr/bin/env bash
# voxfit pull against a local fake of the Hugging Face Hub (tests/fakenvml/
# fake_hub.c, loopback only) serving generated files: every format's file
# choice, pagination, ranges after a dropped connection, corrupt bytes,
# 5xx errors, gated repositories and where the token goes, an interrupted
# download resumed, a hostile file list, no network, the offline cache,
# --list, --json, --auto and --plan.
set -u
. "$(dirname "$0")/lib.sh"
HUB="$(dirname "$VOXFIT")/tests/fakenvml/vf_fake_hub"
[ -x "$HUB" ] || fail "fake hub not built: $HUB"
R="$T/root"
mk() { mkdir -p "$(dirname "$R/$1")"; head -c "$2" /dev/urandom > "$R/$1"; }
mk Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf 3000000
mk Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q4_K_M.gguf 1200000
echo "# Qwen3-0.6B GGUF" > "$R/Qwen/Qwen3-0.6B-GGUF/README.md"
mk ggerganov/whisper.cpp/ggml-tiny.en.bin 600000
mk ggerganov/whisper.cpp/ggml-base.en.bin 900000
mk Systran/faster-whisper-tiny.en/model.bin 700000
echo '{"alignment_heads": []}' > "$R/Systran/faster-whisper-tiny.en/config.json"
echo '{"model": {}}' > "$R/Systran/faster-whisper-tiny.en/tokenizer.json"
printf 'a\nb\n' > "$R/Systran/faster-whisper-tiny.en/vocabulary.txt"
echo readme > "$R/Systran/faster-whisper-tiny.en/README.md"
mk Qwen/Qwen3-0.6B/model-00001-of-00002.safetensors 400000
mk Qwen/Qwen3-0.6B/model-00002-of-00002.safetensors 300000
for f in config.json tokenizer.json tokenizer_config.json generation_config.json model.safetensors.index.json; do
  echo "{\"name\": \"$f\"}" > "$R/Qwen/Qwen3-0.6B/$f"; done
echo license > "$R/Qwen/Qwen3-0.6B/LICENSE"
mk hexgrad/Kokoro-82M/kokoro-v1_0.pth 500000
echo '{"vocab": {}}' > "$R/hexgrad/Kokoro-82M/config.json"
mk hexgrad/Kokoro-82M/voices/af_heart.pt 5000
mk hexgrad/Kokoro-82M/voices/bf_emma.pt 5000

HP=""
hub() {  # start the hub with the given fault options
  [ -n "$HP" ] && { kill $HP 2>/dev/null; wait $HP 2>/dev/null; }
  rm -f "$T/port" "$T/hub.log"
  "$HUB" --root "$R" --port-file "$T/port" --log "$T/hub.log" "$@" & HP=$!
  for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
  export HF_ENDPOINT="http://127.0.0.1:$(cat "$T/port")"
}
trap '[ -n "$HP" ] && kill $HP 2>/dev/null' EXIT
C="$T/cache"
pull() { "$VOXFIT" pull --cache-dir "$C" --retry-wait 0 "$@"; }
same() { cmp -s "$R/$1" "$2" || fail "$2 differs from the hub's $1"; }
D() { echo "$C/hub/$1/main"; }

# --- every format, pagination (2 entries a page), --list
hub --page 2
pull Qwen/Qwen3-0.6B-GGUF:Q8_0 tiny.en > "$T/o1" 2> "$T/e1"; expect_code 0 $?
same Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf "$(D Qwen--Qwen3-0.6B-GGUF)/Qwen3-0.6B-Q8_0.gguf"
[ -e "$(D Qwen--Qwen3-0.6B-GGUF)/Qwen3-0.6B-Q4_K_M.gguf" ] && fail "pulled a quantization not asked for"
same ggerganov/whisper.cpp/ggml-tiny.en.bin "$(D ggerganov--whisper.cpp)/ggml-tiny.en.bin"
grep -q "cursor=2" "$T/hub.log" || fail "the second page of the file list was not fetched"
grep -q "sha256 verified" "$T/o1" || fail "no sha256 check reported"
pull tiny.en --engine faster-whisper > /dev/null 2>&1; expect_code 0 $?
for f in model.bin config.json tokenizer.json vocabulary.txt; do
  same "Systran/faster-whisper-tiny.en/$f" "$(D Systran--faster-whisper-tiny.en)/$f"; done
[ -e "$(D Systran--faster-whisper-tiny.en)/README.md" ] && fail "CT2: README pulled"
pull Qwen/Qwen3-0.6B --engine vllm > /dev/null 2>&1; expect_code 0 $?
for f in model-00001-of-00002.safetensors model-00002-of-00002.safetensors config.json tokenizer.json \
         model.safetensors.index.json; do same "Qwen/Qwen3-0.6B/$f" "$(D Qwen--Qwen3-0.6B)/$f"; done
[ -e "$(D Qwen--Qwen3-0.6B)/LICENSE" ] && fail "safetensors: LICENSE pulled"
pull kokoro-82m espeak > "$T/o2" 2>&1; expect_code 0 $?
same hexgrad/Kokoro-82M/voices/af_heart.pt "$(D hexgrad--Kokoro-82M)/voices/af_heart.pt"
[ -e "$(D hexgrad--Kokoro-82M)/voices/bf_emma.pt" ] && fail "kokoro: a voice not asked for"
grep -q "espeak: nothing to download" "$T/o2" || fail "espeak should need nothing"
out=$("$VOXFIT" pull --list --cache-dir "$C"); expect_code 0 $?
for m in "Qwen/Qwen3-0.6B-GGUF:Q8_0" tiny.en kokoro-82m "Qwen/Qwen3-0.6B "; do
  echo "$out" | grep -F -- "$m" | grep -q complete || fail "--list: $m not complete: $out"; done
"$VOXFIT" pull --list --json --cache-dir "$C" > "$T/l.json"; expect_code 0 $?
[ "$(json_get "$T/l.json" 'j.models.length + ":" + j.models.every(m => m.status === "complete")')" = "5:true" ] \
  || fail "--list --json: $(cat "$T/l.json")"
# a second pull downloads nothing
: > "$T/hub.log"
pull Qwen/Qwen3-0.6B-GGUF:Q8_0 > "$T/o3" 2>&1; expect_code 0 $?
grep -q "up to date" "$T/o3" || fail "second pull not up to date"
grep -q "/resolve/\|/cdn/" "$T/hub.log" && fail "second pull downloaded again"

# --- the connection drops half-way, twice: resumed with ranges
rm -rf "$C"; hub --drop-after 1000000 --drop-count 2
pull Qwen/Qwen3-0.6B-GGUF:Q8_0 > "$T/o4" 2> "$T/e4"; expect_code 0 $?
same Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf "$(D Qwen--Qwen3-0.6B-GGUF)/Qwen3-0.6B-Q8_0.gguf"
grep -q "range=bytes=1000000-" "$T/hub.log" || fail "no resume from byte 1000000: $(cat "$T/hub.log")"
grep -q "range=bytes=2000000-" "$T/hub.log" || fail "no second resume"
grep -q "retry 1/5" "$T/e4" || fail "retries not reported"
ls "$(D Qwen--Qwen3-0.6B-GGUF)"/*.part 2>/dev/null && fail ".part left behind"

# --- corrupt bytes: discarded and fetched again; always corrupt: fails, nothing kept
rm -rf "$C"; hub --corrupt-count 1
pull tiny.en > /dev/null 2> "$T/e5"; expect_code 0 $?
grep -q "checksum mismatch" "$T/e5" || fail "corruption not reported: $(cat "$T/e5")"
same ggerganov/whisper.cpp/ggml-tiny.en.bin "$(D ggerganov--whisper.cpp)/ggml-tiny.en.bin"
rm -rf "$C"; hub --corrupt-count 100
pull tiny.en --retries 2 > /dev/null 2> "$T/e6"; expect_code 1 $?
grep -q "gave up after 3 attempts" "$T/e6" || fail "endless corruption: $(cat "$T/e6")"
[ -e "$(D ggerganov--whisper.cpp)/ggml-tiny.en.bin" ] && fail "a corrupt file was kept under its name"
# a small (non-LFS) file is checked by its git blob id
rm -rf "$C"; hub --corrupt-count 1
pull tiny.en --engine faster-whisper > /dev/null 2> "$T/e7"; expect_code 0 $?
grep -q "git blob id" "$T/e7" || grep -q "sha256" "$T/e7" || fail "no checksum message: $(cat "$T/e7")"

# --- server errors: retried; errors that persist: exit 1
rm -rf "$C"; hub --error 503 --error-count 2
pull tiny.en > /dev/null 2>&1; expect_code 0 $?
hub --error 500 --error-count 100
rm -rf "$C"; pull tiny.en --retries 1 > /dev/null 2> "$T/e8"; expect_code 1 $?
grep -q "HTTP 500" "$T/e8" || fail "500 not reported: $(cat "$T/e8")"
hub --tree-error 404
pull tiny.en > /dev/null 2> "$T/e9"; expect_code 1 $?
grep -q "not found" "$T/e9" || fail "404 not reported: $(cat "$T/e9")"
hub
pull someone/not-there --retries 0 > /dev/null 2> "$T/e10"; expect_code 1 $?
grep -q "not found" "$T/e10" || fail "missing repository: $(cat "$T/e10")"
pull qwen3-9b > /dev/null 2> "$T/e11"; expect_code 2 $?
grep -q "unknown" "$T/e11" || fail "unknown model: $(cat "$T/e11")"

# --- a gated repository: HF_TOKEN goes to the hub, not to the CDN it redirects to
rm -rf "$C"; hub --token sekrit
HF_TOKEN= pull tiny.en > /dev/null 2> "$T/e12"; expect_code 1 $?
grep -q "HF_TOKEN" "$T/e12" || fail "401 does not mention HF_TOKEN: $(cat "$T/e12")"
: > "$T/hub.log"
HF_TOKEN=sekrit pull tiny.en > /dev/null 2>&1; expect_code 0 $?
grep "^GET /api/" "$T/hub.log" | grep -q "auth=no" && fail "API call without the token"
grep "^GET /cdn/" "$T/hub.log" | grep -q "auth=yes" && fail "the token was sent to the CDN host"
grep -q "^GET /cdn/" "$T/hub.log" || fail "no CDN request"

# --- interrupted (Ctrl-C) and resumed later with a range
rm -rf "$C"; hub --slow-ms 30
"$VOXFIT" pull --cache-dir "$C" Qwen/Qwen3-0.6B-GGUF:Q8_0 > /dev/null 2> "$T/e13" & P=$!
part="$(D Qwen--Qwen3-0.6B-GGUF)/Qwen3-0.6B-Q8_0.gguf.part"
for _ in $(seq 200); do [ -f "$part" ] && [ "$(stat -c %s "$part")" -gt 300000 ] && break; sleep 0.02; done
kill -INT $P; wait $P; expect_code 1 $?
grep -q "interrupted" "$T/e13" || fail "interruption not reported: $(cat "$T/e13")"
kept=$(stat -c %s "$part") || fail "the .part was not kept"
[ "$kept" -gt 0 ] || fail "nothing kept"
hub
pull Qwen/Qwen3-0.6B-GGUF:Q8_0 > /dev/null 2>&1; expect_code 0 $?
grep -q "range=bytes=$kept-" "$T/hub.log" || fail "not resumed at $kept: $(cat "$T/hub.log")"
same Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf "$(D Qwen--Qwen3-0.6B-GGUF)/Qwen3-0.6B-Q8_0.gguf"
# a server that ignores ranges: the file is started over, still right
rm -f "$(D Qwen--Qwen3-0.6B-GGUF)/Qwen3-0.6B-Q8_0.gguf"
head -c 100000 "$R/Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf" > "$part"
hub --no-range
pull Qwen/Qwen3-0.6B-GGUF:Q8_0 > /dev/null 2>&1; expect_code 0 $?
same Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf "$(D Qwen--Qwen3-0.6B-GGUF)/Qwen3-0.6B-Q8_0.gguf"

# --- a hostile file list; a list whose checksums never match
rm -rf "$C"; hub --bad-tree
pull tiny.en > /dev/null 2> "$T/e14"; expect_code 1 $?
grep -q "unsafe file name" "$T/e14" || fail "traversal not refused: $(cat "$T/e14")"
[ -e "$C/hub/ggerganov--whisper.cpp/escape.bin" ] || [ -e "$C/hub/escape.bin" ] && fail "wrote outside"
hub --wrong-sha
pull tiny.en --retries 1 > /dev/null 2> "$T/e15"; expect_code 1 $?
grep -q "metadata disagree" "$T/e15" || fail "wrong sha256 not caught: $(cat "$T/e15")"
[ -e "$(D ggerganov--whisper.cpp)/ggml-tiny.en.bin" ] && fail "a file with the wrong checksum was kept"

# --- a file put into the cache by hand is verified, not downloaded
rm -rf "$C"; hub
mkdir -p "$(D ggerganov--whisper.cpp)"
cp "$R/ggerganov/whisper.cpp/ggml-base.en.bin" "$(D ggerganov--whisper.cpp)/"
: > "$T/hub.log"
pull base.en > "$T/o16" 2>&1; expect_code 0 $?
grep -q "up to date" "$T/o16" || fail "hand-placed file not accepted"
grep -q "/cdn/" "$T/hub.log" && fail "hand-placed file downloaded again"

# --- no network: what is missing and how to use local files; offline cache
kill $HP; wait $HP 2>/dev/null; HP=""
HF_ENDPOINT=http://127.0.0.1:9 pull Qwen/Qwen3-0.6B-GGUF:Q4_K_M tiny.en base.en --retries 0 > "$T/e17" 2>&1; expect_code 1 $?
grep -q "needs a file named like \*Q4_K_M\*.gguf from http://127.0.0.1:9/Qwen/Qwen3-0.6B-GGUF" "$T/e17" \
  || fail "no-network message lacks what is missing: $(cat "$T/e17")"
grep -q -- "--llm /path/to/model.gguf" "$T/e17" || fail "no-network message lacks the local-file hint"
grep -q "base.en: cached at" "$T/e17" || fail "cached model not recognised without network: $(cat "$T/e17")"
HF_HUB_OFFLINE=1 pull base.en > /dev/null 2>&1; expect_code 0 $?
HF_HUB_OFFLINE=1 pull tiny.en > /dev/null 2>&1; expect_code 1 $?

# --- --json, --dry-run, --auto (plan flags), --plan FILE
hub
pull tiny.en --json > "$T/p.json" 2>/dev/null; expect_code 0 $?
[ "$(json_get "$T/p.json" 'j[0].status + ":" + /ggml-tiny.en.bin$/.test(j[0].path)')" = "ok:true" ] || fail "--json: $(cat "$T/p.json")"
rm -rf "$C"
out=$(pull Qwen/Qwen3-0.6B-GGUF:Q4_K_M --dry-run 2>&1); expect_code 0 $?
echo "$out" | grep -q "would download 1 file" || fail "--dry-run: $out"
[ -e "$C/hub" ] && fail "--dry-run wrote to the cache"
pull --auto --device cpu --llm Qwen/Qwen3-0.6B-GGUF:Q8_0 --stt tiny.en --tts espeak > "$T/o18" 2>&1; expect_code 0 $?
[ -f "$(D Qwen--Qwen3-0.6B-GGUF)/Qwen3-0.6B-Q8_0.gguf" ] && [ -f "$(D ggerganov--whisper.cpp)/ggml-tiny.en.bin" ] \
  || fail "--auto did not pull the plan's models: $(cat "$T/o18")"
"$VOXFIT" plan --vram 16GiB --llm Qwen/Qwen3-0.6B-GGUF:Q4_K_M --stt tiny.en --stt-engine faster-whisper --tts none --json > "$T/plan.json"
pull --plan "$T/plan.json" > /dev/null 2>&1; expect_code 0 $?
[ -f "$(D Qwen--Qwen3-0.6B-GGUF)/Qwen3-0.6B-Q4_K_M.gguf" ] && [ -f "$(D Systran--faster-whisper-tiny.en)/model.bin" ] \
  || fail "--plan did not pull the plan's models"
pass
