// app.js - the voxfit voice page: microphone -> /v1/realtime (the OpenAI
// Realtime API subset, GA event names) -> transcript, streamed reply text
// and audio. Hands-free (server VAD) or push-to-talk; speaking over the
// reply interrupts it (the server cancels; the page flushes playback and
// tells the server how much was heard). State is mirrored in window.voxfit
// for the end-to-end tests.
'use strict';
const RATE = 24000;             // PCM16 mono, the Realtime API's default
const CHUNK = RATE / 50;        // 20 ms per append
const V = window.voxfit = {
  events: [], errors: [], turns: [], users: [], replies: [], state: 'idle',
  audioDeltas: 0, audioSamples: 0, playedSamples: 0, micSamples: 0, interrupted: 0, connected: false,
};
const $ = (id) => document.getElementById(id);
let ws = null, ctx = null, mic = null, capNode = null, playNode = null;
let mode = 'vad', pttDown = false, gen = 0, micBuf = new Float32Array(0);
let turn = null, reply = null, replyItem = null, replyPlayedBase = 0, nTurns = 0;

function setState(s) { V.state = s; const e = $('status'); e.textContent = s; e.className = 'status ' + s; }
function send(o) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(o)); }
function b64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
function unb64(s) { const b = atob(s), u = new Uint8Array(b.length); for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i); return u; }
function line(cls, text) {
  const p = document.createElement('p'); p.className = cls; p.textContent = text;
  $('log').appendChild(p); $('log').scrollTop = 1e9; return p;
}

async function listMics() {
  const sel = $('mic'), cur = sel.value;
  const devs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput');
  sel.innerHTML = '';
  devs.forEach((d, i) => { const o = document.createElement('option'); o.value = d.deviceId; o.textContent = d.label || ('microphone ' + (i + 1)); sel.appendChild(o); });
  if (cur) sel.value = cur;
}

function sessionUpdate() {
  const s = {
    type: 'realtime',
    audio: {
      input: { format: { type: 'audio/pcm', rate: RATE },
               turn_detection: mode === 'vad' ? { type: 'server_vad', silence_duration_ms: 500, create_response: true, interrupt_response: true } : null },
      output: { format: { type: 'audio/pcm', rate: RATE } },
    },
  };
  if ($('voice').value) s.audio.output.voice = $('voice').value;
  send({ type: 'session.update', session: s });
}

// ---- microphone ----
function onMic(x) {
  V.micSamples += x.length;
  let e = 0; for (let i = 0; i < x.length; i++) e += x[i] * x[i];
  $('level').style.width = Math.min(100, Math.sqrt(e / x.length) * 400) + '%';
  if (mode === 'ptt' && !pttDown) return;
  const m = new Float32Array(micBuf.length + x.length); m.set(micBuf); m.set(x, micBuf.length); micBuf = m;
  while (micBuf.length >= CHUNK) {
    const c = micBuf.subarray(0, CHUNK), pcm = new Int16Array(CHUNK);
    for (let i = 0; i < CHUNK; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(c[i] * 32768)));
    send({ type: 'input_audio_buffer.append', audio: b64(new Uint8Array(pcm.buffer)) });
    micBuf = micBuf.slice(CHUNK);
  }
}

// ---- playback ----
function playPcm(bytes) {
  const n = bytes.length >> 1, dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length), f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = dv.getInt16(2 * i, true) / 32768;
  V.audioSamples += n;
  playNode.port.postMessage({ type: 'push', pcm: f }, [f.buffer]);
}
function interrupt() {
  // The user spoke over the reply: stop playback now, tell the server how
  // much of the reply was heard so its history keeps only that.
  const playing = V.audioSamples > V.playedSamples + 0;
  if (!replyItem || !playing) return;
  const heardMs = Math.round(((V.playedSamples - replyPlayedBase) / RATE) * 1000);
  gen++;
  playNode.port.postMessage({ type: 'flush', gen });
  V.audioSamples = V.playedSamples = 0; replyPlayedBase = 0;
  send({ type: 'conversation.item.truncate', item_id: replyItem, content_index: 0, audio_end_ms: Math.max(0, heardMs) });
  V.interrupted++;
  if (reply) reply.el.classList.add('cut');
}

