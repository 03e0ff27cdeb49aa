#!/usr/bin/env bash
# t0701: `/` as a target, and the package-manager hooks protecting it. A subvolume
# mounted with subvol=@ becomes `/` of a chroot in a private mount namespace (with
# /usr, /dev and this tree bound in, all gone with the namespace); there
# `btrfs-txn snapshot / --tag pre` and status / work, and the APT and pacman
# hooks, without a target list, take their pre/post pair of `/` by default. The
# generations land in .btrfs-txn/@ at the filesystem's top level. An empty target
# list turns the default off. An apply to / killed at the commit point is finished
# by the boot recovery script, which recovers / by default too.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v unshare >/dev/null && command -v chroot >/dev/null || skip_all "needs unshare and chroot"
btrfs_fixture 1G

btrfs subvolume create "$MNT/@" >/dev/null && mkdir -p "$MNT/@/etc" && printf 'v1\n' >"$MNT/@/etc/conf" ||
	{ echo "Bail out! cannot make subvolume @"; exit 1; }
ROOT=$TEST_TMP/root
mkdir -p "$ROOT"
mount -o subvol=@ "$LOOP_DEV" "$ROOT" && at_cleanup "umount '$ROOT' || umount -l '$ROOT'"
SD=$MNT/.btrfs-txn/@
# The chroot's skeleton: the merged-/usr links, mount points for what is bound in.
for l in bin sbin lib lib64; do
	if [ -L "/$l" ]; then ln -s "$(readlink "/$l")" "$ROOT/$l"; else mkdir -p "$ROOT/$l"; fi
done
mkdir -p "$ROOT/usr" "$ROOT/dev" "$ROOT/proc" "$ROOT/src" "$ROOT/conf" "$ROOT/tmp"
BIN=/src/${BTRFS_TXN#"$TOP"/}
case $BTRFS_TXN in "$TOP"/*) ;; *) skip_all "BTRFS_TXN must be inside the source tree for the chroot" ;; esac

# in_root CMD...: CMD in a chroot at $ROOT in a mount namespace of its own.
in_root() {
	unshare -m sh -c '
		root=$1 top=$2
		shift 2
		mount --make-rprivate / &&
			for d in /lib /lib64 /bin /sbin; do [ -L "$d" ] || mount --rbind "$d" "$root$d"; done &&
			mount --rbind /usr "$root/usr" && mount --rbind /dev "$root/dev" &&
			mount -t proc proc "$root/proc" && mount --bind "$top" "$root/src" &&
			exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"' \
		sh "$ROOT" "$TOP" "$@"
}
manifest "$ROOT/etc" >"$TEST_TMP/before"

ok "in the chroot: status /" in_root "$BIN" status /
output_has "  target /" "^target: +/$"
output_has "  a mounted subvolume, @" "^mounted: +subvolume '@'"
ok "snapshot / --tag pre" in_root "$BIN" snapshot / --tag pre --description "by hand"
ok "  gen-0 in .btrfs-txn/@ at the top level" test -d "$SD/gen-0"
ok "  holding the tree" same_manifest "$TEST_TMP/before" "$SD/gen-0/etc"
ok "snapshot / --tag post" in_root "$BIN" snapshot / --tag post --description "by hand"
in_root "$BIN" history --json / >"$TEST_TMP/h.json" 2>&1
ok "history / shows the pair" jq -e '[.pairs[] | [.pre, .post]] == [[0, 1]]' "$TEST_TMP/h.json"

# The APT hook without a target list: / by default.
ok "apt hook pre, no target list: protects /" in_root env BTRFS_TXN="$BIN" BTRFS_TXN_CONF_DIR=/conf \
	BTRFS_TXN_RUN_DIR=/tmp /bin/sh /src/contrib/apt/btrfs-txn-apt-hook pre
printf 'v2\n' >"$ROOT/etc/conf"
ok "apt hook post" in_root env BTRFS_TXN="$BIN" BTRFS_TXN_CONF_DIR=/conf BTRFS_TXN_RUN_DIR=/tmp \
	/bin/sh /src/contrib/apt/btrfs-txn-apt-hook post
ok "  the pair gen-2 / gen-3 of / is in the history" sh -c "jq -s -e '[.[-2].tag, .[-2].generation, .[-1].tag, .[-1].generation, .[-1].pair == .[-2].txid] == [\"pre\", 3, \"post\", 4, true]' '$SD/history.jsonl'"
ok "  gen-2 has the old conf, gen-3 the new" test "$(cat "$SD/gen-2/etc/conf") $(cat "$SD/gen-3/etc/conf")" = "v1 v2"

# pacman's hook: the same default
ok "pacman hook pre, no target list: protects /" in_root sh -c "echo bash | BTRFS_TXN='$BIN' BTRFS_TXN_CONF_DIR=/conf /bin/sh /src/contrib/pacman/btrfs-txn-pacman-hook pre"
ok "pacman hook post" in_root sh -c "echo bash | BTRFS_TXN='$BIN' BTRFS_TXN_CONF_DIR=/conf /bin/sh /src/contrib/pacman/btrfs-txn-pacman-hook post"
ok "  the pair gen-4 / gen-5, described by the packages" sh -c "jq -s -e '[.[-1].tag, .[-1].generation, .[-1].description] == [\"post\", 6, \"pacman: bash\"]' '$SD/history.jsonl'"

# An empty target list: nothing
: >"$ROOT/conf/apt-targets"
ok "apt hook with an empty apt-targets" in_root env BTRFS_TXN="$BIN" BTRFS_TXN_CONF_DIR=/conf \
	BTRFS_TXN_RUN_DIR=/tmp /bin/sh /src/contrib/apt/btrfs-txn-apt-hook pre
ok "  took no snapshot" test "$(wc -l <"$SD/history.jsonl")" -eq 6
# An apply to / cut short at the commit point, then the boot recovery without a
# target list: it recovers / by default.
printf '{"version": 1, "target": "/", "ops": [{"op": "write", "path": "etc/conf", "content": "v3\\n"}]}\n' >"$ROOT/conf/spec.json"
expect_exit 137 "apply to / killed right after the exchange" in_root env BTRFS_TXN_FAULT=exchanged "$BIN" apply /conf/spec.json
ok "  / still shows the old tree, the name holds the new one" test "$(cat "$ROOT/etc/conf") $(cat "$MNT/@/etc/conf")" = "v2 v3"
ok "  a journal is left" test -e "$SD/journal"
ok "boot recovery, no target list: recovers /" in_root env BTRFS_TXN="$BIN" /bin/sh /src/contrib/systemd/btrfs-txn-recover-all /conf/recover-targets
ok "  the journal is gone; history: committed, recovered, switch pending" sh -c "test ! -e '$SD/journal' && tail -n1 '$SD/history.jsonl' | jq -e '.result == \"committed\" and .recovered and .switch == \"pending until the next mount\"'"
ok "  status / says the switch is pending until the next mount" in_root "$BIN" status /
output_has "  " "^switch: +pending until the next mount"
ok "no mount of the filesystem is left beyond the fixture's" test "$(grep -c " - btrfs $LOOP_DEV " /proc/self/mountinfo)" -eq 2

done_testing
