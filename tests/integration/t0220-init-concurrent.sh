#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0220: init never loses a write. A process writing into the directory while it is
# converted finds every write it completed in the live tree, or init exited 1 with
# the directory untouched; a process that holds the directory (its cwd, a file open
# for writing) makes init refuse, naming it. chattr flags (+i, +a, +C) and file
# capabilities survive the conversion, and the converted tree stays manageable.
# SIGTERM during init aborts (exit 1) or completes, never leaves a journal.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v setcap >/dev/null || skip_all "needs setcap (libcap2-bin)"
command -v chattr >/dev/null || skip_all "needs chattr (e2fsprogs)"
btrfs_fixture 1G

is_subvolume() { btrfs subvolume show "$1" >/dev/null 2>&1; }
not_subvolume() { ! is_subvolume "$1"; }
journal_gone() { test ! -e "$(state_dir "$1")/journal"; }
flags_of() { lsattr -d "$1" | cut -d' ' -f1; }
has_flag() { case $(flags_of "$1") in *"$2"*) return 0 ;; esac; echo "$1: $(flags_of "$1")"; return 1; }

# chattr flags and capabilities are carried over
D="$MNT/flags"
mkdir -p "$D/nocow" "$D/etc"
chattr +C "$D/nocow" && head -c 300000 /dev/urandom >"$D/nocow/db"
touch "$D/single" && chattr +C "$D/single" && head -c 100000 /dev/urandom >>"$D/single"
echo frozen >"$D/etc/frozen.conf" && chattr +i "$D/etc/frozen.conf"
echo "first" >"$D/etc/audit.log" && chattr +a "$D/etc/audit.log"
printf '\177ELF' >"$D/ping" && chmod 0755 "$D/ping" && chown 1234 "$D/ping" && setcap cap_net_raw+ep "$D/ping"
echo plain >"$D/plain"
at_cleanup "chattr -R -i -a '$MNT' 2>/dev/null"
manifest "$D" >"$TEST_TMP/flags"
ok "init of a directory with +i, +a, +C files and a capability" "$BTRFS_TXN" init "$D"
ok "  it is a subvolume" is_subvolume "$D"
ok "  content identical" same_manifest "$TEST_TMP/flags" "$D"
ok "  +i kept" has_flag "$D/etc/frozen.conf" i
ok "  +a kept" has_flag "$D/etc/audit.log" a
ok "  +C kept on the file made in a +C directory" has_flag "$D/nocow/db" C
ok "  +C kept on the directory" has_flag "$D/nocow" C
ok "  +C kept on a file flagged by itself" has_flag "$D/single" C
ok "  the capability kept" sh -c "getcap '$D/ping' | grep -q cap_net_raw"
ok "  no leftover in the state directory" no_staging "$D"
ok "  no journal" journal_gone "$D"
ok "an apply works on the converted tree" apply_ops "$D" '[{"op": "write", "path": "plain", "content": "new\n"}]'
ok "  and a rollback" "$BTRFS_TXN" rollback "$D"
ok "  back to the converted content" same_manifest "$TEST_TMP/flags" "$D"
ok "  gc drops the generation holding +i files" "$BTRFS_TXN" gc --keep 1 "$D"

# An init cut short after the exchange: recover removes the old tree despite its +i.
D="$MNT/flags-killed"
mkdir -p "$D/etc" && echo frozen >"$D/etc/frozen.conf" && chattr +i "$D/etc/frozen.conf"
echo log >"$D/log" && chattr +a "$D/log"
manifest "$D" >"$TEST_TMP/killed"
expect_exit 137 "init with +i/+a files killed after the exchange" with_fault init-exchanged "$BTRFS_TXN" init "$D"
ok "  recover finishes it" "$BTRFS_TXN" recover "$D"
ok "  content identical" same_manifest "$TEST_TMP/killed" "$D"
ok "  +i and +a kept on the live tree" sh -c "lsattr '$D/etc/frozen.conf' | cut -c1-8 | grep -q i && lsattr '$D/log' | cut -c1-8 | grep -q a"
ok "  the old tree is gone" no_staging "$D"
ok "  no journal" journal_gone "$D"