// ---- server events ----
function onEvent(ev) {
  V.events.push(ev.type);
  const now = performance.now();
  switch (ev.type) {
    case 'session.created': V.connected = true; setState('listening'); sessionUpdate(); break;
    case 'input_audio_buffer.speech_started': setState('listening'); interrupt(); $('user-transcript').textContent = '…'; break;
    case 'input_audio_buffer.speech_stopped':
    case 'input_audio_buffer.committed':
      if (!turn || turn.done) turn = { n: ++nTurns, speechEnd: now };
      setState('thinking'); break;
    case 'conversation.item.input_audio_transcription.completed':
      if (turn) turn.transcript = now;
      $('user-transcript').textContent = '';
      V.users.push(ev.transcript); line('user', 'You: ' + ev.transcript); break;
    case 'conversation.item.input_audio_transcription.failed':
      V.errors.push(ev.error && ev.error.message); line('user', 'You: (not understood)'); break;
    case 'response.created':
      reply = { text: '', el: line('assistant', 'Assistant: ') }; replyItem = null;
      replyPlayedBase = V.playedSamples; break;
    case 'response.output_item.added': replyItem = ev.item && ev.item.id; break;
    case 'response.output_audio_transcript.delta':
    case 'response.output_text.delta':
      if (turn && !turn.firstToken) turn.firstToken = now;
      if (reply) { reply.text += ev.delta; reply.el.textContent = 'Assistant: ' + reply.text; $('assistant-text').textContent = reply.text.slice(-200); }
      break;
    case 'response.output_audio.delta':
      if (turn && !turn.firstAudio) turn.firstAudio = now;
      V.audioDeltas++; setState('speaking'); playPcm(unb64(ev.delta)); break;
    case 'response.done': {
      const r = ev.response || {};
      if (reply) V.replies.push({ text: reply.text, status: r.status });
      if (turn) { turn.server = r.voxfit_timings || {}; turn.status = r.status; turn.done = true; V.turns.push(turn); addTiming(turn); }
      if (r.status !== 'completed' && reply) reply.el.classList.add('cut');
      if (V.state !== 'speaking') setState('listening');
      break;
    }
    case 'error': V.errors.push(ev.error && ev.error.message); line('error', 'error: ' + (ev.error && ev.error.message)); break;
  }
}

function addTiming(t) {
  const d = (x) => (x && t.speechEnd ? Math.round(x - t.speechEnd) : '–');
  const s = t.server, f = (x) => (x === undefined || x < 0 ? '–' : Math.round(x));
  const tr = document.createElement('tr');
  tr.innerHTML = `<td>${t.n}</td><td>${d(t.transcript)}</td><td>${d(t.firstToken)}</td><td>${d(t.firstAudio)}</td>` +
    `<td>${f(s.vad_endpoint_ms)} / ${f(s.stt_ms)} / ${f(s.llm_first_token_ms)} / ${f(s.tts_first_audio_ms)} / ${s.overhead_ms === undefined ? '–' : s.overhead_ms.toFixed(1)}</td>`;
  $('timings').querySelector('tbody').prepend(tr);
}

