// serve_client.mjs - the client side of bench/serve_bench.sh: N concurrent
// streaming chat completions against a running voxfit serve, measuring
// time to first token (first content chunk) and decode tokens/s per stream
// ((tokens - 1) / (last chunk - first chunk), tokens from the usage chunk),
// plus aggregate tokens/s over the wall time of the whole batch.
//
// usage: node serve_client.mjs BASE_URL MODEL STREAMS MAX_TOKENS EOG_IDS [ROUNDS]
const [base, model, nStr, maxStr, eog, roundsStr] = process.argv.slice(2);
const streams = Number(nStr), maxTokens = Number(maxStr), rounds = Number(roundsStr || 1);
const bias = Object.fromEntries(eog.split(",").filter(Boolean).map((t) => [t, -100]));

async function one() {
  const t0 = performance.now();
  const r = await fetch(base + "/v1/chat/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      model, max_tokens: maxTokens, stream: true, stream_options: { include_usage: true },
      temperature: 1, seed: 42, logit_bias: bias,
      messages: [{ role: "user", content: "Write a long story about a voice assistant." }],
    }),
  });
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  const dec = new TextDecoder();
  let buf = "", first = 0, last = 0, usage = null;
  for await (const part of r.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (ev === "data: [DONE]") continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      if (j.choices.length && j.choices[0].delta.content) {
        const t = performance.now();
        if (!first) first = t;
        last = t;
      }
    }
  }
  const n = usage.completion_tokens;
  return { ttft: first - t0, tps: (n - 1) / ((last - first) / 1000), tokens: n, end: last };
}

// Node loads and compiles its HTTP client on the first fetch; on a 2-core
// machine that work would run during the server's prompt decode and slow it.
// Do it first, on a request that costs the server nothing, and let it settle.
await (await fetch(base + "/health")).text();
await new Promise((r) => setTimeout(r, 300));

const out = [];
for (let k = 0; k < rounds; k++) {
  const t0 = performance.now();
  const res = await Promise.all(Array.from({ length: streams }, one));
  const wall = (Math.max(...res.map((r) => r.end)) - t0) / 1000;
  const tokens = res.reduce((a, r) => a + r.tokens, 0);
  out.push({
    ttft_ms: res.reduce((a, r) => a + r.ttft, 0) / streams,
    stream_tps: res.reduce((a, r) => a + r.tps, 0) / streams,
    aggregate_tps: tokens / wall,
    tokens,
  });
}
const avg = (k) => out.reduce((a, r) => a + r[k], 0) / out.length;
console.log(JSON.stringify({
  streams, rounds, ttft_ms: +avg("ttft_ms").toFixed(2), decode_tps: +avg("stream_tps").toFixed(2),
  aggregate_tps: +avg("aggregate_tps").toFixed(2), tokens: out[0].tokens,
  best_decode_tps: +Math.max(...out.map((r) => r.stream_tps)).toFixed(2),
  best_ttft_ms: +Math.min(...out.map((r) => r.ttft_ms)).toFixed(2),
}));
