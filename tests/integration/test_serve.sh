#!/usr/bin/env bash
# voxfit serve from the outside, on a tiny model made by mkmodel: curl and
# the official openai npm package against the real server on loopback
# (non-streaming, streaming, abort mid-stream, 8 parallel streams with exact
# token counts), every kind of bad input (malformed JSON, wrong types,
# unknown fields, invalid UTF-8, huge bodies, a prompt longer than the
# context, slow-loris headers) each answered with its error while the
# server keeps serving, auth, /health, /metrics, JSON logs, a full queue
# (429 + Retry-After), graceful shutdown, the planner's refusal, --config.
set -u
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is needed"
command -v node >/dev/null || fail "node is needed"

"$VOXFIT" dev mkmodel --like tiny -o "$T/tiny.gguf" >/dev/null || fail "mkmodel"
EOG=1016,1018   # <|endoftext|> <|im_end|> of mkmodel's tiny vocabulary
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

# start_server LOG ARGS...: start on a free port; sets PORT and PID
start_server() {
  local log=$1; shift
  "$VOXFIT" serve --port 0 --device cpu "$@" > "$log" 2>&1 &
  PID=$!; PIDS+=("$PID")
  for _ in $(seq 1 200); do
    PORT=$(sed -n 's/.*listening on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$log" | head -1)
    [ -n "$PORT" ] && curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0
    kill -0 "$PID" 2>/dev/null || { cat "$log" >&2; fail "the server exited"; }
    sleep 0.05
  done
  cat "$log" >&2; fail "the server did not become ready"
}
# req METHOD PATH [curl args...]: prints "STATUS BODY" (body on one line)
req() {
  local m=$1 p=$2; shift 2
  curl -s -o "$T/body" -w '%{http_code}' -X "$m" "http://127.0.0.1:$PORT$p" "$@" > "$T/code"
  echo "$(cat "$T/code") $(tr -d '\n' < "$T/body")"
}
chat() { req POST /v1/chat/completions -H 'Content-Type: application/json' "$@"; }
expect() { # expect STATUS CODE_OR_TEXT "output of req"
  case "$3" in "$1 "*) ;; *) fail "expected status $1, got: ${3:0:300} (line ${BASH_LINENO[0]})";; esac
  [ -z "$2" ] || case "$3" in *"$2"*) ;; *) fail "expected '$2' in: ${3:0:300} (line ${BASH_LINENO[0]})";; esac
}
alive() { expect 200 '"status":"ok"' "$(req GET /health)"; }
MSG='"messages":[{"role":"user","content":"hello"}]'

# --- help, and the planner refuses what does not fit before loading anything
"$VOXFIT" serve --help | grep -q -- "--api-key" || fail "serve --help does not list --api-key"
"$VOXFIT" serve --help | grep -q "default: 8002" || fail "serve --help does not show the port default"
out=$("$VOXFIT" serve --device cpu --llm "$T/tiny.gguf" --margin 100000GiB --port 0 2>&1); rc=$?
expect_code 1 $rc
echo "$out" | grep -q "does not fit" || fail "no refusal message: $out"
echo "$out" | grep -q "KV = " || fail "the refusal does not explain the plan: $out"
echo "$out" | grep -q "listening" && fail "the server started although the plan does not fit"
"$VOXFIT" serve --llm "$T/nothing.gguf" --device cpu 2>/dev/null; [ $? -ne 0 ] || fail "missing model accepted"
"$VOXFIT" serve --port 99999 2>/dev/null; expect_code 2 $?

# --- the main server: API key, small bounds, short timeouts, JSON logs
start_server "$T/serve.log" --llm "$T/tiny.gguf" --sessions 4 --queue 4 --api-key sekrit \
  --max-body 64KiB --request-timeout 1500 --log-format json --ctx 1024 --max-ctx 1024
A=(-H 'Authorization: Bearer sekrit')
B="http://127.0.0.1:$PORT"

