// bench.js - voice-to-voice latency through the realtime websocket: N
// scripted spoken turns (espeak-ng utterances, sent faster than real time so
// the run is compute-bound), each waited for to response.done. Per turn the
// server reports where the time went (response.voxfit_timings); the client
// measures speech_stopped -> first audio delta as received. Prints a
// markdown table of p50/p95 and writes the raw numbers as JSON.
//   node bench.js PORT N OUT.json UTT1.raw [UTT2.raw ...]   (24 kHz PCM16)
'use strict';
const WebSocket = require('ws');
const fs = require('fs');
const [port, nArg, outJson, ...raws] = process.argv.slice(2);
const N = parseInt(nArg, 10);
const utts = raws.map((f) => fs.readFileSync(f));
const silence = Buffer.alloc(24000 * 2); // 1 s after each utterance

function pct(a, p) { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; }

(async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime?dialect=ga`);
  const q = []; let waiter = null, seen = [], skipped = 0;
  ws.on('message', (d) => {
    const e = JSON.parse(d.toString()); e._t = performance.now(); q.push(e);
    if (e.type === 'response.output_audio.delta') { if (!seen.length) seen.push(e); } // keep the first only
    if (waiter) waiter();
  });
  await new Promise((r) => ws.on('open', r));
  const next = async (type, ms = 120000) => {
    const t0 = Date.now();
    for (;;) {
      const i = q.findIndex((e) => e.type === type);
      if (i >= 0) return q.splice(0, i + 1)[i];
      if (Date.now() - t0 > ms) throw new Error('timeout waiting for ' + type);
      await new Promise((r) => { waiter = r; setTimeout(r, 50); });
    }
  };
  await next('session.created');
  ws.send(JSON.stringify({ type: 'session.update', session: { type: 'realtime', instructions: 'Answer in one short sentence.',
    audio: { input: { turn_detection: { type: 'server_vad', silence_duration_ms: 500 } } } } }));
  await next('session.updated');
  const rows = [];
  for (let t = 0; t < N; t++) {
    const pcm = Buffer.concat([utts[t % utts.length], silence]);
    for (let off = 0; off < pcm.length; off += 4800)
      ws.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: pcm.subarray(off, off + 4800).toString('base64') }));
    const stop = await next('input_audio_buffer.speech_stopped');
    const tr = await next('conversation.item.input_audio_transcription.completed');
    if (!tr.transcript) { skipped++; process.stderr.write(`turn ${t + 1}/${N}: empty transcript, no reply\n`); continue; }
    // the reply's events up to response.done; the first audio delta among them
    const done = await next('response.done');
    const audio = seen.find((e) => e.type === 'response.output_audio.delta' && e._t >= stop._t);
    seen = [];
    if (!audio) { skipped++; process.stderr.write(`turn ${t + 1}/${N}: reply without audio\n`); continue; }
    const tm = done.response.voxfit_timings || {};
    const op = tm.overhead_parts || {};
    rows.push({ ...tm, ...op, client_ms: audio._t - stop._t, status: done.response.status });
    process.stderr.write(`turn ${t + 1}/${N}: ${Math.round(tm.speech_end_to_first_audio_ms)} ms (stt ${Math.round(tm.stt_ms)}, overhead ${tm.overhead_ms.toFixed(2)})\n`);
  }
  ws.close();
  fs.writeFileSync(outJson, JSON.stringify(rows, null, 1));
  const cols = [
    ['VAD endpoint (silence, audio time)', 'vad_endpoint_ms'],
    ['STT (Whisper on the utterance)', 'stt_ms'],
    ['LLM first token', 'llm_first_token_ms'],
    ['first sentence complete (after first token)', 'first_sentence_ms'],
    ['TTS first audio of that sentence', 'tts_first_audio_ms'],
    ['pipeline overhead (queues, resampling, base64, JSON, websocket)', 'overhead_ms'],
    ['&nbsp;&nbsp;of which endpoint -> STT starts (events, hand-off)', 'endpoint_to_stt_ms'],
    ['&nbsp;&nbsp;of which transcript -> LLM request (events, history)', 'stt_to_llm_ms'],
    ['&nbsp;&nbsp;of which first sentence -> its TTS starts (thread hand-off)', 'sentence_to_tts_ms'],
    ['&nbsp;&nbsp;of which first audio ready -> on the socket (base64, JSON, send)', 'audio_to_socket_ms'],
    ['**server: endpoint decided -> first audio byte sent**', 'speech_end_to_first_audio_ms'],
    ['client: speech_stopped received -> first audio delta received', 'client_ms'],
  ];
  const f = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(0));
  console.log(`| stage (${rows.length} turns) | p50 ms | p95 ms |`);
  console.log('|---|---:|---:|');
  for (const [name, k] of cols) { const a = rows.map((r) => r[k]); console.log(`| ${name} | ${f(pct(a, 50))} | ${f(pct(a, 95))} |`); }
  const user = rows.map((r) => r.vad_endpoint_ms + r.speech_end_to_first_audio_ms);
  console.log(`| **speech end -> first reply audio byte (VAD silence + the above)** | ${f(pct(user, 50))} | ${f(pct(user, 95))} |`);
  const bad = rows.filter((r) => r.status !== 'completed').length;
  if (bad) console.log(`\n${bad} of ${N} responses did not complete.`);
  if (skipped) console.log(`\n${skipped} of ${N} turns had no spoken reply (the random Whisper heard nothing, or the random LLM wrote nothing) and are not in the table.`);
})().catch((e) => { console.error('bench failed:', e.message); process.exit(1); });
