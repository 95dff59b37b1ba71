// transcribe.js - transcribe one file with upstream whisper.cpp through its
// Node binding (@fugood/whisper.node), the way a JavaScript user would, and
// print {ms, text, segments: [{text, t0, t1}]} as JSON. The oracle test uses
// it next to whisper_oracle.c (which reaches token ids and the spectrogram
// through the C API of the same binary) to check that both drive the same
// engine the same way.
//   node transcribe.js MODEL AUDIO.wav [language] [threads]
'use strict';
const { initWhisper } = require('@fugood/whisper.node');

async function main() {
  const [model, audio, language = 'en', threads = '2'] = process.argv.slice(2);
  if (!model || !audio) {
    console.error('usage: node transcribe.js MODEL AUDIO.wav [language] [threads]');
    process.exit(2);
  }
  const ctx = await initWhisper({ filePath: model, useGpu: false, useFlashAttn: false });
  const t0 = Date.now();
  // greedy at temperature 0 without fallback, as the C driver's default run
  const { promise } = ctx.transcribeFile(audio, {
    language, temperature: 0, temperatureInc: 0, maxThreads: Number(threads),
  });
  const r = await promise;
  console.log(JSON.stringify({ ms: Date.now() - t0, text: r.result, segments: r.segments }));
  await ctx.release();
}

main().catch((e) => { console.error(String(e)); process.exit(1); });
