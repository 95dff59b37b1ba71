#!/usr/bin/env bash
# voxfit serve --llm http://.../v1: the LLM stage on another OpenAI-compatible
# server, here a second voxfit on a tiny mkmodel model. Checks /health while
# the upstream is down (503, failed + why) and up, the upstream's model id,
# answers and SSE streams relayed as they arrive with the upstream's usage,
# upstream errors keeping their status, the upstream key, and that a client
# disconnecting from the front server stops the upstream generation.
set -u
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is needed"
"$VOXFIT" dev mkmodel --like tiny -o "$T/tiny.gguf" >/dev/null || fail "mkmodel"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done' EXIT
port_of() { sed -n 's/.*listening on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$1" | head -1; }
wait_port() { # LOG PID -> prints the port once listening
  for _ in $(seq 1 200); do
    p=$(port_of "$1"); [ -n "$p" ] && { echo "$p"; return 0; }
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.05
  done
  return 1
}
NOEOG='"logit_bias":{"1016":-100,"1018":-100}'
MSG='"messages":[{"role":"user","content":"hello"}]'

# the front server first, pointing at a port where nothing listens yet
free_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$VOXFIT" serve --port 0 --llm "http://127.0.0.1:$free_port/v1" --llm-api-key upkey > "$T/front.log" 2>&1 &
FPID=$!; PIDS+=($FPID)
FP=$(wait_port "$T/front.log" $FPID) || fail "front server did not start"
F="http://127.0.0.1:$FP"
sleep 0.3
code=$(curl -s -o "$T/h.json" -w '%{http_code}' "$F/health")
[ "$code" = 503 ] || fail "health is $code while the upstream is down"
grep -q '"state":"failed"' "$T/h.json" && grep -q '"error":"http' "$T/h.json" || fail "health does not say why: $(cat "$T/h.json")"
code=$(curl -s -o "$T/c.json" -w '%{http_code}' "$F/v1/chat/completions" -d "{\"model\":\"x\",$MSG}")
[ "$code" = 503 ] || [ "$code" = 404 ] || fail "chat while the upstream is down: $code $(cat "$T/c.json")"

# now the upstream, with its own key
"$VOXFIT" serve --port "$free_port" --device cpu --llm "$T/tiny.gguf" --api-key upkey --ctx 1024 --max-ctx 1024 \
  > "$T/up.log" 2>&1 &
UPID=$!; PIDS+=($UPID)
wait_port "$T/up.log" $UPID >/dev/null || fail "upstream did not start"
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$F/health")" = 200 ] && break; sleep 0.1
done
curl -s "$F/health" | grep -q '"backend":"remote"' || fail "front not ready: $(curl -s "$F/health")"
curl -s "$F/v1/models" | grep -q '"id":"tiny"' || fail "the upstream's model id is not served"

# a plain answer relayed, with the upstream's usage
r=$(curl -s "$F/v1/chat/completions" -d "{\"model\":\"tiny\",$MSG,\"max_tokens\":7,$NOEOG}")
echo "$r" | grep -q '"completion_tokens":7' || fail "relayed answer: $r"
echo "$r" | grep -q '"finish_reason":"length"' || fail "relayed finish_reason: $r"

# a stream relayed chunk by chunk: the front's chunks arrive while the
# upstream is still generating (first chunk long before the last)
node -e '
const [base] = process.argv.slice(1);
(async () => {
  const t0 = Date.now();
  const r = await fetch(base + "/v1/chat/completions", { method: "POST",
    body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 400, stream: true,
      stream_options: { include_usage: true }, logit_bias: { "1016": -100, "1018": -100 } }) });
  if (r.status !== 200) throw new Error("status " + r.status);
  let first = 0, text = "", buf = "", usage = null, done = false;
  const dec = new TextDecoder();
  for await (const part of r.body) {
    if (!first) first = Date.now() - t0;
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      if (ev === "data: [DONE]") { done = true; continue; }
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      if (j.choices.length && j.choices[0].delta.content) text += j.choices[0].delta.content;
    }
  }
  const total = Date.now() - t0;
  if (!done || !usage || usage.completion_tokens !== 400) throw new Error("bad stream: " + JSON.stringify(usage));
  console.log(`relayed stream: first bytes after ${first} ms, all after ${total} ms`);
})().catch((e) => { console.error(e); process.exit(1); });
' "$F" || fail "relayed stream"

# upstream errors keep their status: a prompt too long for the upstream context
node -e 'process.stdout.write(JSON.stringify({model:"tiny",messages:[{role:"user",content:"hello ".repeat(3000)}]}))' > "$T/long.json"
code=$(curl -s -o "$T/e.json" -w '%{http_code}' "$F/v1/chat/completions" --data-binary @"$T/long.json")
[ "$code" = 400 ] || fail "upstream 400 came back as $code: $(cat "$T/e.json")"
grep -q "maximum context length" "$T/e.json" || fail "upstream message lost: $(cat "$T/e.json")"
# and the front validates before sending anything upstream
code=$(curl -s -o /dev/null -w '%{http_code}' "$F/v1/chat/completions" -d '{"model":"tiny","messages":[],"x":1}')
[ "$code" = 400 ] || fail "bad request relayed: $code"

# a client that disconnects from the front stops the upstream's generation
before=$(curl -s "http://127.0.0.1:$free_port/metrics" | sed -n 's/^voxfit_llm_cancelled_total //p')
curl -sN "$F/v1/chat/completions" -d "{\"model\":\"tiny\",$MSG,\"max_tokens\":900,\"stream\":true,$NOEOG}" \
  --max-time 0.15 > /dev/null 2>&1
ok=0
for _ in $(seq 1 60); do
  after=$(curl -s "http://127.0.0.1:$free_port/metrics" | sed -n 's/^voxfit_llm_cancelled_total //p')
  [ "${after:-0}" -gt "${before:-0}" ] && { ok=1; break; }
  sleep 0.05
done
[ $ok = 1 ] || fail "the upstream did not see the cancellation"

kill -TERM $FPID; wait $FPID || fail "front server did not stop cleanly"
kill -TERM $UPID; wait $UPID || fail "upstream did not stop cleanly"
pass
