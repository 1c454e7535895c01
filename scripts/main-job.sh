#!/usr/bin/env bash
# The main job: build bunker, start the real registry (Debian's docker-registry on 127.0.0.1) holding the
# test bed's images under Docker Hub's official names, and run the seed workflow against it through
# --registry-mirror, exactly as a user types it. Uses a fresh data root (printed) so that removing every
# image at the end never touches /var/lib/bunker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bun scripts/build.ts
bun scripts/testbed/build-images.ts >&2

work=$(mktemp -d /tmp/bunker-main-job.XXXXXX)
data_root="$work/root"
registry_pid="$work/registry.pid"
cleanup() {
  [ -s "$registry_pid" ] && kill "$(cat "$registry_pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

registry_url=$(bun scripts/testbed/serve.ts "$registry_pid")
step() { printf '\n\033[1m$ bunker %s\033[0m\n' "$*"; ./dist/bunker --data-root "$data_root" --registry-mirror "$registry_url" "$@"; }

echo "registry: $registry_url   data root: $data_root"
step pull ubuntu
step pull nginx
step pull alpine
step images
step history nginx
step image inspect --format '{{.Id}} {{json .RootFS.Layers}}' alpine
step system df
echo; echo "layer store before removal: $(find "$data_root/overlay2" -mindepth 1 -maxdepth 1 ! -name l | wc -l) layer directories"
step rmi ubuntu nginx alpine
step images
left=$(find "$data_root/overlay2" -mindepth 1 -maxdepth 1 ! -name l | wc -l)
links=$(find "$data_root/overlay2/l" -mindepth 1 | wc -l)
echo; echo "layer store after removal: $left layer directories, $links short links"
[ "$left" = 0 ] && [ "$links" = 0 ] || { echo "main job: the layer store is not empty" >&2; exit 1; }
echo "main job: done"
