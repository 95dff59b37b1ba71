#!/usr/bin/env bash
# The embedded Whisper on an NVIDIA GPU (label: needs a GPU; skips without
# one): CUDA against the CPU reference on the same model and audio (tokens,
# with and without flash attention), the buffers the GPU holds against the
# planner's figures, and, where PyTorch and transformers are installed, the
# logits against Hugging Face's WhisperForConditionalGeneration on the same
# random weights (tests/oracle/hf_compare.py).
set -u
. "$(dirname "$0")/lib.sh"
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || { echo "SKIP: no NVIDIA GPU"; pass; }
command -v espeak-ng >/dev/null && command -v sox >/dev/null || { echo "SKIP: espeak-ng or sox missing"; pass; }
"$VOXFIT" transcribe --help >/dev/null 2>&1 || fail "voxfit has no transcribe command"

"$VOXFIT" dev mkmodel --like whisper-tiny.en -o "$T/tiny.en.bin" || fail mkmodel
"$VOXFIT" dev mkmodel --like whisper-base -o "$T/base.bin" || fail mkmodel
espeak-ng -w "$T/s.wav" "Hello world, this is a test of the voxfit speech recognizer on a graphics card." || fail espeak
sox "$T/s.wav" -r 16000 -c 1 -b 16 "$T/speech.wav" || fail sox

"$VOXFIT" measure --stt "$T/tiny.en.bin" --json > "$T/m.json" || fail "measure"
[ "$(json_get "$T/m.json" 'j.device.kind')" = gpu ] || { echo "SKIP: ggml has no GPU backend here"; pass; }

for m in tiny.en base; do
  cpu=$T/$m.cpu.json
  "$VOXFIT" transcribe --stt "$T/$m.bin" --no-gpu --no-flash-attn --no-fallback --json --tokens "$T/speech.wav" > "$cpu" ||
    fail "transcribe $m on the CPU"
  for fa in "" --no-flash-attn; do
    gpu=$T/$m.gpu$fa.json
    "$VOXFIT" transcribe --stt "$T/$m.bin" $fa --no-fallback --json --tokens "$T/speech.wav" > "$gpu" ||
      fail "transcribe $m on the GPU $fa"
    # the kernels differ (cuBLAS, fused attention): a near tie may flip late
    # in a sequence, but the start must agree
    node "$VF_SRC/tests/oracle/compare.js" "$gpu" "$cpu" "$m CUDA${fa:+ (no flash attention)} vs CPU" --report
    node -e '
      const fs = require("fs"), t = (f) => JSON.parse(fs.readFileSync(f)).segments.flatMap(s => s.tokens.map(x => x[0]));
      const a = t(process.argv[1]), b = t(process.argv[2]);
      let i = 0; while (i < a.length && a[i] === b[i]) i++;
      process.exit(i >= Math.min(16, a.length, b.length) ? 0 : 1);' "$gpu" "$cpu" || fail "$m: CUDA and CPU disagree early"
  done
  # a prompt longer than the decoders (an initial prompt, or the text carried
  # from the window before) attends over keys padded for the fused kernel:
  # its graph must fit the buffer reserved at start (it did not, once)
  for fa in "" --no-flash-attn; do
    "$VOXFIT" transcribe --stt "$T/$m.bin" $fa --no-fallback --prompt "Voxfit, whisper, llama, a prompt of some length." \
      --json "$T/speech.wav" > "$T/$m.prompt$fa.json" || fail "transcribe $m on the GPU with a prompt $fa"
  done
  "$VOXFIT" measure --stt "$T/$m.bin" --json > "$T/$m.m.json" || fail "measure $m"
  "$VOXFIT" plan --device gpu --llm none --tts none --stt "$T/$m.bin" --json > "$T/$m.p.json" || fail "plan $m"
  node -e '
    const fs = require("fs");
    const p = JSON.parse(fs.readFileSync(process.argv[1])).components.find(c => c.role === "stt");
    const m = JSON.parse(fs.readFileSync(process.argv[2])).components[0];
    for (const k of ["weights_bytes", "kv_bytes", "compute_bytes"]) {
      const e = Math.abs(p[k] - m[k]) / Math.max(1, m[k]);
      console.log(`GPU ${k}: plan ${p[k]} measured ${m[k]} (${(100 * e).toFixed(2)} %)`);
      if (e > 0.02) process.exit(1);
    }' "$T/$m.p.json" "$T/$m.m.json" || fail "$m: plan and measure differ on the GPU"
done

if python3 -c 'import torch, transformers' 2>/dev/null; then
  for m in tiny.en base; do
    "$VOXFIT" transcribe --stt "$T/$m.bin" --no-fallback --no-flash-attn --dump-mel "$T/$m.mel" --dump-logits "$T/$m.logits" \
      "$T/speech.wav" > /dev/null || fail "dumps $m"
    python3 "$VF_SRC/tests/oracle/hf_compare.py" "$T/$m.bin" "$T/$m.mel" "$T/$m.logits" "$T/speech.wav" \
      --device cuda > "$T/$m.hf.json" || fail "hf_compare $m"
    cat "$T/$m.hf.json"
    [ "$(json_get "$T/$m.hf.json" 'j.gelu_new.max_rel_to_rms < 0.01 && j.gelu_new.argmax_agree >= j.tokens - 1')" = true ] ||
      fail "$m: logits differ from transformers'"
  done
else
  echo "note: PyTorch/transformers not installed, the comparison with transformers is skipped"
fi
pass
