#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0450: tagged snapshots and diff. A pre snapshot keeps the live tree as gen-N and
# makes the target generation N+1; a post pairs with the latest unpaired pre;
# history shows the pairs; rollback --to the pre returns to the tree before; gc
# never drops the pre of a pair whose post it keeps; diff lists added, removed and
# modified paths (type, mode, owner, size, content, symlink target) without
# following symlinks.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
SD=$(state_dir "$T")
B=$BTRFS_TXN
gen() { "$B" status --json "$T" | jq -r .generation; }
kept() { "$B" status --json "$T" | jq -r '[.kept[].generation | tostring] | join(" ")'; }

mkdir -p "$T/etc" "$T/gone" && printf 'v1\n' >"$T/etc/conf" && printf same >"$T/keep" &&
	printf abc >"$T/content" && ln -s /etc/passwd "$T/link" && printf x >"$T/gone/f" &&
	printf m >"$T/mode" && printf o >"$T/owner" && ln -s "$TEST_TMP" "$T/outside"
manifest "$T" >"$TEST_TMP/before"

ok "snapshot --tag pre" "$B" snapshot "$T" --tag pre --description "upgrade: foo 1.0 -> 1.1"
ok "  kept as gen-0, generation 1, gen-0 read-only" test "$(gen) / $(kept) / $(btrfs property get -ts "$SD/gen-0" ro)" = "1 / 0 / ro=true"
ok "  gen-0 holds the tree" same_manifest "$TEST_TMP/before" "$SD/gen-0"
pre_txid=$(tail -n1 "$SD/history.jsonl" | jq -r .txid)
ok "  history: kind snapshot, tag pre, pair = its txid" sh -c "tail -n1 '$SD/history.jsonl' | jq -e '.kind == \"snapshot\" and .tag == \"pre\" and .pair == \"$pre_txid\" and .previous == 0 and .generation == 1'"

# the upgrade, in place
printf 'v2\n' >"$T/etc/conf" && printf xyz >"$T/content" && rm -rf "$T/gone" && ln -sfn /etc/group "$T/link" &&
	chmod 600 "$T/mode" && chown 1234:5678 "$T/owner" && mkdir "$T/new" && printf n >"$T/new/file" &&
	rm "$T/keep" && mkdir "$T/keep"
manifest "$T" >"$TEST_TMP/after"

"$B" snapshot --json "$T" --tag post --description "upgrade: foo 1.0 -> 1.1" >"$TEST_TMP/post.json"
ok "snapshot --tag post --json: paired with the pre" jq -e ".snapshot == 1 and .generation == 2 and .pair == \"$pre_txid\" and .pair_pre == 0" "$TEST_TMP/post.json"
ok "  gen-1 holds the upgraded tree" same_manifest "$TEST_TMP/after" "$SD/gen-1"
ok "history --json lists the pair" sh -c "'$B' history --json '$T' | jq -e '.pairs == [{\"pair\": \"$pre_txid\", \"pre\": 0, \"post\": 1, \"pre_dropped\": false, \"post_dropped\": false, \"description\": \"upgrade: foo 1.0 -> 1.1\"}]'"
ok "history (text) shows the pair" "$B" history "$T"
output_has "  on both lines" "snapshot:post +committed +2  \[pair: pre gen-0, post gen-1\] upgrade"

ok "diff 0 1" "$B" diff "$T" 0 1
cp "$TEST_TMP/out" "$TEST_TMP/diff.txt"
ok "  exactly the expected lines" diff -u - "$TEST_TMP/diff.txt" <<'LINES'
M f content  content
M f etc/conf  content
D d gone
D f gone/f
M d keep  type file -> directory
M l link  target /etc/passwd -> /etc/group
M f mode  mode 0644 -> 0600
A d new
A f new/file
M f owner  owner 0:0 -> 1234:5678
LINES
ok "diff 1 current: nothing (the post is the live tree)" sh -c "test -z \"\$('$B' diff '$T' 1 current)\""
touch "$T/evil
A f forged"
ok "a newline in a name cannot forge a line" test "$("$B" diff "$T" 1 current)" = 'A f evil\nA f forged'
rm -f "$T/evil
A f forged"
ok "diff 0 (GEN2 defaults to current) equals diff 0 1" sh -c "'$B' diff '$T' 0 | diff - '$TEST_TMP/diff.txt'"
"$B" diff --json "$T" 1 0 >"$TEST_TMP/diff.json"
ok "diff --json 1 0: the reverse, counted" jq -e '.from == 1 and .to == 0 and .added == 2 and .removed == 2 and .modified == 6' "$TEST_TMP/diff.json"
ok "  a modified entry has from, to and what" jq -e '.changes[] | select(.path == "owner") | .what == ["owner"] and .from.uid == 1234 and .to.uid == 0' "$TEST_TMP/diff.json"
ok "  a symlink to outside is not followed" jq -e '[.changes[].path | select(startswith("outside/"))] == []' "$TEST_TMP/diff.json"
expect_exit 2 "diff with a generation not kept" "$B" diff "$T" 0 7
output_has "  says it is not kept" "generation 7 .* is not kept"
expect_exit 2 "diff with nonsense" "$B" diff "$T" zero 1
expect_exit 2 "diff with one argument" "$B" diff "$T"

