// e2e.js - the voice page end to end in Debian's headless Chromium, driven
// by playwright-core. Chromium's fake microphone plays a WAV made with
// espeak-ng; the page must load, connect, have the utterance detected by
// the server's VAD, show the transcript and the streamed reply, and receive
// and play reply audio. With "barge-in", the WAV speaks again while the
// reply plays: the reply must be interrupted (playback flushed, the server
// told what was heard, the response cut) and the second turn answered.
//   node e2e.js URL WAV basic|barge-in SCREENSHOT
'use strict';
const { chromium } = require('playwright-core');

const [url, wav, mode, shot] = process.argv.slice(2);
const T0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);
function fail(msg) { console.error('FAIL:', msg); process.exitCode = 1; }

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}%noloop`,
      '--autoplay-policy=no-user-gesture-required', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      '--disable-default-apps', '--disable-extensions'],
  });
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') log('page error:', m.text()); });
  page.on('pageerror', (e) => fail('page exception: ' + e.message));
  try {
    await page.goto(url);
    await page.waitForSelector('#start');
    const title = await page.title();
    if (!/voxfit/.test(title)) fail('title: ' + title);
    await page.click('#start');
    await page.waitForFunction(() => window.voxfit.connected, null, { timeout: 10000 });
    log('connected; mic devices:', await page.$$eval('#mic option', (o) => o.length));
    await page.waitForFunction(() => window.voxfit.events.includes('input_audio_buffer.speech_started'), null, { timeout: 20000 });
    log('speech detected');
    await page.waitForFunction(() => window.voxfit.users.length >= 1, null, { timeout: 150000 });
    log('transcript:', JSON.stringify(await page.evaluate(() => window.voxfit.users[0])));
    await page.waitForFunction(() => window.voxfit.audioDeltas > 0, null, { timeout: 120000 });
    log('reply audio arriving');
    await page.waitForFunction(() => window.voxfit.playedSamples > 12000, null, { timeout: 20000 });
    log('reply audio playing:', await page.evaluate(() => window.voxfit.playedSamples), 'samples played');
    const reply = await page.$eval('#assistant-text', (e) => e.textContent);
    if (!reply.trim()) fail('no assistant text on the page');
    const logText = await page.$eval('#log', (e) => e.textContent);
    if (!/You: /.test(logText) || !/Assistant: \s*\S/.test(logText)) fail('conversation log incomplete: ' + logText.slice(0, 200));
    if (mode === 'barge-in') {
      await page.waitForFunction(() => window.voxfit.interrupted >= 1 ||
        window.voxfit.replies.some((r) => r.status === 'cancelled'), null, { timeout: 60000 });
      const v = await page.evaluate(() => ({ interrupted: window.voxfit.interrupted, replies: window.voxfit.replies.map((r) => r.status),
        truncated: window.voxfit.events.filter((e) => e === 'conversation.item.truncated').length }));
      log('interrupted:', JSON.stringify(v));
      // interrupted while still generating (response cancelled) or while
      // playing after it was generated (item truncated to what was heard)
      if (!v.truncated && !v.replies.includes('cancelled')) fail('the reply was neither cancelled nor truncated');
      await page.waitForFunction(() => window.voxfit.users.length >= 2, null, { timeout: 150000 });
      log('second turn transcribed');
      await page.waitForFunction(() => window.voxfit.replies.length >= 2, null, { timeout: 120000 });
      log('second reply done');
    } else {
      await page.waitForFunction(() => window.voxfit.turns.length >= 1, null, { timeout: 120000 });
      const t = await page.evaluate(() => window.voxfit.turns[0]);
      log('turn timings (client, ms):', Math.round(t.transcript - t.speechEnd), Math.round(t.firstToken - t.speechEnd),
        Math.round(t.firstAudio - t.speechEnd), 'server:', JSON.stringify(t.server));
      const rows = await page.$$eval('#timings tbody tr', (r) => r.length);
      if (rows < 1) fail('no timing row');
      await page.waitForFunction(() => document.querySelector('#memory .dev'), null, { timeout: 10000 });
      log('memory panel:', (await page.$eval('#memory', (e) => e.textContent)).slice(0, 120));
    }
    const errs = await page.evaluate(() => window.voxfit.errors);
    if (errs.length) fail('errors on the page: ' + JSON.stringify(errs));
  } catch (e) {
    fail(e.message);
    try { log('events:', JSON.stringify(await page.evaluate(() => window.voxfit.events.slice(-30)))); } catch (_) {}
  } finally {
    if (shot) await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    await browser.close();
  }
  log(process.exitCode ? 'failed' : 'passed');
})();