D="$MNT/nocow-links"
mkdir -p "$D" && touch "$D/a" && chattr +C "$D/a" && echo x >>"$D/a" && ln "$D/a" "$D/b"
manifest "$D" >"$TEST_TMP/links"
expect_exit 4 "init of a nodatacow file with two names is refused" "$BTRFS_TXN" init "$D"
output_has "  naming the file and +C" "nocow-links/(a|b).*chattr \+C"
ok "  directory unchanged" same_manifest "$TEST_TMP/links" "$D"
ok "  and not converted" not_subvolume "$D"
ok "  nothing left" no_staging "$D"

# An append-only file outside the directory, hard-linked into it: init would clear
# +a on the old directory's inodes before deleting it, and so lift it for the name
# outside too. Refused, the flag kept.
D="$MNT/append-link"
# (linked before the flag was set: the kernel refuses a new link to such a file)
mkdir -p "$D" "$MNT/logs" && echo first >"$MNT/logs/audit.log" && ln "$MNT/logs/audit.log" "$D/audit.log" &&
	chattr +a "$MNT/logs/audit.log"
manifest "$D" >"$TEST_TMP/alink"
expect_exit 4 "init of a directory holding a hard link to an append-only file is refused" "$BTRFS_TXN" init "$D"
output_has "  naming the file and the flag" "append-link/audit.log.*chattr \+i/\+a.*hard links"
ok "  the flag is kept on the file outside" sh -c "lsattr '$MNT/logs/audit.log' | cut -c1-8 | grep -q a"
ok "  directory unchanged" same_manifest "$TEST_TMP/alink" "$D"
ok "  and not converted" not_subvolume "$D"

# The first scan reads each entry's inode flags and capability through a descriptor
# opened beneath the directory, never through a symlink: the directory's owner
# could swap a directory on the way for a symlink after nftw saw it, and root would
# open (and send an ioctl to) a file or device elsewhere (a race a hostile owner
# wins within a few dozen tries; here the opens are checked instead).
if command -v strace >/dev/null; then
	D="$MNT/scan-opens"
	mkdir -p "$D/sub" && echo x >"$D/sub/f" && echo y >"$D/g"
	ok "init under strace" strace -f -qq -e trace=openat,openat2 -o "$TEST_TMP/scan.strace" "$BTRFS_TXN" init "$D"
	ok "  every entry opened beneath the directory with RESOLVE_NO_SYMLINKS, none by path" \
		sh -c "grep O_NOATIME '$TEST_TMP/scan.strace'; [ \$(grep O_NOATIME '$TEST_TMP/scan.strace' | grep -c 'openat2(.*RESOLVE_NO_SYMLINKS') -ge 3 ] && ! grep O_NOATIME '$TEST_TMP/scan.strace' | grep -q 'openat(AT_FDCWD'"
fi

# A process that holds the directory makes init refuse, naming it.
D="$MNT/held"
mkdir -p "$D/sub" && echo 1 >"$D/sub/log"
ino=$(stat -c %i "$D")
(cd "$D/sub" && exec sleep 300) &
holder=$!
at_cleanup "kill $holder"
sleep 0.2
expect_exit 1 "init while a process has its cwd inside" "$BTRFS_TXN" init "$D"
output_has "  names the pid and its cwd" "pid $holder \(sleep\) cwd"
ok "  the directory is untouched" sh -c "test $(stat -c %i "$D") = $ino && ! btrfs subvolume show '$D' >/dev/null 2>&1"
kill $holder && wait $holder 2>/dev/null
(exec 3>>"$D/sub/log" && exec sleep 300) &
holder=$!
at_cleanup "kill $holder"
sleep 0.2
expect_exit 1 "init while a process holds a file open for writing" "$BTRFS_TXN" init "$D"
output_has "  names the pid and the file" "pid $holder \(sleep\) writable fd '.*held/sub/log'"
kill $holder && wait $holder 2>/dev/null
(exec 3<"$D/sub/log" && exec sleep 300) &
holder=$!
at_cleanup "kill $holder"
sleep 0.2
ok "a reader does not block init" "$BTRFS_TXN" init "$D"
kill $holder && wait $holder 2>/dev/null

