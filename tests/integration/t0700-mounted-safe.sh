#!/usr/bin/env bash
# t0700: mounted targets, the commands that do not switch the tree. A subvolume
# mounted with subvol= at its own mount point (as / or /home are) keeps its state at
# the filesystem's top level, in .btrfs-txn/NAME beside the subvolume, reached
# through a private mount that btrfs-txn makes and drops itself. snapshot --tag
# pre|post, status, history, diff and gc work on it live (apply, run and rollback:
# t0702); the top level itself and a mount of a plain directory stay refused.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

B=$BTRFS_TXN
btrfs subvolume create "$MNT/@" >/dev/null && mkdir -p "$MNT/srv" "$MNT/@/etc" "$MNT/plain/dir" &&
	btrfs subvolume create "$MNT/srv/@app" >/dev/null &&
	printf 'v1\n' >"$MNT/@/etc/conf" && printf keep >"$MNT/@/keep" && printf a >"$MNT/srv/@app/a" ||
	{ echo "Bail out! cannot make the subvolumes"; exit 1; }
ROOT=$TEST_TMP/root APP=$TEST_TMP/app BIND=$TEST_TMP/bind
mkdir -p "$ROOT" "$APP" "$BIND"
mount -o subvol=@ "$LOOP_DEV" "$ROOT" && at_cleanup "umount '$ROOT' || umount -l '$ROOT'"
mount -o subvol=srv/@app "$LOOP_DEV" "$APP" && at_cleanup "umount '$APP' || umount -l '$APP'"
mount --bind "$MNT/plain/dir" "$BIND" && at_cleanup "umount '$BIND' || umount -l '$BIND'"
SD=$MNT/.btrfs-txn/@
# mounts of this test's filesystem (other tests mount theirs meanwhile)
mounts() { grep -c " - btrfs $LOOP_DEV " /proc/self/mountinfo; }
MOUNTS=$(mounts)
manifest "$ROOT" >"$TEST_TMP/before"

ok "status of a subvol= mount" "$B" status "$ROOT"
output_has "  says it is mounted and names the subvolume" "^mounted: +subvolume '@' at its own mount point"
output_has "  names the state directory at the top level" "^state: +<top level of $LOOP_DEV>/\.btrfs-txn/@$"
ok "  --json: mounted.subvolume @, no switch pending" sh -c "'$B' status --json '$ROOT' | jq -e '.mounted == {\"subvolume\": \"@\", \"switch_pending\": false} and .target == \"$ROOT\"'"

ok "snapshot --tag pre on the mounted subvolume" "$B" snapshot "$ROOT" --tag pre --description "upgrade"
output_has "  names the user's path" "^$ROOT: pre snapshot kept as gen-0"
ok "  gen-0 is in .btrfs-txn/@ at the top level, read-only" test "$(btrfs property get -ts "$SD/gen-0" ro)" = ro=true
ok "  gen-0 holds the tree" same_manifest "$TEST_TMP/before" "$SD/gen-0"
ok "  nothing is left mounted" test "$(mounts)" = "$MOUNTS"
ok "  the mount still shows the same subvolume" test "$(btrfs subvolume show "$ROOT" | awk '$1 == "Name:" { print $2 }')" = @

# the upgrade, in place, as a package manager does it
printf 'v2\n' >"$ROOT/etc/conf" && rm "$ROOT/keep" && printf n >"$ROOT/new"
manifest "$ROOT" >"$TEST_TMP/after"
ok "snapshot --tag post" "$B" snapshot "$ROOT" --tag post --description "upgrade"
ok "  gen-1 holds the upgraded tree" same_manifest "$TEST_TMP/after" "$SD/gen-1"
ok "history --json lists the pair" sh -c "'$B' history --json '$ROOT' | jq -e '[.pairs[] | [.pre, .post]] == [[0, 1]] and (.transactions | length) == 2'"
ok "history (text)" "$B" history "$ROOT"
output_has "  shows both snapshots" "snapshot:post +committed +2"
ok "diff 0 1" "$B" diff "$ROOT" 0 1
cp "$TEST_TMP/out" "$TEST_TMP/diff.txt"
ok "  exactly the upgrade" diff -u - "$TEST_TMP/diff.txt" <<'LINES'
M f etc/conf  content
D f keep
A f new
LINES
ok "diff 1 current: nothing" sh -c "test -z \"\$('$B' diff '$ROOT' 1 current)\""
ok "status: generation 2, gen-0 and gen-1 kept" sh -c "'$B' status --json '$ROOT' | jq -e '.generation == 2 and ([.kept[].generation] == [0, 1])'"

# gc: the pair's pre stays while its post does; a lone post goes
ok "snapshot --tag post without a pre" "$B" snapshot "$ROOT" --tag post
ok "gc --keep 1" "$B" gc "$ROOT" --keep 1
ok "  kept: the newest only" sh -c "'$B' status --json '$ROOT' | jq -e '[.kept[].generation] == [2]'"
ok "  gone from the top level too" test ! -e "$SD/gen-0" -a ! -e "$SD/gen-1" -a -d "$SD/gen-2"

# a subvolume below a directory: its state lives beside it
ok "snapshot --tag pre of srv/@app" "$B" snapshot "$APP" --tag pre
ok "  state in srv/.btrfs-txn/@app" test -d "$MNT/srv/.btrfs-txn/@app/gen-0"
ok "  status names it" "$B" status "$APP"
output_has "  as <top level>/srv/.btrfs-txn/@app" "^state: +<top level of $LOOP_DEV>/srv/\.btrfs-txn/@app$"

# without the top level mounted anywhere, the private mount still reaches it
umount "$MNT"
ok "top level unmounted: snapshot --tag pre still works" "$B" snapshot "$ROOT" --tag pre
ok "  and leaves no mount" test "$(mounts)" = "$((MOUNTS - 1))"
mount -o subvolid=5 "$LOOP_DEV" "$MNT"
ok "  gen-3 is at the top level" test -d "$SD/gen-3"

# what is still refused, and how
expect_exit 4 "the top level itself: exit 4" "$B" snapshot "$MNT" --tag pre
output_has "  saying it is the top level" "is the top level of a Btrfs filesystem"
expect_exit 4 "a mount of a plain directory: exit 4" "$B" status "$BIND"
output_has "  saying it is not a subvolume's mount" "'$BIND' is a mount point of a directory inside a subvolume, not of a subvolume"
# an account without privilege cannot reach the top level: exit 4, saying so
if useradd -M -N -s /usr/sbin/nologin btxn_t0700 2>/dev/null; then
	at_cleanup "userdel btxn_t0700"
	chmod 0755 "$TEST_TMP"
	expect_exit 4 "status as an unprivileged account: exit 4" runuser -u btxn_t0700 -- "$B" status "$ROOT"
	output_has "  saying only root can reach the state" "'$ROOT' is a mounted subvolume, whose state lives at the filesystem's top level, which only root can reach|cannot mount the top level of '$ROOT'"
fi
ok "nothing is left mounted at the end" test "$(mounts)" = "$MOUNTS"

done_testing
