#!/usr/bin/env bash
# voxfit gpu from the outside, without a GPU: the system-memory view, then a
# fake libnvidia-ml.so.1 (tests/fakenvml) with fixed devices and processes
# whose command lines come from /proc, the R535 32-byte process entries,
# a driver/library mismatch, JSON, and --watch until a signal.
set -u
. "$(dirname "$0")/lib.sh"
FAKE="$(dirname "$VOXFIT")/tests/fakenvml/libnvidia-ml.so.1"
[ -f "$FAKE" ] || fail "fake NVML library not built: $FAKE"

out=$("$VOXFIT" gpu --help); expect_code 0 $?
for f in --watch --count --json; do echo "$out" | grep -q -- "$f" || fail "gpu --help lacks $f"; done
"$VOXFIT" gpu --watch -1 2>/dev/null; expect_code 2 $?

# --- no driver: it says so and shows the system's memory
out=$(VOXFIT_NVML_LIB=/nonexistent/libnvidia-ml.so.1 "$VOXFIT" gpu); expect_code 0 $?
echo "$out" | grep -q "no NVIDIA GPU" || fail "no-GPU view does not say so: $out"
echo "$out" | grep -q "system memory:" || fail "no-GPU view lacks system memory"
VOXFIT_NVML_LIB=/nonexistent/libnvidia-ml.so.1 "$VOXFIT" gpu --json > "$T/nogpu.json"; expect_code 0 $?
[ "$(json_get "$T/nogpu.json" 'j.nvml')" = false ] || fail "json nvml should be false"
[ "$(json_get "$T/nogpu.json" 'j.system.total_bytes > 0 && j.gpus.length === 0')" = true ] || fail "json system memory"

# --- a fake GPU with two processes: a marked sleeper and this shell
export VOXFIT_NVML_LIB="$FAKE"
bash -c 'exec -a vf-gpu-test-marker sleep 60' & SLP=$!
sleep 0.2
export FAKE_NVML_PROCS="$SLP:4294967296,$$:536870912"
out=$("$VOXFIT" gpu); expect_code 0 $?
echo "$out" | grep -q "NVIDIA H100 80GB HBM3" || fail "device name missing"
echo "$out" | grep -q "81559 MiB" || fail "nvidia-smi total (81559 MiB) missing: $out"
echo "$out" | grep -q "81079 MiB" || fail "CUDA total (81079 MiB) missing"
echo "$out" | grep -E "^ +0 +$SLP +C +4096 MiB +vf-gpu-test-marker 60" >/dev/null || fail "process line with command missing: $out"
echo "$out" | grep -q "37%" || fail "utilization missing"
echo "$out" | grep -q "41C" || fail "temperature missing"
"$VOXFIT" gpu --json > "$T/g.json"; expect_code 0 $?
node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
const pid = +process.argv[2];
const g = j.gpus[0];
const ok = j.nvml && j.driver === "580.159.04" && j.gpus.length === 2 && g.total_bytes === 85520809984 &&
  g.reserved_bytes === 503316480 && g.cuda_total_bytes === 85017493504 && g.utilization_percent === 37 &&
  g.temperature_c === 41 && g.process_entry_bytes === 24 && !g.process_entry_size_corrected;
const p = g.processes.find(p => p.pid === pid);
if (!ok || !p || p.used_bytes !== 4294967296 || !/vf-gpu-test-marker/.test(p.command) || p.type !== "compute") {
  console.error(JSON.stringify(j, null, 1)); process.exit(1); }
' "$T/g.json" "$SLP" || fail "gpu --json fields"

# --- the R535 trap: entries written 32 bytes apart are still read right
out=$(FAKE_NVML_MODE=trap32 "$VOXFIT" gpu); expect_code 0 $?
echo "$out" | grep -q "R535" || fail "trap32: no note about the 32-byte entries: $out"
echo "$out" | grep -E "^ +0 +$$ +C +512 MiB" >/dev/null || fail "trap32: second process misread: $out"
FAKE_NVML_MODE=trap32 "$VOXFIT" gpu --json > "$T/t.json"
[ "$(json_get "$T/t.json" 'j.gpus[0].process_entry_bytes + ":" + j.gpus[0].processes.map(p => p.pid).join(",")')" = "32:$SLP,$$" ] \
  || fail "trap32: pids or entry size wrong: $(cat "$T/t.json")"

# --- a driver that refuses: exit 1 and the reason
out=$(FAKE_NVML_MODE=mismatch "$VOXFIT" gpu 2>&1); expect_code 1 $?
echo "$out" | grep -q "version mismatch" || fail "mismatch not reported: $out"
echo "$out" | grep -q "system memory:" || fail "mismatch: no system memory shown"
out=$(FAKE_NVML_MODE=nogpu "$VOXFIT" gpu); expect_code 0 $?
echo "$out" | grep -q "reports none" || fail "zero devices not reported: $out"

# --- --watch: one JSON object per refresh; a signal ends it cleanly
"$VOXFIT" gpu --watch 0.1 --count 3 --json > "$T/w.jsonl"; expect_code 0 $?
[ "$(wc -l < "$T/w.jsonl")" = 3 ] || fail "--watch --count 3 did not print 3 lines"
node -e 'require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").forEach(l => JSON.parse(l))' "$T/w.jsonl" \
  || fail "--watch lines are not JSON"
"$VOXFIT" gpu --watch 0.2 > "$T/w.txt" & W=$!
sleep 1; kill -TERM $W; wait $W; expect_code 0 $?
[ "$(grep -c "NVIDIA driver" "$T/w.txt")" -ge 2 ] || fail "--watch did not refresh"
kill $SLP 2>/dev/null; wait $SLP 2>/dev/null
pass
