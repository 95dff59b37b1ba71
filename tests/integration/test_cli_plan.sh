#!/usr/bin/env bash
# voxfit plan from the outside: --help lists every flag with its default,
# exit codes (0 fits, 1 does not fit / problems, 2 usage), the JSON schema,
# lenient GPU names, emitted flags and compose, the guide's compose audit,
# and clear errors for bad input. Uses node for JSON checks.
set -u
. "$(dirname "$0")/lib.sh"

# --- help and usage errors
out=$("$VOXFIT" plan --help); expect_code 0 $?
for f in --gpu --vram --device --llm --llm-engine --stt --stt-engine --tts --tts-device --llm-args \
         --stt-args --ctx --sessions --margin --kv-type --explain --json --emit --check; do
  echo "$out" | grep -q -- "$f" || fail "plan --help does not list $f"
done
echo "$out" | grep -q "default: 4096" || fail "plan --help does not show the --ctx default"
"$VOXFIT" --help >/dev/null; expect_code 0 $?
"$VOXFIT" frobnicate 2>/dev/null; expect_code 2 $?
"$VOXFIT" plan --gpu "RTX 9999" 2>/dev/null; expect_code 2 $?
"$VOXFIT" plan --vram 12 --gpu 4090 2>/dev/null; expect_code 2 $?
"$VOXFIT" plan --vram lots 2>/dev/null; expect_code 2 $?
"$VOXFIT" plan --ctx -5 2>/dev/null; expect_code 2 $?
err=$("$VOXFIT" plan --gpu 4090 --llm Qwen/Qwen3-9B 2>&1); expect_code 2 $?
echo "$err" | grep -q "did you mean" || fail "unknown model gives no suggestion: $err"

# --- lenient GPU names all find the same card
for name in "RTX 5070 Ti" 5070ti "NVIDIA GeForce RTX 5070 Ti" "rtx-5070-ti"; do
  "$VOXFIT" plan --gpu "$name" --llm Qwen/Qwen3-0.6B-GGUF:Q8_0 --stt tiny.en --json > "$T/p.json"
  expect_code 0 $?
  json_get "$T/p.json" 'j.device.name' | grep -q "RTX 5070 Ti" || fail "--gpu '$name' did not find the 5070 Ti"
done
"$VOXFIT" plan --gpu H100 --llm Qwen/Qwen3-0.6B-GGUF:Q8_0 --stt none --tts none --json > "$T/h.json"
[ "$(json_get "$T/h.json" 'j.device.total_bytes')" = 85017493504 ] || fail "H100 total is not the driver's figure"

# --- the JSON schema
"$VOXFIT" plan --vram 16GiB --llm Qwen/Qwen3-8B-GGUF:Q4_K_M --stt distil-small.en --json > "$T/p.json"
expect_code 0 $?
node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
const need = (o, ks, w) => ks.forEach(k => { if (!(k in o)) { console.error(w + " lacks " + k); process.exit(1); } });
need(j, ["device", "components", "total_bytes", "margin_bytes", "fits", "warnings", "errors"], "plan");
need(j.device, ["name", "kind", "total_bytes", "free_bytes"], "device");
if (j.device.total_bytes !== 16 * 2 ** 30) { console.error("16GiB is not 16 GiB"); process.exit(1); }
for (const c of j.components) {
  need(c, ["role", "model", "engine", "placement", "weights_bytes", "kv_bytes", "compute_bytes",
           "overhead_bytes", "total_bytes", "settings"], "component");
  if (c.weights_bytes + c.kv_bytes + c.compute_bytes + c.overhead_bytes !== c.total_bytes) {
    console.error("component total is not the sum of its terms"); process.exit(1); }
}
const llm = j.components.find(c => c.role === "llm");
need(llm.settings, ["n_gpu_layers", "n_ctx", "type_k", "type_v", "flash_attn", "n_batch", "n_ubatch"], "llama.cpp settings");
const stt = j.components.find(c => c.role === "stt");
need(stt.settings, ["model", "compute_type"], "whisper settings");
const sum = j.components.reduce((a, c) => a + c.total_bytes, 0);
if (sum !== j.total_bytes) { console.error("plan total is not the sum"); process.exit(1); }
' "$T/p.json" || fail "plan --json schema"

# --- the KV term of --explain for Qwen3-8B at 32768 context
out=$("$VOXFIT" plan --vram 24GiB --llm Qwen/Qwen3-8B-GGUF:Q4_K_M --stt none --tts none \
      --llm-args "-c 32768" --explain)
echo "$out" | grep -q "KV = 36 layers x 8 heads x 128 x 2 (K,V) x 2 B (f16) x 32768 = 4.50 GiB" \
  || fail "explain does not show the KV arithmetic: $out"

# --- does not fit: exit 1
"$VOXFIT" plan --vram 4GiB --llm Qwen/Qwen3-32B-GGUF:Q8_0 --stt none --tts none --llm-args "-ngl 99" >/dev/null
expect_code 1 $?

# --- a CPU plan
"$VOXFIT" plan --device cpu --llm Qwen/Qwen3-0.6B-GGUF:Q4_K_M --stt tiny.en --json > "$T/c.json"
[ "$(json_get "$T/c.json" 'j.device.kind')" = cpu ] || fail "--device cpu did not plan the CPU"

# --- emitters
out=$("$VOXFIT" plan --vram 16GiB --llm Qwen/Qwen3-8B-GGUF:Q4_K_M --stt none --tts none --emit llama.cpp)
expect_code 0 $?
echo "$out" | grep -q "^llama-server -hf Qwen/Qwen3-8B-GGUF:Q4_K_M .*-ngl 999" || fail "emit llama.cpp: $out"
"$VOXFIT" plan --vram 16GiB --llm Qwen/Qwen3-8B-GGUF:Q4_K_M --stt none --tts none --emit vllm 2>/dev/null
expect_code 1 $?
"$VOXFIT" plan --vram 16GiB --llm Qwen/Qwen3-8B-GGUF:Q4_K_M --stt distil-small.en --emit compose > "$T/dc.yml"
expect_code 0 $?
grep -q "condition: service_healthy" "$T/dc.yml" || fail "emitted compose has no start order"
# the emitted compose file reads back and audits clean
"$VOXFIT" plan --vram 16GiB --check "$T/dc.yml" > "$T/audit.txt"; expect_code 0 $?

# --- auditing broken compose input gives a clear error, not a crash
printf 'services: [oops\n' > "$T/bad.yml"
err=$("$VOXFIT" plan --gpu 4090 --check "$T/bad.yml" 2>&1); expect_code 2 $?
echo "$err" | grep -q "YAML error at line" || fail "bad YAML message: $err"
"$VOXFIT" plan --gpu 4090 --check /nonexistent.yml 2>/dev/null; expect_code 2 $?

pass