# health and metrics need no key; the API does
h=$(req GET /health); expect 200 '"state":"ready"' "$h"
echo "$h" | grep -q '"memory":\[{"device":"CPU"' || fail "health has no memory per device: $h"
echo "$h" | grep -q '"kv":' || fail "health has no KV bytes: $h"
expect 401 '"code":"invalid_api_key"' "$(req GET /v1/models)"
expect 401 '"code":"invalid_api_key"' "$(req GET /v1/models -H 'Authorization: Bearer nope')"
expect 200 '"id":"tiny"' "$(req GET /v1/models "${A[@]}")"
expect 200 '"object":"model"' "$(req GET /v1/models/tiny "${A[@]}")"
expect 404 '"code":"model_not_found"' "$(req GET /v1/models/other "${A[@]}")"
expect 404 '"type":"not_found_error"' "$(req GET /nowhere)"
expect 405 '"code":"method_not_allowed"' "$(req GET /v1/chat/completions "${A[@]}")"

# a plain answer with curl, OpenAI's shape
r=$(chat "${A[@]}" -d "{\"model\":\"tiny\",$MSG,\"max_tokens\":8,\"logit_bias\":{\"1016\":-100,\"1018\":-100}}")
expect 200 '"object":"chat.completion"' "$r"
echo "${r#200 }" > "$T/r.json"
node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
const need = (c, m) => { if (!c) { console.error("shape: " + m + ": " + JSON.stringify(j)); process.exit(1); } };
need(/^chatcmpl-/.test(j.id), "id"); need(j.model === "tiny", "model"); need(typeof j.created === "number", "created");
need(j.choices.length === 1 && j.choices[0].message.role === "assistant", "message");
need(j.choices[0].finish_reason === "length", "finish_reason");
need(j.usage.completion_tokens === 8 && j.usage.total_tokens === j.usage.prompt_tokens + 8, "usage");
' "$T/r.json" || fail "response shape"

# SSE with curl: role first, content deltas, finish chunk, usage chunk, [DONE]
curl -sN "${A[@]}" "$B/v1/chat/completions" -d "{\"model\":\"tiny\",$MSG,\"max_tokens\":6,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"logit_bias\":{\"1016\":-100,\"1018\":-100}}" > "$T/sse.txt"
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n\n").filter(Boolean);
const fail = (m) => { console.error("SSE: " + m + "\n" + lines.join("\n")); process.exit(1); };
if (lines.pop() !== "data: [DONE]") fail("no [DONE] at the end");
const ev = lines.map((l) => { if (!l.startsWith("data: ")) fail("not a data line: " + l); return JSON.parse(l.slice(6)); });
if (ev[0].choices[0].delta.role !== "assistant") fail("first chunk has no role");
const u = ev.pop(); if (u.choices.length !== 0 || u.usage.completion_tokens !== 6) fail("usage chunk");
const f = ev.pop(); if (f.choices[0].finish_reason !== "length" || Object.keys(f.choices[0].delta).length) fail("finish chunk");
for (const e of ev) if (e.object !== "chat.completion.chunk" || e.usage !== null) fail("chunk shape");
' "$T/sse.txt" || fail "SSE stream"
# HTTP/1.0 clients get the stream without chunked encoding
curl -s0N "${A[@]}" "$B/v1/chat/completions" -d "{\"model\":\"tiny\",$MSG,\"max_tokens\":3,\"stream\":true}" | grep -q "data: \[DONE\]" \
  || fail "no stream over HTTP/1.0"

# keep-alive: several requests over one connection
n=$(curl -sv "${A[@]}" "$B/v1/models" "$B/v1/models" "$B/health" 2>&1 | grep -c "Re-using existing connection")
[ "$n" -ge 2 ] || fail "keep-alive: connection not reused"

