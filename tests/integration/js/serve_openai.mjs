// serve_openai.mjs - the official `openai` package against a running
// `voxfit serve` on loopback: non-streaming, streaming (every chunk in
// OpenAI's shape, usage at the end), an abort mid-stream that must stop the
// generation at once (slots back to idle, far fewer tokens than asked), and
// 8 parallel streams that must all complete with exact token counts.
//
// usage: node serve_openai.mjs BASE_URL API_KEY MODEL EOG_IDS(comma list)
// Run by tests/integration/test_serve.sh, which installs `openai` first.
import OpenAI from "openai";
import assert from "node:assert/strict";

const [base, apiKey, model, eog] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey, maxRetries: 0, timeout: 60000 });
// Ban the end-of-generation tokens so every answer has exactly max_tokens tokens.
const noEog = Object.fromEntries((eog || "").split(",").filter(Boolean).map((t) => [t, -100]));
const msgs = [
  { role: "system", content: "You are terse." },
  { role: "user", content: [{ type: "text", text: "Say" }, { type: "text", text: " hello." }] },
];

async function metric(name) {
  const txt = await (await fetch(base + "/metrics")).text();
  const line = txt.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return line ? Number(line.split(" ").pop()) : NaN;
}

function checkChunk(c) {
  assert.equal(c.object, "chat.completion.chunk");
  assert.match(c.id, /^chatcmpl-/);
  assert.equal(c.model, model);
  assert.equal(typeof c.created, "number");
}

async function nonStreaming() {
  const r = await client.chat.completions.create({
    model, messages: msgs, max_completion_tokens: 12, temperature: 0.7, top_p: 0.9, seed: 7,
    logit_bias: noEog,
  });
  assert.equal(r.object, "chat.completion");
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.model, model);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].index, 0);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 12);
  assert.ok(r.usage.prompt_tokens > 5);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 12);
  // the same seed gives the same answer
  const again = await client.chat.completions.create({
    model, messages: msgs, max_completion_tokens: 12, temperature: 0.7, top_p: 0.9, seed: 7,
    logit_bias: noEog,
  });
  assert.equal(again.choices[0].message.content, r.choices[0].message.content);
  // greedy, with a stop string taken from the greedy answer itself
  const g = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, temperature: 0, logit_bias: noEog });
  const text = g.choices[0].message.content;
  if (text.length > 6) {
    const stop = text.slice(3, 6);
    const s = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, temperature: 0, stop: [stop], logit_bias: noEog });
    assert.equal(s.choices[0].finish_reason, "stop");
    assert.equal(s.choices[0].message.content, text.slice(0, text.indexOf(stop)));
  }
  console.log("ok: non-streaming");
}

async function streaming() {
  const stream = await client.chat.completions.create({
    model, messages: msgs, max_tokens: 20, stream: true, stream_options: { include_usage: true },
    logit_bias: noEog,
  });
  let n = 0, text = "", finish = null, usage = null, first = true;
  for await (const c of stream) {
    checkChunk(c);
    if (first) {
      assert.equal(c.choices[0].delta.role, "assistant");
      first = false;
    }
    if (c.choices.length) {
      if (c.choices[0].delta.content) text += c.choices[0].delta.content;
      if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
      assert.equal(c.usage, null);
    } else {
      usage = c.usage;
    }
    n++;
  }
  assert.equal(finish, "length");
  assert.ok(usage, "no usage chunk");
  assert.equal(usage.completion_tokens, 20);
  assert.ok(text.length > 0 && n >= 4);
  console.log("ok: streaming");
}

async function abortMidStream() {
  const before = await metric("voxfit_llm_completion_tokens_total");
  const cancelledBefore = await metric("voxfit_llm_cancelled_total");
  const stream = await client.chat.completions.create({
    model, messages: msgs, max_tokens: 3500, stream: true, logit_bias: noEog,
  });
  let n = 0;
  for await (const c of stream) {
    if (++n === 3) {
      stream.controller.abort();
      break;
    }
  }
  const t0 = Date.now();
  // the slot must be free again almost at once
  let active = 1;
  while (Date.now() - t0 < 3000) {
    active = await metric("voxfit_llm_slots_active");
    if (active === 0 && (await metric("voxfit_llm_cancelled_total")) > cancelledBefore) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(active, 0, "generation still running after the client aborted");
  assert.ok((await metric("voxfit_llm_cancelled_total")) > cancelledBefore, "the cancel was not counted");
  const generated = (await metric("voxfit_llm_completion_tokens_total")) - before;
  assert.ok(generated < 3500, `generated ${generated} tokens for an aborted stream`);
  console.log(`ok: abort mid-stream (slot free after ${Date.now() - t0} ms, ${generated} tokens generated)`);
}

async function parallel() {
  const want = [9, 17, 25, 33, 41, 49, 57, 65];
  const before = await metric("voxfit_llm_completion_tokens_total");
  const runs = want.map(async (max) => {
    const stream = await client.chat.completions.create({
      model, messages: [{ role: "user", content: `count to ${max}` }], max_tokens: max, stream: true,
      stream_options: { include_usage: true }, logit_bias: noEog,
    });
    let usage = null, finish = null, text = "";
    for await (const c of stream) {
      checkChunk(c);
      if (c.usage) usage = c.usage;
      if (c.choices.length && c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
      if (c.choices.length && c.choices[0].delta.content) text += c.choices[0].delta.content;
    }
    assert.equal(finish, "length");
    assert.equal(usage.completion_tokens, max, `stream with max_tokens ${max} got ${usage.completion_tokens}`);
    assert.ok(text.length > 0);
    return usage.completion_tokens;
  });
  const got = await Promise.all(runs);
  const total = got.reduce((a, b) => a + b, 0);
  assert.equal((await metric("voxfit_llm_completion_tokens_total")) - before, total);
  console.log(`ok: 8 parallel streams, ${total} tokens, counts exact`);
}

async function errors() {
  await assert.rejects(client.chat.completions.create({ model: "no-such-model", messages: msgs }),
    (e) => e.status === 404 && e.code === "model_not_found");
  await assert.rejects(client.chat.completions.create({ model, messages: msgs, n: 2 }),
    (e) => e.status === 400 && e.param === "n");
  await assert.rejects(client.chat.completions.create({ model, messages: [] }),
    (e) => e.status === 400 && e.param === "messages");
  const bad = new OpenAI({ baseURL: base + "/v1", apiKey: "wrong-key", maxRetries: 0 });
  if (apiKey !== "none")
    await assert.rejects(bad.models.list(), (e) => e.status === 401 && e.code === "invalid_api_key");
  const models = await client.models.list();
  assert.equal(models.data[0].id, model);
  assert.equal(models.data[0].object, "model");
  console.log("ok: errors through the client");
}

await nonStreaming();
await streaming();
await abortMidStream();
await parallel();
await errors();
console.log("serve_openai: all checks passed");