ok "rollback --to the pre snapshot" "$B" rollback --to 0 "$T"
ok "  the tree is the one before the upgrade" same_manifest "$TEST_TMP/before" "$T"
ok "  as generation 3 (gen-2 kept)" test "$(gen) / $(kept)" = "3 / 0 1 2"

# pairing: a post pairs with the latest unpaired pre; an unpaired post has pair null
"$B" snapshot --json "$T" --tag pre >"$TEST_TMP/pre-a.json"
"$B" snapshot --json "$T" --tag pre >"$TEST_TMP/pre-b.json"
"$B" snapshot --json "$T" --tag post >"$TEST_TMP/post-b.json"
"$B" snapshot --json "$T" --tag post >"$TEST_TMP/post-a.json"
"$B" snapshot --json "$T" --tag post >"$TEST_TMP/post-none.json"
ok "two pres then three posts: the second pre pairs first" test "$(jq -r .pair "$TEST_TMP/post-b.json")" = "$(jq -r .txid "$TEST_TMP/pre-b.json")"
ok "  then the first" test "$(jq -r .pair "$TEST_TMP/post-a.json")" = "$(jq -r .txid "$TEST_TMP/pre-a.json")"
ok "  the third post is unpaired" jq -e '.pair == null and .pair_pre == null' "$TEST_TMP/post-none.json"
ok "  history text says unpaired" sh -c "'$B' history '$T' | grep -q 'unpaired, gen-'"

# gc never splits a pair. Snapshots drop beyond keep 5 like apply: gen-3..7 are left:
# pre-a gen-3 / post-a gen-6, pre-b gen-4 / post-b gen-5, unpaired post gen-7.
ok "snapshots honour keep 5: gen-3..7 left" test "$(kept)" = "3 4 5 6 7"
ok "gc --keep 3 keeps gen-3 and gen-4 too (the pres of gen-6 and gen-5)" "$B" gc --keep 3 "$T"
ok "  kept: 3 4 5 6 7" test "$(kept)" = "3 4 5 6 7"
ok "gc --keep 2 drops the pair 4/5 whole, keeps 3 for 6" "$B" gc --keep 2 "$T"
ok "  kept: 3 6 7" test "$(kept)" = "3 6 7"
ok "  history --json: the pair 4/5 says both sides were dropped" sh -c "'$B' history --json '$T' | jq -e '[.pairs[] | select(.pre == 4)] == [.pairs[] | select(.pre == 4 and .post == 5 and .pre_dropped and .post_dropped)] and ([.pairs[] | select(.pre == 4)] | length == 1)'"
ok "  and the pair 3/6 that both sides are kept" sh -c "'$B' history --json '$T' | jq -e '.pairs[] | select(.pre == 3) | .post == 6 and (.pre_dropped | not) and (.post_dropped | not)'"
ok "  history (text) marks the dropped side" "$B" history "$T"
output_has "  on the post's line" "\\[pair: pre gen-4 \\(dropped\\), post gen-5 \\(dropped\\)\\]"
ok "gc --keep 0 drops everything" "$B" gc --keep 0 "$T"
ok "  none kept" test -z "$(kept)"
expect_exit 2 "snapshot without --tag" "$B" snapshot "$T"
expect_exit 2 "snapshot --tag other" "$B" snapshot "$T" --tag during
expect_exit 4 "snapshot of a plain directory" "$B" snapshot --tag pre "$TEST_TMP"
done_testing
