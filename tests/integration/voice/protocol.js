// protocol.js - the realtime websocket with a real client (the `ws`
// package) against a running voxfit: a full spoken turn, cancel, malformed
// events and wrong audio sizes (each answered with an `error` event while
// the session lives on), and both event dialects.
//   node protocol.js PORT SPEECH_24K.raw [turn]   (turn: only the spoken turn)
'use strict';
const WebSocket = require('ws');
const fs = require('fs');
const [port, rawPath, only] = process.argv.slice(2);
const T0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);
let failed = 0;
const check = (ok, what) => { if (!ok) { failed++; console.error('FAIL:', what); } };

function open(query = '', headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime${query}`, { headers });
    const c = { ws, events: [], waiters: [] };
    ws.on('message', (d) => {
      const ev = JSON.parse(d.toString());
      c.events.push(ev);
      c.waiters = c.waiters.filter((w) => { if (w.match(ev)) { w.resolve(ev); return false; } return true; });
    });
    ws.on('open', () => resolve(c));
    ws.on('error', reject);
  });
}
// wait for the first event of type after index `from` (default: any time)
function wait(c, type, ms = 30000, from = 0) {
  const hit = c.events.slice(from).find((e) => e.type === type);
  if (hit) return Promise.resolve(hit);
  return new Promise((resolve, reject) => {
    const w = { match: (e) => e.type === type, resolve };
    c.waiters.push(w);
    setTimeout(() => reject(new Error(`no ${type} within ${ms} ms; last: ${c.events.slice(-5).map((e) => e.type)}`)), ms);
  });
}
const send = (c, o) => c.ws.send(typeof o === 'string' ? o : JSON.stringify(o));
const count = (c, t) => c.events.filter((e) => e.type === t).length;

async function fullTurn(pcm) {
  const c = await open();
  const created = await wait(c, 'session.created', 5000);
  check(created.session.audio.input.format.rate === 24000, 'default input rate is 24 kHz');
  send(c, { type: 'session.update', session: { instructions: 'Answer briefly.', turn_detection: { type: 'server_vad', silence_duration_ms: 400 } } });
  const up = await wait(c, 'session.updated', 5000);
  check(up.session.turn_detection.silence_duration_ms === 400, 'silence_duration_ms applied');
  // 100 ms chunks, as fast as the socket takes them (faster than real time)
  for (let off = 0; off < pcm.length; off += 4800) send(c, { type: 'input_audio_buffer.append', audio: pcm.subarray(off, off + 4800).toString('base64') });
  const tEnd = Date.now();
  await wait(c, 'input_audio_buffer.speech_started', 10000);
  await wait(c, 'input_audio_buffer.speech_stopped', 10000);
  const committed = await wait(c, 'input_audio_buffer.committed', 10000);
  await wait(c, 'conversation.item.created', 10000);
  const tr = await wait(c, 'conversation.item.input_audio_transcription.completed', 60000);
  check(tr.item_id === committed.item_id && typeof tr.transcript === 'string', 'transcript for the committed item');
  await wait(c, 'response.created', 30000);
  const done = await wait(c, 'response.done', 120000);
  check(done.response.status === 'completed', 'response completed: ' + done.response.status);
  const ga = count(c, 'response.output_audio.delta'), beta = count(c, 'response.audio.delta');
  const gat = count(c, 'response.output_audio_transcript.delta'), betat = count(c, 'response.audio_transcript.delta');
  log(`full turn: ${Date.now() - tEnd} ms; audio deltas GA ${ga} beta ${beta}; transcript deltas GA ${gat} beta ${betat}; timings`, JSON.stringify(done.response.voxfit_timings));
  check(ga > 0 && ga === beta && gat > 0 && gat === betat, 'both dialects by default');
  let bytes = 0;
  for (const e of c.events) if (e.type === 'response.output_audio.delta') { const b = Buffer.from(e.delta, 'base64'); check(b.length % 2 === 0, 'whole PCM16 samples'); bytes += b.length; }
  check(bytes > 0, 'reply audio bytes');
  c.ws.close();
}

async function cancel() {
  const c = await open('?dialect=ga');
  await wait(c, 'session.created', 5000);
  send(c, { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Tell me everything.' }] } });
  await wait(c, 'conversation.item.created', 5000);
  send(c, { type: 'response.create', response: { max_output_tokens: 400 } });
  await wait(c, 'response.output_audio_transcript.delta', 30000);
  const t = Date.now();
  send(c, { type: 'response.cancel' });
  const done = await wait(c, 'response.done', 5000);
  log(`cancel: response.done ${Date.now() - t} ms after response.cancel, status ${done.response.status}, stages stopped in ${done.response.voxfit_timings.cancel_ms} ms`);
  check(done.response.status === 'cancelled', 'cancelled status');
  check(done.response.voxfit_timings.cancel_ms <= 100, 'LLM and TTS stopped within 100 ms');
  const n = c.events.length;
  await new Promise((r) => setTimeout(r, 300));
  check(!c.events.slice(n).some((e) => e.type === 'response.output_audio.delta'), 'no audio after the cancel');
  check(count(c, 'response.audio.delta') === 0, 'GA dialect only');
  // a second cancel has nothing to cancel
  send(c, { type: 'response.cancel', event_id: 'c2' });
  const err = await wait(c, 'error', 5000, n);
  check(err.error.code === 'response_cancel_not_active' && err.error.event_id === 'c2', 'cancel without a response: ' + err.error.code);
  c.ws.close();
}

async function malformed() {
  const c = await open('', { 'OpenAI-Beta': 'realtime=v1' });
  await wait(c, 'session.created', 5000);
  const bad = [
    ['{not json', 'invalid_json'],
    ['"just a string"', 'invalid_json'],
    [{ no: 'type' }, 'missing_required_parameter'],
    [{ type: 'frobnicate' }, 'unknown_event'],
    [{ type: 'input_audio_buffer.append', audio: 42 }, 'missing_required_parameter'],
    [{ type: 'input_audio_buffer.append', audio: '***' }, 'invalid_value'],
    [{ type: 'input_audio_buffer.append', audio: Buffer.from([1]).toString('base64') }, 'invalid_audio_size'],
    [{ type: 'input_audio_buffer.append', audio: Buffer.alloc(4801).toString('base64') }, 'invalid_audio_size'],
    [{ type: 'input_audio_buffer.commit' }, 'input_audio_buffer_commit_empty'],
    [{ type: 'session.update', session: { input_audio_format: 'g711_alaw' } }, 'invalid_value'],
    [{ type: 'session.update', session: { turn_detection: { type: 'server_vad', silence_duration_ms: -5 } } }, 'invalid_value'],
    [{ type: 'session.update', session: 'x' }, 'missing_required_parameter'],
    [{ type: 'conversation.item.create', item: { type: 'message', role: 'robot', content: [] } }, 'invalid_value'],
    [{ type: 'conversation.item.truncate', item_id: 'missing', audio_end_ms: 5 }, 'item_truncate_invalid_item_id'],
    [{ type: 'response.cancel' }, 'response_cancel_not_active'],
  ];
  for (const [ev, code] of bad) {
    const n = c.events.length;
    send(c, ev);
    const e = await wait(c, 'error', 5000, n);
    check(e.error.code === code, `${JSON.stringify(ev).slice(0, 60)} -> ${e.error.code}, want ${code}`);
  }
  // a short commit after a tiny append is still refused; a real one works
  send(c, { type: 'session.update', session: { modalities: ['text'], turn_detection: null, input_audio_format: 'pcm16' } });
  const up = await wait(c, 'session.updated', 5000);
  check(up.session.turn_detection === null, 'turn detection off');
  let n = c.events.length;
  send(c, { type: 'input_audio_buffer.append', audio: Buffer.alloc(2 * 240).toString('base64') }); // 10 ms
  send(c, { type: 'input_audio_buffer.commit' });
  check((await wait(c, 'error', 5000, n)).error.code === 'input_audio_buffer_commit_empty', '10 ms is too short to commit');
  // a large, odd-sized but valid chunk split across events (a client that batches audio)
  n = c.events.length;
  send(c, { type: 'input_audio_buffer.append', audio: Buffer.alloc(24000 * 2).toString('base64') });
  send(c, { type: 'input_audio_buffer.commit' });
  await wait(c, 'input_audio_buffer.committed', 5000, n);
  // the session still answers (beta names, text only)
  send(c, { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } });
  send(c, { type: 'response.create' });
  const done = await wait(c, 'response.done', 60000, n);
  check(['completed', 'incomplete'].includes(done.response.status), 'session alive after errors: ' + done.response.status);
  check(count(c, 'response.text.delta') > 0 && count(c, 'response.output_text.delta') === 0, 'beta text deltas only (OpenAI-Beta header)');
  log(`malformed: ${bad.length} bad events, each answered with error; session still answers`);
  c.ws.close();
}

(async () => {
  const pcm = fs.readFileSync(rawPath);
  try {
    if (only !== 'turn') {
      await malformed();
      await cancel();
    }
    await fullTurn(pcm);
  } catch (e) { failed++; console.error('FAIL:', e.message); }
  log(failed ? `${failed} checks failed` : 'all checks passed');
  process.exit(failed ? 1 : 0);
})();
