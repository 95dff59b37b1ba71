#!/usr/bin/env bash
# make bench: run every benchmark piece under bench/ and refresh its section
# of docs/BENCHMARKS.md. Each piece prints its table and the exact command.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export VOXFIT="$here/build/voxfit" VF_TMP="${VF_TMP:-$here/build/bench-tmp}"
mkdir -p "$VF_TMP"
status=0
section() { # name file: replace "## name" section in docs/BENCHMARKS.md with file's content
  node -e '
    const fs = require("fs");
    const [doc, name, file] = process.argv.slice(1);
    let text = fs.existsSync(doc) ? fs.readFileSync(doc, "utf8") : "# voxfit benchmarks\n";
    const body = "## " + name + "\n\n" + fs.readFileSync(file, "utf8").trim() + "\n";
    const re = new RegExp("## " + name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "\\n[\\s\\S]*?(?=\\n## |$)");
    text = re.test(text) ? text.replace(re, body) : text.trimEnd() + "\n\n" + body;
    fs.writeFileSync(doc, text);
  ' docs/BENCHMARKS.md "$1" "$2"
}
echo "== plan vs measure (llama.cpp buffers, CPU)"
tmp=$VF_TMP/pvm.md
if bench/plan_vs_measure.sh --markdown "$tmp.table"; then :; else status=1; fi
{ echo "Command: \`make bench\` (bench/plan_vs_measure.sh). Models with zero weights at the real shapes"
  echo "(\`voxfit dev mkmodel --weights zeros\`); \`voxfit measure\` loads each with the embedded llama.cpp and"
  echo "reads the buffer sizes llama.cpp allocates; \`voxfit plan --device cpu\` predicts them. Each cell is"
  echo "plan / measured in MiB; worst is the largest relative error of the row (differences under 1 MiB ignored)."
  echo; cat "$tmp.table"; } > "$tmp"
section "Planner vs llama.cpp (plan vs measure)" "$tmp"
for piece in bench/*.sh; do
  case $piece in bench/plan_vs_measure.sh) continue;; esac
  echo "== $piece"
  bash "$piece" || status=1
done
exit $status