# --- bad input: each gets its error, the server keeps serving
expect 400 '"code":"invalid_json"' "$(chat "${A[@]}" -d '{"model":"tiny","messages":[')"
expect 400 '"param":"max_tokens"' "$(chat "${A[@]}" -d "{\"model\":\"tiny\",$MSG,\"max_tokens\":\"many\"}")"
expect 400 '"param":"temperature"' "$(chat "${A[@]}" -d "{\"model\":\"tiny\",$MSG,\"temperature\":3}")"
expect 400 '"param":"messages"' "$(chat "${A[@]}" -d '{"model":"tiny","messages":"hello"}')"
expect 400 '"param":"messages[0].role"' "$(chat "${A[@]}" -d '{"model":"tiny","messages":[{"role":"wizard","content":"x"}]}')"
expect 400 '"param":"messages[0].content[0]"' "$(chat "${A[@]}" -d '{"model":"tiny","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}')"
expect 400 'Unrecognized request argument supplied: frobnicate' "$(chat "${A[@]}" -d "{\"model\":\"tiny\",$MSG,\"frobnicate\":1}")"
expect 400 '"param":"model"' "$(chat "${A[@]}" -d "{$MSG}")"
expect 400 '"param":"stream_options"' "$(chat "${A[@]}" -d "{\"model\":\"tiny\",$MSG,\"stream_options\":{\"include_usage\":true}}")"
printf '{"model":"tiny","messages":[{"role":"user","content":"\xc3\x28"}]}' > "$T/bad-utf8.json"
expect 400 '"code":"invalid_encoding"' "$(chat "${A[@]}" --data-binary @"$T/bad-utf8.json")"
head -c 200000 /dev/zero | tr '\0' 'a' > "$T/huge.txt"
expect 413 '"code":"request_too_large"' "$(chat "${A[@]}" --data-binary @"$T/huge.txt")"
node -e 'process.stdout.write(JSON.stringify({model:"tiny",messages:[{role:"user",content:"hello ".repeat(3000)}]}))' > "$T/long.json"
expect 400 '"code":"context_length_exceeded"' "$(chat "${A[@]}" --data-binary @"$T/long.json")"
big=$(head -c 20000 /dev/zero | tr '\0' 'x')
# civetweb 1.15 answers oversized headers with 400 (not 413); the message says why
expect 400 'larger than 16384 bytes' "$(req GET /health -H "X-Big: $big")"
alive

# slow-loris: headers that never finish are cut off after --request-timeout
# (1.5 s) while other clients are served
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' >&3
t0=$(date +%s%N)
( for i in 1 2 3 4 5 6 7 8 9 10; do printf 'X-Slow-%d: 1\r\n' $i >&3 2>/dev/null || exit 0; sleep 0.4; done ) &
PIDS+=($!)
alive
timeout 8 cat <&3 > "$T/loris.txt"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
exec 3>&-
[ $rc -eq 0 ] || fail "slow-loris connection still open after 8 s"
[ $ms -lt 6000 ] || fail "slow-loris cut off only after $ms ms"
alive

