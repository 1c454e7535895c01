#!/bin/sh
# Builds the container shim (src/engine/runtime/shim/*.c, one translation unit per stage) as a static binary at .cache/bunker-shim, where
# src/engine/runtime/embedded.ts embeds it into the compiled engine. Run it before `bun build --compile`.
# Why static: the shim is copied to the data root and must run on any host libc, and a static -Os binary
# keeps each per-container supervisor at ~0.1-0.2 MiB PSS.
set -eu
cd "$(dirname "$0")/.."
out=${1:-.cache/bunker-shim}
mkdir -p "$(dirname "$out")"
${CC:-gcc} -static -Os -s -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation \
  -ffunction-sections -fdata-sections -Wl,--gc-sections \
  -o "$out.tmp" src/engine/runtime/shim/*.c
mv "$out.tmp" "$out"
