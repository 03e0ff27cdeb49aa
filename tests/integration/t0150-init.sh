#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0150: init: a missing path becomes an empty subvolume; a plain directory becomes a
# subvolume with exactly the same content (owners, modes, symlinks, hard links); an
# existing subvolume is left as it is (idempotent); what cannot be converted is
# refused with the directory unchanged; a conversion killed midway is recovered.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

is_subvolume() { btrfs subvolume show "$1" >/dev/null 2>&1; }
subvolume_with() { is_subvolume "$2" && same_manifest "$1" "$2"; }
same_inode() { test "$(stat -c %i "$1")" = "$(stat -c %i "$2")"; }

# A missing path
ok "init of a missing path" "$BTRFS_TXN" init "$MNT/fresh"
output_has "  says it created an empty subvolume" "created an empty subvolume"
ok "  it is a subvolume" is_subvolume "$MNT/fresh"
ok "  and empty" test -z "$(ls -A "$MNT/fresh")"
ok "  with a state directory" test -d "$(state_dir "$MNT/fresh")"
ok "  status works on it: generation 0" sh -c "'$BTRFS_TXN' status --json '$MNT/fresh' | jq -e '.generation == 0 and .interrupted == false'"

# An existing subvolume: idempotent
echo data >"$MNT/fresh/f"
manifest "$MNT/fresh" >"$TEST_TMP/fresh"
id_before=$(btrfs subvolume show "$MNT/fresh" | awk '/UUID:/ && !/Parent|Received/ { print $2; exit }')
ok "init of an existing subvolume" "$BTRFS_TXN" init --json "$MNT/fresh"
output_has "  says already" '"action": "already"'
ok "  content unchanged" same_manifest "$TEST_TMP/fresh" "$MNT/fresh"
ok "  same subvolume (UUID)" test "$(btrfs subvolume show "$MNT/fresh" | awk '/UUID:/ && !/Parent|Received/ { print $2; exit }')" = "$id_before"
ok "init again" "$BTRFS_TXN" init "$MNT/fresh"
ok "  still unchanged" same_manifest "$TEST_TMP/fresh" "$MNT/fresh"

# A plain directory with content
P="$MNT/plain"
mkdir -p "$P/etc/conf.d" "$P/var/spool" "$P/empty dir"
echo "main" >"$P/etc/main.conf" && chmod 0640 "$P/etc/main.conf" && chown 4242:daemon "$P/etc/main.conf"
echo "secret" >"$P/etc/conf.d/key" && chmod 0400 "$P/etc/conf.d/key" && chown nobody "$P/etc/conf.d/key"
printf '#!/bin/sh\n' >"$P/suid-tool" && chmod 4755 "$P/suid-tool"
chmod 1777 "$P/var/spool" && chown 1:2 "$P/var/spool"
ln -s etc/main.conf "$P/link-rel" && ln -s /nonexistent "$P/link-dangling" && ln -s "$P/etc" "$P/link-abs"
echo "shared" >"$P/hard1" && ln "$P/hard1" "$P/var/hard2"
printf 'name with\nnewline' >"$P/empty dir/odd
name"
head -c 200000 /dev/urandom >"$P/blob"
chmod 0750 "$P" && chown 4242:4343 "$P"
manifest "$P" >"$TEST_TMP/plain"
root_meta=$(stat -c '%a %u:%g' "$P")
ok "init of a plain directory" "$BTRFS_TXN" init --json "$P"
output_has "  says converted" '"action": "converted"'
ok "  it is now a subvolume" is_subvolume "$P"
ok "  manifest identical (paths, types, modes, owners, sizes, hashes, links)" same_manifest "$TEST_TMP/plain" "$P"
ok "  hard links are still one inode" same_inode "$P/hard1" "$P/var/hard2"
ok "  with link count 2" test "$(stat -c %h "$P/hard1")" = 2
ok "  the root keeps its mode and owner" test "$(stat -c '%a %u:%g' "$P")" = "$root_meta"
ok "  no leftover copy in the state directory" no_staging "$P"
ok "  no journal left" test ! -e "$(state_dir "$P")/journal"
ok "  history has a committed init" sh -c "jq -e 'select(.kind == \"init\") | .result == \"committed\"' '$(state_dir "$P")/history.jsonl'"
ok "an apply works on it" apply_ops "$P" '[{"op": "write", "path": "etc/main.conf", "content": "new\n"}]'
# The converted file belongs to 4242, not root: the write makes it root's (t0210).
ok "  over a file of another owner, as root's, mode 0644" test "$(stat -c '%a %u' "$P/etc/main.conf") $(cat "$P/etc/main.conf")" = "644 0 new"
ok "  and rolling back returns to the converted tree" "$BTRFS_TXN" rollback "$P"
ok "  exactly" same_manifest "$TEST_TMP/plain" "$P"

