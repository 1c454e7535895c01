#!/usr/bin/env bash
# Installs what bunker's build, main job and tests need on a fresh Debian machine with Node/npm, as root:
# Bun (from the npm package), the project's npm packages, and Debian packages (real registry, image
# building tools, network and runtime tools). Idempotent: quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  docker-registry skopeo umoci mmdebstrap busybox-static apache2-utils openssl ca-certificates
  redis-server nginx-light iproute2 iptables util-linux tar gzip zstd hyperfine tmux crun runc
  gcc libc6-dev python3-docker docker.io docker-compose time
  xz-utils bzip2
)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  # Package scripts must not start redis or nginx services on the host: policy-rc.d refuses them.
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  [ $had_policy = 1 ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $had_policy = 1 ] || rm -f "$policy"
fi

if ! command -v bun >/dev/null 2>&1; then
  echo "setup: installing bun from npm"
  npm install -g bun >/dev/null
fi
bun install --frozen-lockfile >/dev/null
