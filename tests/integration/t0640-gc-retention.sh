#!/usr/bin/env bash
# t0640: gc by a retention policy (txn/retention.c; which generation of which hour,
# day or week is kept is test_retention.c's, with made-up times). Here, on real
# Btrfs: the newest N and the bucket rules drop the rest; a pinned generation and the
# newest are never dropped; a pre/post pair stays whole; --min-free drops the oldest
# generations one by one, waiting for Btrfs to free each, until enough is free, and
# stops there; btrfs-txn.conf gives the policy when the options do not, and
# btrfs-txn-gc-all runs gc on every target the file names.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

B=$BTRFS_TXN
export BTRFS_TXN=$B BTRFS_TXN_CONF_DIR=$TEST_TMP/etc
mkdir -p "$BTRFS_TXN_CONF_DIR"
T=$(new_target t)
SD=$(state_dir "$T")
gens() { (cd "$(state_dir "$1")" && ls -d gen-* 2>/dev/null | sed 's/gen-//' | sort -n | tr '\n' ' '); }
apply_n() { # apply_n T N
	local i
	for ((i = 0; i < $2; i++)); do apply_ops "$1" "[{\"op\": \"write\", \"path\": \"n\", \"content\": \"$RANDOM\"}]" >/dev/null || return 1; done
}

apply_n "$T" 6
ok "six applies, five kept" test "$(gens "$T")" = "1 2 3 4 5 "
touch "$SD/pin-2"
ok "gc --keep 2 --daily 1: the newest two, and the day's newest is one of them" "$B" gc --keep 2 --daily 1 "$T"
output_has "  keeping the pinned one, which it names" "gen-2 kept: pinned"
ok "  the others are gone" test "$(gens "$T")" = "2 4 5 "
rm -f "$SD/pin-2"
ok "gc --keep 0 --hourly 1: never the newest" "$B" gc --keep 0 --hourly 1 "$T"
ok "  the newest alone is left" test "$(gens "$T")" = "5 "

# A pair stays whole.
"$B" snapshot -q "$T" --tag pre && echo post >"$T/p" && "$B" snapshot -q "$T" --tag post && apply_n "$T" 1
ok "a pre (gen-6), its post (gen-7), one more (gen-8)" test "$(gens "$T")" = "5 6 7 8 "
ok "gc --keep 2 --weekly 0 --min-free 1: the post is among the newest two" "$B" gc --keep 2 --weekly 0 --min-free 1 "$T"
ok "  so its pre stays too; the one before goes" test "$(gens "$T")" = "6 7 8 "
ok "gc --keep 1 --hourly 1: neither half is wanted" "$B" gc --keep 1 --hourly 1 "$T"
ok "  both go" test "$(gens "$T")" = "8 "

# Free space: two generations each holding 200 MiB no other tree holds.
U=$(new_target u)
dd if=/dev/urandom of="$U/big1" bs=1M count=200 status=none && apply_ops "$U" '[{"op": "delete", "path": "big1"}]' >/dev/null
dd if=/dev/urandom of="$U/big2" bs=1M count=200 status=none && apply_ops "$U" '[{"op": "delete", "path": "big2"}]' >/dev/null
apply_n "$U" 1
btrfs filesystem sync "$MNT" >/dev/null 2>&1
free_now=$(stat -f -c '%a %b' "$MNT" | awk '{ printf "%d", $1 * 100 / $2 }')
want=$((free_now + 10))
ok "gen-0 and gen-1 hold 200 MiB each ($free_now% free now)" test "$(gens "$U")" = "0 1 2 "
ok "gc --keep 10 --min-free $want --json" sh -c "'$B' gc --keep 10 --min-free $want --json '$U' >'$TEST_TMP/gc.json'"
ok "  dropped the oldest only: enough was free after it" test "$(gens "$U")" = "1 2 "
ok "  and says how much is free now" jq -e --argjson w "$want" '.free_percent >= $w and .removed == 1' "$TEST_TMP/gc.json"
ok "gc --keep 10 --min-free 99: drops all but the newest" "$B" gc --keep 10 --min-free 99 "$U"
ok "  the newest stays, whatever the space" test "$(gens "$U")" = "2 "
expect_exit 2 "--min-free 100 is refused" "$B" gc --min-free 100 "$U"
output_has "  one line" "^btrfs-txn: gc: --min-free: expected a percentage from 0 to 99, got '100'"

# btrfs-txn.conf gives the policy; btrfs-txn-gc-all runs it on every target.
V=$(new_target v)
apply_n "$V" 5
apply_n "$T" 4
printf '[defaults]\nkeep = 3\nhourly = 1\n\n[target %s]\nkeep = 1\n\n[target %s]\n' "$V" "$T" >"$BTRFS_TXN_CONF_DIR/btrfs-txn.conf"
ok "config --targets all names both" test "$("$B" config --targets all | tr '\n' ' ')" = "$V $T "
ok "btrfs-txn-gc-all" sh "$TOP/contrib/systemd/btrfs-txn-gc-all"
output_has "  sums up" "2 target\\(s\\), 2 collected, 0 failed"
ok "  the target's own keep 1 (and the hour's newest, the same)" test "$(gens "$V")" = "4 "
ok "  [defaults] keep 3 for the other" test "$(gens "$T")" = "10 11 12 "
done_testing