# Refusals, each leaving the directory as it was
mkdir -p "$MNT/nested/a" && echo x >"$MNT/nested/a/f" && btrfs subvolume create "$MNT/nested/sub" >/dev/null
manifest "$MNT/nested" >"$TEST_TMP/nested"
expect_exit 4 "init of a directory holding a subvolume" "$BTRFS_TXN" init "$MNT/nested"
output_has "  names the nested subvolume" "nested/sub"
ok "  directory unchanged" same_manifest "$TEST_TMP/nested" "$MNT/nested"
ok "  and still not a subvolume" sh -c "! btrfs subvolume show '$MNT/nested' >/dev/null 2>&1"
echo file >"$MNT/a-file"
expect_exit 2 "init of a regular file" "$BTRFS_TXN" init "$MNT/a-file"
ok "  the file is unchanged" test "$(cat "$MNT/a-file")" = file
ln -s plain "$MNT/a-link"
expect_exit 2 "init of a symlink" "$BTRFS_TXN" init "$MNT/a-link"
mkdir -p "$TEST_TMP/tmpfs" && mount -t tmpfs -o size=4m tmpfs "$TEST_TMP/tmpfs" && at_cleanup "umount '$TEST_TMP/tmpfs'"
mkdir "$TEST_TMP/tmpfs/d" && echo t >"$TEST_TMP/tmpfs/d/f"
expect_exit 4 "init of a directory on tmpfs" "$BTRFS_TXN" init "$TEST_TMP/tmpfs/d"
ok "  unchanged" test "$(cat "$TEST_TMP/tmpfs/d/f")" = t
expect_exit 4 "init of a missing path on tmpfs" "$BTRFS_TXN" init "$TEST_TMP/tmpfs/new"
ok "  nothing created" test ! -e "$TEST_TMP/tmpfs/new"
expect_exit 2 "init without a path" "$BTRFS_TXN" init

# A conversion killed midway, then recovered: exactly the old tree, as a plain
# directory (before the exchange) or as a subvolume (after it).
for step in init-journaled init-copied init-exchanged; do
	D="$MNT/conv-$step"
	mkdir -p "$D/sub" && echo "$step" >"$D/sub/f" && ln -s sub/f "$D/l" && chmod 0711 "$D/sub" && chown 7:8 "$D/sub/f"
	manifest "$D" >"$TEST_TMP/conv"
	expect_exit 137 "init killed at '$step'" with_fault "$step" "$BTRFS_TXN" init "$D"
	ok "  [$step] status shows the interrupted init" sh -c "'$BTRFS_TXN' status --json '$D' | jq -e '.interrupted and .journal.kind == \"init\"'"
	ok "  [$step] recover" "$BTRFS_TXN" recover "$D"
	ok "  [$step] content identical" same_manifest "$TEST_TMP/conv" "$D"
	if [ "$step" = init-exchanged ]; then
		ok "  [$step] it is a subvolume" is_subvolume "$D"
	else
		ok "  [$step] it is still a plain directory" sh -c "! btrfs subvolume show '$D' >/dev/null 2>&1"
	fi
	ok "  [$step] nothing left in the state directory" no_staging "$D"
	ok "  [$step] nothing interrupted" sh -c "'$BTRFS_TXN' status --json '$D' | jq -e '.interrupted == false'"
	ok "  [$step] init then finishes the job" "$BTRFS_TXN" init "$D"
	ok "  [$step] a subvolume with the same content" subvolume_with "$TEST_TMP/conv" "$D"
