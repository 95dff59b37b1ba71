#!/usr/bin/env bash
# Installs everything voxfit needs to build and test, and nothing else:
#   1. Debian packages (apt-get), only those that are missing;
#   2. llama.cpp's prebuilt libraries from the npm registry (pinned
#      @node-llama-cpp/linux-x64[-cuda]) with the headers from the llama.cpp
#      source bundle of the same-version node-llama-cpp package, unpacked into
#      build/deps/llama. A system llama.cpp found by pkg-config wins.
# Safe to run again: every step checks first. Exit non-zero with a clear
# message on any failure.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
deps="$here/build/deps"
NLC_VERSION=3.22.1            # node-llama-cpp; libraries and headers must match
# sha256 of the npm tarballs, so a changed upstream file is caught.
SHA_NLC=a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f
SHA_CPU=0d953e1503d5ab4608d8ed5b739132308c81ac05ffeb760d2a7f30e08a9f90e0
SHA_CUDA=d6cd3ff39a43b024816952e0bc6452d6711608d26256ff6eb0fe8cf7ff55bb2c
SHA_CUDA_EXT=1c4817215f51d0ebea37ea684a409a418e62cfb19fcbb5b6e0300e50c6ee9bee

log() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

# ---- 1. Debian packages ----------------------------------------------------
pkgs=(build-essential cmake ninja-build pkg-config git clang llvm libclang-rt-14-dev
      libcjson-dev libyaml-dev libcivetweb-dev libcurl4-openssl-dev libssl-dev
      libsndfile1-dev libspeexdsp-dev libsamplerate0-dev libespeak-ng-dev
      espeak-ng sox libcmocka-dev valgrind curl ca-certificates
      chromium chromium-driver)   # the voice page's end-to-end test (headless, Debian's build)
# Node.js may come from elsewhere (NodeSource); take Debian's only when absent.
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed for: ${missing[*]}"
fi

# ---- 2. llama.cpp -----------------------------------------------------------
if pkg-config --exists llama 2>/dev/null && [ "${VOXFIT_BUNDLED_LLAMA:-0}" != 1 ]; then
  log "using system llama.cpp $(pkg-config --modversion llama)"
  exit 0
fi
dest="$deps/llama"
stamp="$dest/.version"
want="$NLC_VERSION"
have_cuda=0   # VOXFIT_CUDA=1 installs the CUDA builds without a driver (an image built for GPU hosts)
if [ "${VOXFIT_CUDA:-}" = 1 ] || { [ "${VOXFIT_CUDA:-}" != 0 ] && { [ -e /proc/driver/nvidia/version ] ||
     ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; }; }; then
  have_cuda=1; want="$NLC_VERSION-cuda+fallback"
fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null || die "npm is needed to fetch llama.cpp's prebuilt libraries"
cache="$deps/npm"
mkdir -p "$cache"
fetch() { # name version -> tarball path
  local name=$1 ver=$2 tgz
  tgz="$cache/$(echo "$name" | sed 's/^@//; s#/#-#')-$ver.tgz"
  if [ ! -s "$tgz" ]; then
    log "npm pack $name@$ver"
    (cd "$cache" && npm pack --silent "$name@$ver" >/dev/null) || die "npm pack $name@$ver failed"
  fi
  [ -s "$tgz" ] || die "npm pack did not produce $tgz"
  echo "$tgz"
}
check_sha() { # file expected
  [ "$2" = 0 ] && return 0
  local got; got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || die "sha256 of $(basename "$1") is $got, expected $2 (upstream changed?)"
}
nlc=$(fetch node-llama-cpp "$NLC_VERSION"); check_sha "$nlc" "$SHA_NLC"
cpu=$(fetch @node-llama-cpp/linux-x64 "$NLC_VERSION"); check_sha "$cpu" "$SHA_CPU"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rm -rf "$dest.new"; mkdir -p "$dest.new/lib" "$dest.new/include"
tar xzf "$nlc" -C "$tmp" package/llama/gitRelease.bundle || die "no llama.cpp bundle in $nlc"
git clone -q --depth 1 "$tmp/package/llama/gitRelease.bundle" "$tmp/src" 2>/dev/null \
  || git clone -q "$tmp/package/llama/gitRelease.bundle" "$tmp/src" || die "cannot clone the llama.cpp bundle"
cp "$tmp/src/include/llama.h" "$tmp/src/ggml/include/"*.h "$dest.new/include/"
tar xzf "$cpu" -C "$tmp" package/bins || die "no binaries in $cpu"
cp "$tmp/package/bins/linux-x64/"*.so "$dest.new/lib/"
if [ $have_cuda = 1 ]; then
  cuda=$(fetch @node-llama-cpp/linux-x64-cuda "$NLC_VERSION"); check_sha "$cuda" "$SHA_CUDA"
  mkdir -p "$tmp/cuda"; tar xzf "$cuda" -C "$tmp/cuda" package/bins
  cp "$tmp/cuda/package/bins/linux-x64-cuda/"*.so "$dest.new/lib/"
  # The CUDA build names its libraries *.cuda.*; the program links the plain names.
  for f in "$dest.new/lib/"*.cuda.v*.so; do
    ln -sf "$(basename "$f")" "$dest.new/lib/$(basename "$f" | sed 's/\.cuda\././')"
  done
  # Two CUDA builds of ggml, each in its own folder, tried in this order by
  # vf_llama_rt_init (src/llm/llama_rt.c): the primary one (CUDA 13.1
  # toolkit: machine code for sm_86/89/120/121, PTX for the rest, which a
  # driver older than 590 cannot compile) and the extension package's fallback
  # (CUDA 12: machine code for sm_50-80 and PTX that drivers from 550 compile;
  # needs the CUDA 12 runtime and cuBLAS installed).
  mkdir -p "$dest.new/lib/cuda" "$dest.new/lib/cuda-fallback"
  mv "$dest.new/lib/libggml-cuda.so" "$dest.new/lib/cuda/"
  ext=$(fetch @node-llama-cpp/linux-x64-cuda-ext "$NLC_VERSION"); check_sha "$ext" "$SHA_CUDA_EXT"
  tar xzf "$ext" -C "$tmp/cuda" package/bins/linux-x64-cuda/fallback/libggml-cuda.so \
    || die "no fallback CUDA library in $ext"
  cp "$tmp/cuda/package/bins/linux-x64-cuda/fallback/libggml-cuda.so" "$dest.new/lib/cuda-fallback/"
fi
echo "$want" > "$dest.new/.version"
rm -rf "$dest"; mv "$dest.new" "$dest"
log "llama.cpp $want installed in $dest"
