// worklet.js - the page's two audio worklets. "capture" posts the
// microphone's samples (mono) to the page; "playback" plays queued PCM
// chunks, can be flushed at once (barge-in) and reports how many samples
// have been played so the page can tell the server what was heard.
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const ch = inputs[0];
    if (ch && ch.length) {
      const n = ch[0].length, out = new Float32Array(n);
      for (let c = 0; c < ch.length; c++) for (let i = 0; i < n; i++) out[i] += ch[c][i] / ch.length;
      this.port.postMessage(out, [out.buffer]);
    }
    return true;
  }
}
registerProcessor('capture', Capture);

class Playback extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = []; this.off = 0; this.played = 0; this.gen = 0; this.last = 0;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'push') this.queue.push(m.pcm);
      else if (m.type === 'flush') { this.queue = []; this.off = 0; this.gen = m.gen; this.played = 0; }
      else if (m.type === 'reset') { this.played = 0; this.gen = m.gen; }
    };
  }
  process(inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    while (i < out.length && this.queue.length) {
      const buf = this.queue[0], k = Math.min(out.length - i, buf.length - this.off);
      out.set(buf.subarray(this.off, this.off + k), i);
      i += k; this.off += k; this.played += k;
      if (this.off >= buf.length) { this.queue.shift(); this.off = 0; }
    }
    for (; i < out.length; i++) out[i] = 0;
    if (currentTime - this.last > 0.05 || !this.queue.length) {
      this.last = currentTime;
      this.port.postMessage({played: this.played, queued: this.queue.length, gen: this.gen});
    }
    return true;
  }
}
registerProcessor('playback', Playback);