done
# Killed after the exchange while a process wrote to the old directory through a
# descriptor it held (the check after the exchange never ran): recovery keeps the
# old directory as saved-TXID and exits 5 naming the change; nothing is deleted.
written_after_kill() { # NAME CHANGE-IN-OLD-DIR EXPECTED-NAME
	D="$MNT/conv-$1"
	mkdir -p "$D/sub" && echo original >"$D/sub/f" && echo other >"$D/g"
	expect_exit 137 "[$1] init killed at 'init-exchanged'" with_fault init-exchanged "$BTRFS_TXN" init "$D"
	old=$(ls -d "$(state_dir "$D")"/init-* | head -1)
	(cd "$old" && eval "$2")
	expect_exit 5 "[$1] recover finds the old directory written to" "$BTRFS_TXN" recover "$D"
	output_has "  [$1] naming what changed" "$3 changed after init copied it"
	output_has "  [$1] and where the old directory is kept" "it is kept as '$(state_dir "$D")/saved-"
	ok "  [$1] the old directory is there, as it was written" test -e "$(state_dir "$D")/saved-${old##*/init-}/sub/f"
	ok "  [$1] the target is the subvolume" is_subvolume "$D"
	ok "  [$1] nothing interrupted any more" sh -c "'$BTRFS_TXN' status --json '$D' | jq -e '.interrupted == false'"
	ok "  [$1] history has the init" sh -c "'$BTRFS_TXN' history --json '$D' | grep -q '\"init\"'"
	ok "  [$1] recover then exits 0" "$BTRFS_TXN" recover "$D"
}
written_after_kill appended 'echo ACKED >>sub/f' "'sub/f'"
ok "  the appended line is kept" sh -c "grep -qx ACKED '$(state_dir "$D")'/saved-*/sub/f"
written_after_kill made 'echo new >made-after' "'made-after'"
written_after_kill chmod 'chmod 0600 g' "'g'"
written_after_kill top-mode 'chmod 0700 .' "'.'"
written_after_kill top-xattr 'setfattr -n user.k -v v .' "'.'"
# rsync -a --delete into it: an entry gone, the top's mtime put back.
written_after_kill top-delete 'm=$(stat -c %y .); rm g; touch -m -d "$m" .' "'.'"
# A holder refused first, then its last write: the mark is still there.
D="$MNT/conv-holder"
mkdir -p "$D" && echo original >"$D/f"
expect_exit 137 "init killed at 'init-exchanged' (a process then holds a file)" with_fault init-exchanged "$BTRFS_TXN" init "$D"
old=$(ls -d "$(state_dir "$D")"/init-* | head -1)
exec 7>>"$old/f"
expect_exit 5 "recover names the holder" "$BTRFS_TXN" recover "$D"
echo ACKED >&7
exec 7>&-
expect_exit 5 "  once it wrote and went, recover keeps what it wrote" "$BTRFS_TXN" recover "$D"
output_has "  naming it" "'f' changed after init copied it"
ok "  the write is kept" sh -c "grep -qx ACKED '$(state_dir "$D")'/saved-*/f"
# Cut short right after keeping it (renamed, the journal not yet ended): the next
# recovery says so again, then exits 0.
D="$MNT/conv-kept-cut"
mkdir -p "$D" && echo original >"$D/f"
expect_exit 137 "init killed at 'init-exchanged' (then written to)" with_fault init-exchanged "$BTRFS_TXN" init "$D"
old=$(ls -d "$(state_dir "$D")"/init-* | head -1)
echo ACKED >>"$old/f"
expect_exit 137 "recover killed right after keeping the old directory" with_fault init-old-kept "$BTRFS_TXN" recover "$D"
expect_exit 5 "  the next recover says where it is kept" "$BTRFS_TXN" recover "$D"
output_has "  naming the place" "is kept as '$(state_dir "$D")/saved-"
ok "  then recover exits 0" "$BTRFS_TXN" recover "$D"
# Written to after recovery's own check, before its deletion was cut short.
D="$MNT/conv-late"
mkdir -p "$D/sub" && echo original >"$D/sub/f" && echo g >"$D/g"
expect_exit 137 "init killed at 'init-exchanged' (written to later)" with_fault init-exchanged "$BTRFS_TXN" init "$D"
old=$(ls -d "$(state_dir "$D")"/init-* | head -1)
expect_exit 137 "recover killed after its check" with_fault init-old-unprotected "$BTRFS_TXN" recover "$D"
echo ACKED >>"$old/sub/f"
expect_exit 5 "  a write then is kept by the next recover" "$BTRFS_TXN" recover "$D"
output_has "  naming it" "'sub/f' changed after init copied it"
# After recovery's own check (a kill at init-old-unprotected, by recover or by init
# itself): a change to a directory, or a directory made, is still kept.
late_dir_change() { # NAME FAULTED-COMMAND CHANGE
	D="$MNT/conv-$1"
	mkdir -p "$D/sub/deeper" && echo original >"$D/sub/f" && echo g >"$D/g"
	if [ "$2" = recover ]; then
		expect_exit 137 "[$1] init killed at 'init-exchanged'" with_fault init-exchanged "$BTRFS_TXN" init "$D"
		expect_exit 137 "[$1] recover killed after its check" with_fault init-old-unprotected "$BTRFS_TXN" recover "$D"
	else
		expect_exit 137 "[$1] init killed after its check" with_fault init-old-unprotected "$BTRFS_TXN" init "$D"
	fi
	old=$(ls -d "$(state_dir "$D")"/init-* | head -1)
	(cd "$old" && eval "$3")
	expect_exit 5 "  [$1] the next recover keeps the old directory" "$BTRFS_TXN" recover "$D"
	output_has "  [$1] saying it changed while being deleted" "changed while it was being deleted"
}
late_dir_change late-chmod recover 'chmod 0700 sub'
late_dir_change late-top recover 'setfattr -n user.k -v v .'
late_dir_change late-mkdir recover 'mkdir sub/new'
late_dir_change late-rename recover 'mv sub/deeper sub/moved'
late_dir_change late-init init 'chmod 0700 sub'
# A deletion cut short part-way (no hard links): the next recover finishes, exit 0.
# (strace: a check dependency, scripts/deps.sh)
D="$MNT/conv-cut"
mkdir -p "$D/a/b" "$D/c" && echo 1 >"$D/a/b/f" && echo 2 >"$D/a/g" && echo 3 >"$D/c/h" && echo 4 >"$D/i"
expect_exit 137 "init killed at 'init-exchanged' (a nested tree)" with_fault init-exchanged "$BTRFS_TXN" init "$D"
for n in 2 4; do
	expect_exit 137 "  recover killed at its deletion's unlink $n" strace -f -o /dev/null -e trace=unlinkat \
		-e inject=unlinkat:signal=SIGKILL:when=$n "$BTRFS_TXN" recover "$D"
