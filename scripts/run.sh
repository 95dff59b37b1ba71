#!/usr/bin/env bash
# make run: the main job. Plans the stack for this machine (the GPU NVML
# finds, else the CPU), downloads the planned models into the cache
# (voxfit pull --auto; VOXFIT_PULL=0 skips it), and starts the voice
# assistant with them. Without a network, voxfit pull says exactly which
# files are missing and how to use local copies instead.
# VOXFIT_ARGS adds flags to `voxfit serve` (e.g. --port 8080); the ones that
# choose the models (--llm --stt --device --ctx --max-ctx --sessions
# --kv-type --margin) shape the plan and the download too, so
#   VOXFIT_ARGS='--llm /models/qwen3-8b-q4_k_m.gguf --stt /models/ggml-base.en.bin' make run
# runs on local files with nothing to download.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/voxfit
read -r -a user <<< "${VOXFIT_ARGS:-}"
# the plan serve runs: espeak is the text-to-speech it embeds, 4 conversations its default
plan_args=(--tts espeak --sessions 4)
user_llm=0 user_stt=0
i=0
while [ "$i" -lt "${#user[@]}" ]; do
  a=${user[$i]}
  case "$a" in
    --llm|--stt|--device|--ctx|--max-ctx|--sessions|--kv-type|--margin)
      plan_args+=("$a" "${user[$((i + 1))]:-}"); i=$((i + 2)) ;;
    --llm=*|--stt=*|--device=*|--ctx=*|--max-ctx=*|--sessions=*|--kv-type=*|--margin=*)
      plan_args+=("$a"); i=$((i + 1)) ;;
    *) i=$((i + 1)) ;;
  esac
  case "$a" in --llm|--llm=*) user_llm=1 ;; --stt|--stt=*) user_stt=1 ;; esac
done

echo "== voxfit plan for this machine"
"$bin" plan "${plan_args[@]}" || true

models=()
if [ "${VOXFIT_PULL:-1}" != 0 ]; then
  echo "== voxfit pull: the planned models (cache: ${VOXFIT_CACHE:-\$XDG_CACHE_HOME/voxfit or ~/.cache/voxfit}; VOXFIT_PULL=0 skips this)"
  pulled=$(mktemp)
  if "$bin" pull --auto "${plan_args[@]}" --json > "$pulled"; then
    # give serve the files just pulled, unless VOXFIT_ARGS names its own
    if command -v node > /dev/null; then
      while IFS=$'\t' read -r role path; do
        [ "$role" = llm ] && [ "$user_llm" = 0 ] && models+=(--llm "$path")
        [ "$role" = stt ] && [ "$user_stt" = 0 ] && case "$path" in *.bin) models+=(--stt "$path") ;; esac
      done < <(node -e 'for (const m of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")))
                          if (m.status === "ok" && m.path && m.role) console.log(m.role + "\t" + m.path)' "$pulled")
    fi
  else
    echo "== not every planned model could be downloaded: what is missing, and how to point voxfit"
    echo "   at local files instead (VOXFIT_ARGS='--llm FILE --stt FILE' make run), is listed above"
  fi
  rm -f "$pulled"
fi

if "$bin" --help | grep -q "^  serve"; then
  echo "== starting voxfit serve (Ctrl-C stops it)"
  exec "$bin" serve "${models[@]}" "${user[@]}"
fi
