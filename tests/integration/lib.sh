# lib.sh - helpers for the integration tests (sourced). Each test gets a
# fresh scratch folder $T; fail() stops with a message; pass() prints the
# closing line CTest shows.
T="${VF_TMP:-/tmp/voxfit-test}/$(basename "$0" .sh)"
rm -rf "$T" && mkdir -p "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $(basename "$0" .sh)"; exit 0; }
expect_code() { [ "$1" = "$2" ] || fail "expected exit code $1, got $2 (line ${BASH_LINENO[0]})"; }
# json_get FILE EXPR: print a JS expression over the parsed file bound to j
json_get() { node -e "const j=JSON.parse(require('fs').readFileSync(process.argv[1]));console.log($2)" "$1"; }
