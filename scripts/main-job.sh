#!/usr/bin/env bash
# The main job: build bunker, start the real registry (Debian's docker-registry on 127.0.0.1) holding the
# test bed's images under Docker Hub's official names, and run the seed workflow against it through
# --registry-mirror, exactly as a user types it: pull, run (pulling), run again with the registry stopped,
# write into con1 and find the files in its upper dir, ps -s, history, logs, stop/start, remove everything. Uses a fresh data root (printed) so that removing every
# image at the end never touches /var/lib/bunker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bun scripts/build.ts
bun scripts/testbed/build-images.ts >&2

work=$(mktemp -d /tmp/bunker-main-job.XXXXXX)
data_root="$work/root"
registry_pid="$work/registry.pid"
# The host's forwarding switch and FORWARD policy, which the engine changes for bunker0 as dockerd does for docker0.
ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)
forward_policy=$(iptables -S FORWARD 2>/dev/null | sed -n 's/^-P FORWARD //p')
cleanup() {
  [ -s "$registry_pid" ] && kill "$(cat "$registry_pid")" 2>/dev/null || true
  # The demo's data root goes, so its bridge, rules and address claims go with it, and the host's switches back.
  [ -d "$data_root" ] && bun -e 'import { purgeNetworking } from "./tests/helpers/netcheck.ts"; purgeNetworking(process.argv[1]!)' "$data_root" || true
  echo "$ip_forward" > /proc/sys/net/ipv4/ip_forward
  [ -n "$forward_policy" ] && iptables -P FORWARD "$forward_policy" || true
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
step run -d redis                 # not in the store yet: pulled first
kill "$(cat "$registry_pid")"; : >"$registry_pid"
echo; echo "(registry stopped: the next run must not need it)"
step run -d redis
step run -d --name con1 nginx
upper=$(./dist/bunker --data-root "$data_root" inspect --format '{{.GraphDriver.Data.UpperDir}}' con1)
lower=$(./dist/bunker --data-root "$data_root" inspect --format '{{.GraphDriver.Data.LowerDir}}' con1)
lower_sum() { echo "$lower" | tr ':' '\n' | xargs -I{} find {} -printf '%P %s %m\n' | sort | sha256sum; }
before=$(lower_sum)
step exec con1 sh -c 'echo "written inside con1" > /usr/share/nginx/html/seed.txt; mkdir -p /seed && date > /seed/when'
echo; echo "con1's upper dir: $upper"; (cd "$upper" && find usr/share/nginx/html/seed.txt seed -print)
cat "$upper/usr/share/nginx/html/seed.txt"
[ "$(lower_sum)" = "$before" ] && echo "image layers unchanged" || { echo "main job: image layers changed" >&2; exit 1; }
step diff con1
step ps -s
step history nginx
step logs con1
step stop con1
step start con1
step ps -a
step rm -f $(./dist/bunker --data-root "$data_root" ps -aq)
step rmi $(./dist/bunker --data-root "$data_root" images -q)
step images
left=$(find "$data_root/overlay2" -mindepth 1 -maxdepth 1 ! -name l | wc -l)
links=$(find "$data_root/overlay2/l" -mindepth 1 | wc -l)
containers=$(find "$data_root/containers" -mindepth 1 | wc -l)
echo; echo "after removal: $left layer directories, $links short links, $containers container directories"
[ "$left" = 0 ] && [ "$links" = 0 ] && [ "$containers" = 0 ] || { echo "main job: the store is not empty" >&2; exit 1; }
echo "main job: done"
