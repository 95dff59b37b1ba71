#!/usr/bin/env bash
# Run every libFuzzer target in BUILD for SECONDS each on its seed corpus
# (fuzz/corpus/<name>/, seeded from tests/data and generated models) and
# keep what it finds in a scratch corpus. Exits non-zero on the first crash.
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-30}
here=$(cd "$(dirname "$0")/.." && pwd)
status=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); name=${name#fuzz_}
  seed="$here/fuzz/corpus/$name"
  work="$build/fuzz-work/$name"
  mkdir -p "$work" "$seed"
  echo "== fuzz $name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$build/fuzz-work/${name}-" "$work" "$seed" > "$build/fuzz-work/$name.log" 2>&1; then
    echo "fuzz $name found a failure:"; tail -40 "$build/fuzz-work/$name.log"; status=1
  else
    grep -E "^(#[0-9]+|Done)" "$build/fuzz-work/$name.log" | tail -1
  fi
done
exit $status