// ---- memory and engines ----
function gib(b) { return (b / 1073741824).toFixed(2) + ' GiB'; }
async function refresh() {
  try {
    const h = await (await fetch('/health')).json();
    const m = $('memory'); m.innerHTML = '';
    (h.memory || []).forEach((d) => {
      const llm = Object.values(d.llm_bytes || {}).reduce((a, b) => a + b, 0);
      const used = Math.max(0, d.total_bytes - d.free_bytes - llm);
      const div = document.createElement('div'); div.className = 'dev';
      div.innerHTML = `<b>${d.device}</b> ${d.description || ''}<br>LLM ${gib(llm)} · other ${gib(used)} · free ${gib(d.free_bytes)} of ${gib(d.total_bytes)}` +
        `<div class="bar"><span class="llm" style="width:${(100 * llm) / d.total_bytes}%"></span><span class="used" style="width:${(100 * used) / d.total_bytes}%"></span></div>`;
      m.appendChild(div);
    });
    const plan = (h.engines || []).map((e) => `${e.role}: ${e.model} (${e.backend}, ${e.state}, ${e.n_ctx_per_conversation || '?'} tokens per conversation, ${e.slots || '?'} slots)`);
    const st = await (await fetch('/v1/voice/status')).json();
    const sttDev = {};
    (st.stt_memory || []).forEach((b) => { sttDev[b.device] = (sttDev[b.device] || 0) + b.bytes; });
    Object.entries(sttDev).forEach(([dev, b]) => {
      const div = document.createElement('div'); div.className = 'dev';
      div.textContent = `Whisper on ${dev}: ${gib(b)} (` + (st.stt_memory || []).filter((x) => x.device === dev)
        .map((x) => `${x.kind} ${(x.bytes / 1048576).toFixed(1)} MiB`).join(', ') + ')';
      m.appendChild(div);
    });
    $('engines').innerHTML = plan.concat([
      `stt: ${st.engines.stt.engine} ${st.engines.stt.model}`,
      `tts: ${st.engines.tts.engine} ${st.engines.tts.model} (${st.engines.tts.voice})`,
      `voice sessions: ${st.sessions.open} of ${st.sessions.max}`,
    ]).map((s) => `<div>${s.replace(/</g, '&lt;')}</div>`).join('');
    V.memory = h.memory; V.status = st;
  } catch (e) { $('memory').textContent = 'unavailable: ' + e; }
}

// ---- start ----
async function start() {
  $('start').disabled = true;
  mode = $('mode').value;
  ctx = new AudioContext({ sampleRate: RATE });
  await ctx.audioWorklet.addModule('/web/worklet.js');
  const id = $('mic').value;
  mic = await navigator.mediaDevices.getUserMedia({ audio: {
    deviceId: id ? { exact: id } : undefined, channelCount: 1,
    echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
  await listMics();
  const src = ctx.createMediaStreamSource(mic);
  capNode = new AudioWorkletNode(ctx, 'capture');
  capNode.port.onmessage = (e) => onMic(e.data);
  const mute = ctx.createGain(); mute.gain.value = 0;
  src.connect(capNode); capNode.connect(mute); mute.connect(ctx.destination);
  playNode = new AudioWorkletNode(ctx, 'playback', { outputChannelCount: [1] });
  playNode.port.onmessage = (e) => {
    if (e.data.gen !== gen) return;
    V.playedSamples = e.data.played;
    if (V.state === 'speaking' && !e.data.queued && V.playedSamples >= V.audioSamples) setState('listening');
  };
  playNode.connect(ctx.destination);
  await ctx.resume();
  ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/realtime?dialect=ga`);
  ws.onmessage = (e) => onEvent(JSON.parse(e.data));
  ws.onclose = () => { V.connected = false; setState('idle'); $('start').disabled = false; };
  $('ptt').disabled = mode !== 'ptt';
}

$('start').onclick = () => start().catch((e) => { V.errors.push(String(e)); line('error', String(e)); $('start').disabled = false; });
$('mode').onchange = () => { mode = $('mode').value; $('ptt').disabled = mode !== 'ptt'; sessionUpdate(); };
const pttOn = () => { if (mode !== 'ptt') return; pttDown = true; $('ptt').classList.add('down'); interrupt(); };
const pttOff = () => {
  if (!pttDown) return; pttDown = false; $('ptt').classList.remove('down');
  turn = { n: ++nTurns, speechEnd: performance.now() };
  send({ type: 'input_audio_buffer.commit' }); send({ type: 'response.create' });
};
$('ptt').onmousedown = pttOn; $('ptt').onmouseup = pttOff; $('ptt').onmouseleave = pttOff;
document.addEventListener('keydown', (e) => { if (e.code === 'Space' && !e.repeat && mode === 'ptt') { e.preventDefault(); pttOn(); } });
document.addEventListener('keyup', (e) => { if (e.code === 'Space' && mode === 'ptt') { e.preventDefault(); pttOff(); } });
navigator.mediaDevices.addEventListener && navigator.mediaDevices.addEventListener('devicechange', listMics);
listMics().catch(() => {});
refresh(); setInterval(refresh, 2000);
