#!/usr/bin/env bash
# make valgrind: every unit test binary under valgrind's memcheck; fails on
# any invalid access, use of uninitialised memory or definite leak.
set -u
build=${1:-build}
status=0
export VF_TMP="$PWD/$build/valgrind-tmp"
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  log="$build/valgrind-$(basename "$t").log"
  if valgrind --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite -q "$t" > "$log" 2>&1; then
    echo "clean: $(basename "$t")"
  else
    echo "FAILED: $(basename "$t") (see $log)"; status=1
  fi
done
exit $status