done
ok "  recover then finishes" "$BTRFS_TXN" recover "$D"
ok "  nothing kept" sh -c "! ls -d '$(state_dir "$D")'/saved-* 2>/dev/null"
# The history has the init whose old directory was kept, also when the recovery
# that kept it was cut short.
ok "a kept init is in the history (recover cut short after keeping)" \
	sh -c "'$BTRFS_TXN' history --json '$MNT/conv-kept-cut' | grep -q '\"init\"'"
# No false alarm for a top whose mtime lies in the future (an archive from a
# machine whose clock ran ahead).
D="$MNT/conv-future"
mkdir -p "$D" && echo a >"$D/f" && touch -m -d '+1 hour' "$D"
expect_exit 137 "init killed at 'init-exchanged' (a top dated in the future)" with_fault init-exchanged "$BTRFS_TXN" init "$D"
ok "  recover exits 0" "$BTRFS_TXN" recover "$D"
ok "  nothing kept" sh -c "! ls -d '$(state_dir "$D")'/saved-* 2>/dev/null"
# Without a write, a recovery cut short while deleting (after it cleared chattr +i,
# which stamps ctimes) is not taken for a writer when run again.
D="$MNT/conv-immutable"
mkdir -p "$D" && echo frozen >"$D/frozen" && echo f >"$D/f" && chattr +i "$D/frozen"
expect_exit 137 "init killed at 'init-exchanged' (an immutable file)" with_fault init-exchanged "$BTRFS_TXN" init "$D"
expect_exit 137 "recover killed after clearing chattr +i in the old directory" \
	with_fault init-old-unprotected "$BTRFS_TXN" recover "$D"
ok "  recover run again finishes" "$BTRFS_TXN" recover "$D"
ok "  nothing left in the state directory" no_staging "$D"
ok "  nothing kept" sh -c "! ls -d '$(state_dir "$D")'/saved-* 2>/dev/null"
ok "  the file is still immutable in the subvolume" sh -c "lsattr '$D/frozen' | cut -c5 | grep -qx i"
chattr -i "$D/frozen"

D="$MNT/conv-again"
mkdir -p "$D" && echo again >"$D/f"
manifest "$D" >"$TEST_TMP/conv"
expect_exit 137 "init killed at 'init-copied'" with_fault init-copied "$BTRFS_TXN" init "$D"
ok "init run again recovers and converts by itself" "$BTRFS_TXN" init "$D"
ok "  a subvolume with the same content" subvolume_with "$TEST_TMP/conv" "$D"
ok "  nothing left in the state directory" no_staging "$D"

done_testing
