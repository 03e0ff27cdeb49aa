#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0213: an ordinary account that owns the target's parent directory P (a web root
# /srv/www owned by a service user, the target /srv/www/htdocs) attacks the state
# btrfs-txn keeps in P/.btrfs-txn. It cannot hold or steal the lock, cannot plant a
# state directory of its own before root's first run or in place of root's, and
# cannot make recover delete anything outside the state directory (docs/SECURITY.md,
# "The parent directory and the state directory").
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v runuser >/dev/null || skip_all "needs runuser (util-linux)"
command -v flock >/dev/null || skip_all "needs flock (util-linux)"
btrfs_fixture 1G

U=btxn_t0213
userdel "$U" >/dev/null 2>&1
useradd -M -N -s /usr/sbin/nologin "$U" || skip_all "cannot create the account $U"
at_cleanup "userdel '$U'"
as_user() { runuser -u "$U" -- "$@"; }
chmod 0711 "$TEST_TMP" && chmod 0755 "$MNT"

P=$MNT/www
mkdir "$P" && chown "$U" "$P"
T=$(new_target www/htdocs)
chown "$U" "$T"
SD=$P/.btrfs-txn/htdocs
spec=$TEST_TMP/spec.json
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "index.html", "content": "v1\\n"}]}\n' "$T" >"$spec"
ok "root applies into the account's tree" "$BTRFS_TXN" apply -q "$spec"
mkdir "$MNT/outside" && echo keep >"$MNT/outside/canary"
outside_intact() { test "$(cat "$MNT/outside/canary")" = keep; }

# --- the lock
ok "the state directory is root's and closed to others" \
	test "$(stat -c '%U %a' "$P/.btrfs-txn") $(stat -c '%U %a' "$SD")" = "root 700 root 700"
expect_exit 66 "the account cannot open the lock to hold it" \
	as_user flock -n "$SD/lock" true
output_has "  permission denied" "Permission denied"
as_user sh -c "exec flock -n '$P' sleep 30" &
holder=$!
at_cleanup "kill $holder"
sleep 0.2
ok "a lock the account takes on P itself does not stop root" \
	"$BTRFS_TXN" apply -q --no-wait "$spec"
kill $holder 2>/dev/null

# --- a state directory planted in place of root's, with a journal naming a path outside
as_user mv "$P/.btrfs-txn" "$P/.btrfs-txn.root"
as_user mkdir -p "$SD"
printf '{"txid": "20260101T000000Z-000001", "kind": "apply", "target_uuid": "x", "staging": "../../outside", "from_generation": 1, "to_generation": 2}\n' |
	as_user sh -c "cat >'$SD/journal'"
expect_exit 1 "recover refuses a state directory the account made" "$BTRFS_TXN" recover "$T"
output_has "  and says whose it is" "owned by uid $(id -u "$U")"
expect_abort 1 "apply refuses it too" "$T" "$BTRFS_TXN" apply "$spec"
ok "  nothing outside was deleted" outside_intact
as_user rm -rf "$P/.btrfs-txn"
as_user mv "$P/.btrfs-txn.root" "$P/.btrfs-txn"
ok "with root's state back, apply works" "$BTRFS_TXN" apply -q "$spec"

# --- a state directory planted before root's first run on a new target
btrfs subvolume create "$MNT/other" >/dev/null && mkdir "$MNT/other-parent" &&
	chown "$U" "$MNT/other-parent" && mv "$MNT/other" "$MNT/other-parent/site"
as_user ln -s "$MNT/outside" "$MNT/other-parent/.btrfs-txn"
printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "f", "content": "x"}]}\n' \
	"$MNT/other-parent/site" >"$TEST_TMP/other.json"
expect_abort 1 "a .btrfs-txn the account planted as a link before root's first run is refused" \
	"$MNT/other-parent/site" "$BTRFS_TXN" apply "$TEST_TMP/other.json"
ok "  nothing was written where it points" test "$(ls -A "$MNT/outside")" = canary
as_user rm "$MNT/other-parent/.btrfs-txn"
as_user mkdir -m 0777 "$MNT/other-parent/.btrfs-txn"
expect_abort 1 "a .btrfs-txn directory the account made is refused" \
	"$MNT/other-parent/site" "$BTRFS_TXN" apply "$TEST_TMP/other.json"

# --- the target swapped for a link in the instant before the exchange
cat >"$TEST_TMP/swap.sh" <<HOOK
[ "\$1" = checked ] || exit 0
runuser -u $U -- sh -c 'cd "$P" && mv htdocs htdocs.x && ln -s "$MNT/outside" htdocs'
HOOK
expect_exit 1 "a target the account swaps for a symlink just before the exchange aborts" \
	with_hook "sh $TEST_TMP/swap.sh \"\$1\"" "$BTRFS_TXN" apply "$spec"
output_has "  saying so" "is no longer the subvolume this transaction started on"
ok "  no symlink and no stray entry landed in the state directory" \
	sh -c "! find '$SD' -maxdepth 1 -type l | grep -q . && ! ls '$SD' | grep -q '^staging-'"
ok "  every kept generation is still a read-only subvolume" \
	sh -c "for g in '$SD'/gen-*; do test \"\$(btrfs property get \"\$g\" ro)\" = ro=true || exit 1; done"
as_user sh -c "cd '$P' && rm htdocs && mv htdocs.x htdocs"
ok "  with the tree back, apply works" "$BTRFS_TXN" apply -q "$spec"

# --- the target swapped for a link by the owner of P
as_user mv "$T" "$P/htdocs.real"
as_user ln -s "$MNT/outside" "$T"
expect_exit 2 "a target the account replaced by a symlink is refused" "$BTRFS_TXN" apply "$spec"
output_has "  naming the link" "is a symlink .to '$MNT/outside'.; name the subvolume itself"
expect_exit 2 "  recover refuses it too" "$BTRFS_TXN" recover "$T"
ok "  nothing outside was touched" sh -c "test \"\$(ls -A '$MNT/outside')\" = canary && test \"\$(cat '$MNT/outside/canary')\" = keep"

done_testing
