#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh (`make demo`): the whole story on a loop-backed Btrfs image under build/demo:
# init a plain directory, apply two specs, show status and history, watch a verify
# hook refuse a broken config with the target unchanged, roll back. Needs root.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/build/btrfs-txn"
work="$top/build/demo"

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root (loop devices, mount, subvolumes)" >&2
	exit 1
fi

dev="" mnt="$work/mnt"
# Specs and the verify hook run as root, so btrfs-txn trusts them only in directories
# no one but root can change (StrictModes, see SECURITY in btrfs-txn(8)); a checkout
# in a user's home is not one. They are copied to a private directory of root's.
private=""
cleanup() {
	mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
	[ -n "$dev" ] && losetup -d "$dev" 2>/dev/null
	rm -rf "$work"
	[ -z "$private" ] || rm -rf "$private"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup
private=$(mktemp -d "${TMPDIR:-/tmp}/btrfs-txn-demo.XXXXXX")
mkdir -p "$mnt"
truncate -s 512M "$work/btrfs.img"
dev=$(losetup --find --show "$work/btrfs.img")
mkfs.btrfs -q -f "$dev" >/dev/null 2>&1
mount "$dev" "$mnt"

# The demo specs name their verify hook as {demo}; point it at the private copy.
cp "$top"/scripts/demo/*.sh "$private/"
for spec in "$top"/scripts/demo/*.json; do
	sed "s|{demo}|$private|g" "$spec" >"$private/$(basename "$spec")"
done
site="$mnt/www"
cd "$private"

step "A plain directory with some content, on Btrfs ($(stat -f -c %T "$mnt"))"
mkdir -p "$site" && echo '<h1>hello</h1>' >"$site/index.html"
run ls -l "$site"
run "$bin" probe "$site"

step "init converts it into a subvolume, atomically"
run "$bin" init "$site"
run btrfs subvolume show "$site" | head -3

step "validate, plan and apply the base config"
run "$bin" validate 1-nginx-base.json
run "$bin" plan --target "$site" 1-nginx-base.json
run "$bin" apply --target "$site" 1-nginx-base.json

step "apply release r42 (preconditions, a symlink switch, a verify hook)"
run "$bin" apply --target "$site" 2-nginx-r42.json
run ls -l "$site" "$site/conf.d"

step "status and history"
run "$bin" status "$site"
run "$bin" history "$site"

step "a broken config: the verify hook refuses it, exit 1, target unchanged"
before=$(cd "$site" && find . -printf '%p %y %m %s\n' | sort | sha256sum)
set +e
run "$bin" apply --target "$site" 3-nginx-broken.json
rc=$?
set -e
after=$(cd "$site" && find . -printf '%p %y %m %s\n' | sort | sha256sum)
echo "exit status: $rc; tree $([ "$before" = "$after" ] && echo unchanged || echo CHANGED)"
[ "$rc" -eq 1 ] && [ "$before" = "$after" ]
run cat "$site/nginx.conf"

step "roll back to the base config"
run "$bin" rollback "$site"
run ls -l "$site"
run cat "$site/nginx.conf"
run "$bin" status "$site"
run "$bin" history "$site"

step "done: the image is removed on exit"