# a body that never finishes: the request is dropped, others go on
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekrit\r\nContent-Length: 500\r\n\r\n{"model":' >&4
alive
timeout 10 cat <&4 > "$T/slowbody.txt"; [ $? -eq 0 ] || fail "slow body connection still open after 10 s"
exec 4>&-
alive

# --- the official openai package: npm-installed into the build tree
JS="$VF_TMP/serve-js"
mkdir -p "$JS"
cp "$(dirname "$0")/js/package.json" "$(dirname "$0")/js/serve_openai.mjs" "$JS/"
if [ ! -f "$JS/node_modules/openai/package.json" ] || \
   ! grep -q '"version": "5.23.2"' "$JS/node_modules/openai/package.json"; then
  (cd "$JS" && npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1) || fail "npm install openai failed"
fi
node "$JS/serve_openai.mjs" "$B" sekrit tiny "$EOG" || fail "openai client tests"
alive

# --- a full queue: 4 slots + 4 waiting, the rest get 429 with Retry-After
QP=()
for i in $(seq 1 12); do
  curl -s -o "$T/q$i.txt" -w '%{http_code}\n' -D "$T/qh$i.txt" "${A[@]}" "$B/v1/chat/completions" \
    -d "{\"model\":\"tiny\",$MSG,\"max_tokens\":900,\"logit_bias\":{\"1016\":-100,\"1018\":-100}}" > "$T/qc$i.txt" &
  QP+=($!)
done
wait "${QP[@]}"
n200=$(cat "$T"/qc*.txt | grep -c '^200$'); n429=$(cat "$T"/qc*.txt | grep -c '^429$')
[ "$n200" -ge 8 ] || fail "only $n200 of 12 requests were served with a queue of 4 + 4 slots"
[ "$n429" -ge 1 ] || fail "no 429 when 12 requests hit 4 slots + 4 queue places"
grep -qi '^Retry-After:' $(grep -l '^429$' "$T"/qc*.txt | sed 's/qc/qh/') || fail "429 without Retry-After"
alive

# --- metrics and logs
m=$(curl -s "$B/metrics")
for k in voxfit_http_requests_total voxfit_llm_prompt_tokens_total voxfit_llm_completion_tokens_total \
         voxfit_llm_time_to_first_token_seconds_bucket voxfit_llm_inter_token_latency_seconds_bucket \
         voxfit_llm_queue_depth voxfit_device_memory_total_bytes voxfit_llm_buffer_bytes \
         voxfit_http_request_errors_total; do
  echo "$m" | grep -q "^$k" || fail "metrics lack $k"
done
echo "$m" | grep -q 'status="429"' || fail "metrics do not count the 429s"
grep -q '"msg":"request","method":"POST","path":"/v1/chat/completions","status":200,"tokens_in":' "$T/serve.log" \
  || fail "no JSON request log line"
node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean)) JSON.parse(l)' \
  "$T/serve.log" || fail "a log line is not JSON"

# --- graceful shutdown: a running stream finishes, new requests get 503
curl -sN "${A[@]}" "$B/v1/chat/completions" -d "{\"model\":\"tiny\",$MSG,\"max_tokens\":300,\"stream\":true,\"logit_bias\":{\"1016\":-100,\"1018\":-100}}" > "$T/last.txt" &
cpid=$!
sleep 0.05
kill -TERM "$PID"
wait "$cpid"
wait "$PID"; rc=$?
[ $rc -eq 0 ] || fail "serve exited with $rc after SIGTERM"
tail -c 20 "$T/last.txt" | grep -q "\[DONE\]" || fail "the stream in flight was not finished on SIGTERM"
grep -q '"msg":"stopped' "$T/serve.log" || fail "no 'stopped' log line"

# --- a stream still running when the grace time ends is cancelled with an error event
printf 'llm: %s\nport: 0\nsessions: 2\nshutdown-grace: 200\nctx: 8192\nmax-ctx: 8192\n' "$T/tiny.gguf" > "$T/serve.yaml"
start_server "$T/serve2.log" --config "$T/serve.yaml"
curl -sN "http://127.0.0.1:$PORT/v1/chat/completions" -d "{\"model\":\"tiny\",$MSG,\"max_tokens\":1000000,\"stream\":true,\"logit_bias\":{\"1016\":-100,\"1018\":-100}}" > "$T/cut.txt" &
cpid=$!
sleep 0.2
kill -INT "$PID"
wait "$cpid"; wait "$PID"; rc=$?
[ $rc -eq 0 ] || fail "serve exited with $rc after SIGINT"
grep -q '"code":"server_shutting_down"' "$T/cut.txt" || fail "the cancelled stream got no error event: $(tail -c 300 "$T/cut.txt")"
grep -q "sessions 2\|-np 2" "$T/serve2.log" || fail "--config sessions were not used: $(head -3 "$T/serve2.log")"
pass
