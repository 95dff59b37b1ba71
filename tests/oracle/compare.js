// compare.js - compare a `voxfit transcribe --json --tokens` result with
// whisper_oracle.c's JSON (or transcribe.js's, which has text and times but
// no tokens). Prints one line; exits 1 on a difference unless --report.
//   node compare.js VOXFIT.json ORACLE.json [label] [--report]
'use strict';
const fs = require('fs');

// Bytes as voxfit's JSON writes them: each byte of an invalid UTF-8
// sequence becomes U+FFFD (src/cli/cmd_transcribe.c utf8_clean).
function cleanUtf8(buf) {
  let out = '';
  for (let i = 0; i < buf.length;) {
    const c = buf[i];
    const len = c < 0x80 ? 1 : (c >> 5) === 6 ? 2 : (c >> 4) === 14 ? 3 : (c >> 3) === 30 ? 4 : 0;
    let ok = len > 0 && i + len <= buf.length;
    for (let j = 1; ok && j < len; j++) ok = (buf[i + j] >> 6) === 2;
    if (ok && len === 2 && c < 0xc2) ok = false;
    if (ok && len === 3) {
      const cp = ((c & 15) << 12) | ((buf[i + 1] & 63) << 6) | (buf[i + 2] & 63);
      ok = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
    }
    if (ok && len === 4) {
      const cp = ((c & 7) << 18) | ((buf[i + 1] & 63) << 12);
      ok = cp >= 0x10000 && cp <= 0x10ffff;
    }
    if (ok) { out += buf.slice(i, i + len).toString('utf8'); i += len; } else { out += '\ufffd'; i++; }
  }
  return out;
}

function load(path) {
  const j = JSON.parse(fs.readFileSync(path, 'utf8'));
  return j.segments.map((s) => ({
    t0: s.t0_ms !== undefined ? s.t0_ms : s.t0,
    t1: s.t1_ms !== undefined ? s.t1_ms : s.t1,
    text: s.text_hex !== undefined ? cleanUtf8(Buffer.from(s.text_hex, 'hex')) : s.text,
    tokens: s.tokens ? s.tokens.map((t) => t[0]) : null,
  }));
}

const args = process.argv.slice(2).filter((a) => a !== '--report');
const report = process.argv.includes('--report');
const [mine, oracle, label = 'result'] = args;
const a = load(mine), b = load(oracle);
const flat = (x) => x.flatMap((s) => s.tokens || []);
const ta = flat(a), tb = flat(b);
let first = -1;
for (let i = 0; i < Math.max(ta.length, tb.length); i++) {
  if (ta[i] !== tb[i]) { first = i; break; }
}
const haveTokens = a.every((s) => s.tokens) && b.every((s) => s.tokens);
// whisper.cpp starts a segment at the most likely timestamp of its first
// token, initialised to token 0 instead of <|0.00|>: when every timestamp
// has probability 0 (they underflow at high temperatures) its segment
// starts at -1007.26 s past the window. voxfit starts it at the window.
let negative = 0;
const sameTimes = a.length === b.length && a.every((s, i) => {
  if (b[i].t0 < 0 && s.t0 >= 0 && s.t1 === b[i].t1) { negative++; return true; }
  return s.t0 === b[i].t0 && s.t1 === b[i].t1;
});
const sameText = a.map((s) => s.text).join('') === b.map((s) => s.text).join('');
const sameTokens = !haveTokens || first < 0;
const ok = sameTimes && sameText && sameTokens;
let line = `${label}: ${a.length}/${b.length} segments, ` +
  (haveTokens ? `${ta.length}/${tb.length} tokens, ` : '') +
  `times ${sameTimes ? 'equal' : 'differ'}, text ${sameText ? 'equal' : 'differs'}` +
  (haveTokens ? `, tokens ${first < 0 ? 'equal' : `first differ at ${first} (${ta[first]} vs ${tb[first]})`}` : '');
if (haveTokens && first >= 0) line += `, common prefix ${first} tokens`;
if (negative) line += ` (${negative} segment start${negative > 1 ? 's' : ''} negative in whisper.cpp, its timestamp-0 bug)`;
console.log(line);
process.exit(ok || report ? 0 : 1);
