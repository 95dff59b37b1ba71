#!/usr/bin/env python3
"""hf_compare.py - voxfit's Whisper against Hugging Face transformers'
WhisperForConditionalGeneration on the same random weights.

The whisper.cpp model file (f16 or f32, from `voxfit dev mkmodel`) is read
with numpy and its tensors are loaded into a transformers model of the same
shape (OpenAI names mapped to transformers' names). transformers then runs
the encoder on voxfit's own log-mel spectrogram (`voxfit transcribe
--dump-mel`) and the decoder, teacher-forced, on the tokens of voxfit's
first segment (`--dump-logits`), and the logits are compared position by
position. Twice: with the tanh approximation of GELU that ggml and
whisper.cpp use ("gelu_new"), which isolates the implementation, and with
the exact GELU of OpenAI's model ("gelu"), which shows what the
approximation costs. With the audio, transformers' own feature extractor's
spectrogram is compared with voxfit's too.

Usage: hf_compare.py MODEL.bin MEL.f32 LOGITS.f32 [AUDIO.wav] [--device cuda]
Prints one JSON object.
"""
import json
import struct
import sys
import wave

import numpy as np
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration


def read_model(path):
    with open(path, "rb") as f:
        data = f.read()
    off = 0

    def i32(n=1):
        nonlocal off
        v = struct.unpack_from("<%di" % n, data, off)
        off += 4 * n
        return v if n > 1 else v[0]

    if i32() != 0x67676D6C:
        raise SystemExit("not a whisper.cpp model")
    hp = dict(zip(["n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                   "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels", "ftype"], i32(11)))
    n_mel, n_fft = i32(2)
    off += 4 * n_mel * n_fft
    n_tok = i32()
    for _ in range(n_tok):
        off += 4 + i32()
    tensors = {}
    while off < len(data):
        n_dims, name_len, ttype = i32(3)
        ne = i32(n_dims) if n_dims > 1 else (i32(),)
        name = data[off:off + name_len].decode()
        off += name_len
        count = int(np.prod(ne))
        if ttype == 0:
            a = np.frombuffer(data, np.float32, count, off).astype(np.float32)
            off += 4 * count
        elif ttype == 1:
            a = np.frombuffer(data, np.float16, count, off).astype(np.float32)
            off += 2 * count
        else:
            raise SystemExit("tensor %s: only f32/f16 models can be compared" % name)
        tensors[name] = a.reshape(tuple(reversed(ne)))
    return hp, tensors


def hf_model(hp, tensors, act, device):
    cfg = WhisperConfig(
        vocab_size=hp["n_vocab"], num_mel_bins=hp["n_mels"], d_model=hp["n_audio_state"],
        encoder_layers=hp["n_audio_layer"], encoder_attention_heads=hp["n_audio_head"],
        decoder_layers=hp["n_text_layer"], decoder_attention_heads=hp["n_text_head"],
        encoder_ffn_dim=4 * hp["n_audio_state"], decoder_ffn_dim=4 * hp["n_text_state"],
        max_source_positions=hp["n_audio_ctx"], max_target_positions=hp["n_text_ctx"],
        activation_function=act, scale_embedding=False, dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, pad_token_id=hp["n_vocab"] - 1, decoder_start_token_id=0)
    model = WhisperForConditionalGeneration(cfg).eval()
    sd = {}
    for side in ("encoder", "decoder"):
        n_layer = hp["n_audio_layer" if side == "encoder" else "n_text_layer"]
        for i in range(n_layer):
            src, dst = "%s.blocks.%d." % (side, i), "model.%s.layers.%d." % (side, i)
            attns = [("attn", "self_attn")] + ([("cross_attn", "encoder_attn")] if side == "decoder" else [])
            for a, b in attns:
                for p, q in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj"), ("out", "out_proj")):
                    sd[dst + b + "." + q + ".weight"] = tensors[src + a + "." + p + ".weight"]
                    if p != "key":
                        sd[dst + b + "." + q + ".bias"] = tensors[src + a + "." + p + ".bias"]
                for x in ("weight", "bias"):
                    sd[dst + b + "_layer_norm." + x] = tensors[src + a + "_ln." + x]
            for x in ("weight", "bias"):
                sd[dst + "fc1." + x] = tensors[src + "mlp.0." + x]
                sd[dst + "fc2." + x] = tensors[src + "mlp.2." + x]
                sd[dst + "final_layer_norm." + x] = tensors[src + "mlp_ln." + x]
    for c in ("conv1", "conv2"):   # (out, in, kernel) as torch's Conv1d; biases stored (S, 1)
        sd["model.encoder.%s.weight" % c] = tensors["encoder.%s.weight" % c]
        sd["model.encoder.%s.bias" % c] = tensors["encoder.%s.bias" % c].reshape(-1)
    for x in ("weight", "bias"):
        sd["model.encoder.layer_norm." + x] = tensors["encoder.ln_post." + x]
        sd["model.decoder.layer_norm." + x] = tensors["decoder.ln." + x]
    sd["model.encoder.embed_positions.weight"] = tensors["encoder.positional_embedding"]
    sd["model.decoder.embed_positions.weight"] = tensors["decoder.positional_embedding"]
    sd["model.decoder.embed_tokens.weight"] = tensors["decoder.token_embedding.weight"]
    sd["proj_out.weight"] = tensors["decoder.token_embedding.weight"]
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()},
                                                strict=False)
    if unexpected or [m for m in missing if "embed_positions" not in m]:
        raise SystemExit("weights did not map: missing %s unexpected %s" % (missing, unexpected))
    return model.to(device)


def read_f32_dump(path, n_header):
    with open(path, "rb") as f:
        data = f.read()
    hdr = struct.unpack_from("<%di" % n_header, data, 0)
    return hdr, data[4 * n_header:]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    device = "cuda" if "--device" in sys.argv and sys.argv[sys.argv.index("--device") + 1] == "cuda" else "cpu"
    args = [a for a in args if a not in ("cuda", "cpu")]
    model_path, mel_path, logits_path = args[:3]
    audio = args[3] if len(args) > 3 else None
    hp, tensors = read_model(model_path)
    (n_mel, n_len, _), rest = read_f32_dump(mel_path, 3)
    mel = np.frombuffer(rest, np.float32).reshape(n_mel, n_len)[:, :2 * hp["n_audio_ctx"]]
    (n_tok, n_vocab), rest = read_f32_dump(logits_path, 2)
    tokens = np.frombuffer(rest, np.int32, n_tok)
    ours = np.frombuffer(rest, np.float32, offset=4 * n_tok).reshape(n_tok, n_vocab)
    out = {"device": device, "tokens": int(n_tok), "torch": torch.__version__}
    import transformers
    out["transformers"] = transformers.__version__
    feats = torch.from_numpy(np.ascontiguousarray(mel))[None].to(device)
    ids = torch.from_numpy(tokens.astype(np.int64))[None].to(device)
    rms = float(np.sqrt(np.mean(ours.astype(np.float64) ** 2)))
    for act in ("gelu_new", "gelu"):
        model = hf_model(hp, tensors, act, device)
        with torch.no_grad():
            theirs = model(input_features=feats, decoder_input_ids=ids).logits[0].float().cpu().numpy()
        d = np.abs(theirs - ours)
        out[act] = {
            "max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()), "logit_rms": rms,
            "max_rel_to_rms": float(d.max() / rms),
            "argmax_agree": int((theirs.argmax(-1) == ours.argmax(-1)).sum()),
        }
        del model
    if audio:
        from transformers import WhisperFeatureExtractor
        with wave.open(audio) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
        fe = WhisperFeatureExtractor(feature_size=n_mel, sampling_rate=16000)
        hf_mel = fe(x, sampling_rate=16000, return_tensors="np").input_features[0]
        n = min(hf_mel.shape[1], mel.shape[1])
        out["feature_extractor_mel_max_abs_diff"] = float(np.abs(hf_mel[:, :n] - mel[:, :n]).max())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