# A writer during init: every write it completed is in the live tree, or init
# exited 1 and the directory is untouched. The writer works in bursts so that some
# inits fall between them and succeed.
writer() {
	local dir=$1 ack=$2 i=0
	while :; do
		for _ in 1 2 3 4 5 6 7 8; do
			i=$((i + 1))
			echo "line $i" >>"$dir/log" && echo "$i" >"$dir/file-$i" && echo "$i" >>"$ack"
		done
		sleep "0.$((RANDOM % 4))"
	done
}
all_acknowledged() {
	local dir=$1 ack=$2 i missing=0
	while read -r i; do
		grep -qx "line $i" "$dir/log" || { echo "line $i lost"; missing=1; }
		[ "$(cat "$dir/file-$i" 2>/dev/null)" = "$i" ] || { echo "file-$i lost"; missing=1; }
	done <"$ack"
	return $missing
}
untouched_with_all() {
	test "$(stat -c %i "$1")" = "$2" && not_subvolume "$1" && all_acknowledged "$1" "$3"
}
converted=0 aborted=0
for round in $(seq 1 24); do
	D="$MNT/busy-$round" ack="$TEST_TMP/ack-$round"
	mkdir -p "$D/data" && : >"$ack"
	for k in $(seq 1 40); do echo "$k" >"$D/data/seed-$k"; done
	ino=$(stat -c %i "$D")
	writer "$D" "$ack" &
	pid=$!
	sleep "0.$((RANDOM % 3))"
	"$BTRFS_TXN" init "$D" >"$TEST_TMP/init.out" 2>&1
	code=$?
	kill $pid && wait $pid 2>/dev/null
	case $code in
	0) converted=$((converted + 1))
	   ok "round $round: init converted; every acknowledged write is in the live tree" all_acknowledged "$D" "$ack" ;;
	1) aborted=$((aborted + 1))
	   ok "round $round: init aborted; the directory is untouched and has every write" \
		untouched_with_all "$D" "$ino" "$ack" ;;
	*) ok "round $round: init exited 0 or 1 (exit $code: $(head -c 300 "$TEST_TMP/init.out"))" false ;;
	esac
	ok "round $round: no journal and nothing left" sh -c "test ! -e '$(state_dir "$D")/journal' && cd '$(state_dir "$D")' 2>/dev/null; test -z \"\$(ls -d init-* saved-* 2>/dev/null)\""
done
echo "# writer rounds: $converted converted, $aborted aborted"
ok "at least one round acknowledged some writes" test -s "$TEST_TMP/ack-1"

# SIGTERM during init: at each step, then at a random moment.
for step in init-journaled init-copied init-exchanged; do
	D="$MNT/term-$step"
	mkdir -p "$D/a" && echo "$step" >"$D/a/f"
	manifest "$D" >"$TEST_TMP/term"
	# The step hook runs as a child of btrfs-txn: $PPID is btrfs-txn.
	with_hook "[ \"\$1\" = $step ] && kill -TERM \$PPID; true" "$BTRFS_TXN" init "$D" >"$TEST_TMP/term.out" 2>&1
	code=$?
	if [ $step = init-exchanged ]; then
		ok "SIGTERM at $step: init completes (exit $code)" test $code = 0
		ok "  [$step] a subvolume" is_subvolume "$D"
	else
		ok "SIGTERM at $step: init aborts with exit 1 (exit $code)" test $code = 1
		ok "  [$step] says so" grep -q "interrupted by signal 15" "$TEST_TMP/term.out"
		ok "  [$step] still a plain directory" not_subvolume "$D"
	fi
	ok "  [$step] content identical" same_manifest "$TEST_TMP/term" "$D"
	ok "  [$step] no journal left" journal_gone "$D"
	ok "  [$step] nothing left" no_staging "$D"
done
D="$MNT/term-random"
mkdir -p "$D"
for k in $(seq 1 300); do head -c 2000 /dev/urandom >"$D/f$k"; done
manifest "$D" >"$TEST_TMP/term"
"$BTRFS_TXN" init "$D" >"$TEST_TMP/term.out" 2>&1 &
pid=$!
sleep 0.05
kill -TERM $pid
wait $pid
code=$?
ok "SIGTERM at a random moment: exit 0 or 1 (exit $code)" test $code = 0 -o $code = 1
ok "  content identical" same_manifest "$TEST_TMP/term" "$D"
ok "  no journal left" journal_gone "$D"
ok "  nothing left" no_staging "$D"

done_testing
