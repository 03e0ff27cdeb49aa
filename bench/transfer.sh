#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# transfer.sh: `make bench-transfer`: what it costs to move a change to other hosts.
#
# One source Btrfs holds a managed tree of TRANSFER_FILES files of 1 KiB (default
# 100,000); ten more loop-backed Btrfs filesystems are the destinations: d0 takes
# receive from a file, d1 a push to one destination, d2..d9 a push to eight at once.
# Each destination starts with the whole tree (a full push, untimed) and, for the
# rsync baseline, two plain copies of it: live/ and stage/. Then, TRANSFER_ROUNDS
# times, a change of 100 files (bench-util's spec, as `make bench` uses) is measured:
#   apply      btrfs-txn apply of the change on the source (the local cost)
#   send       btrfs-txn send of the new generation, incremental, into a file
#   receive    btrfs-txn receive of that file on d0 (stream in, staging, swap, sync)
#   push-1     btrfs-txn push to d1
#   push-8     btrfs-txn push --parallel 8 to d2..d9
#   rsync-1    rsync -a --delete of the tree into d1's stage/, RENAME_EXCHANGE with
#              live/, syncfs (what users script today)
#   rsync-8    the same into d2..d9, eight at once
# stage/ is the tree that the previous swap replaced, so each rsync round carries that
# round's change and the one before it, as a script that keeps its staging copy does.
# Bytes: the stream file's size against the changed bytes (100 x 1 KiB), and the
# "Total bytes sent" of rsync --stats. Each timing is a wall time from outside, after
# `bench-util settle` on every filesystem involved.
#
# Writes bench/results-transfer.md (TRANSFER_OUT to put it elsewhere). Needs root,
# loop devices, Btrfs and rsync. Fixtures come from tests/integration/lib.sh and are
# undone in a trap.
set -u
export LC_ALL=C

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../tests/integration/lib.sh
. "$TOP/tests/integration/lib.sh"

U=${BENCH_UTIL:-$TOP/build/bench/bench-util}
FILES=${TRANSFER_FILES:-100000}
ROUNDS=${TRANSFER_ROUNDS:-3}
BATCH=100
FILE_SIZE=1024
OUT=${TRANSFER_OUT:-$TOP/bench/results-transfer.md}
DESTS=10

die() { echo "bench-transfer: $*" >&2; exit 1; }
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root (loop devices, mkfs.btrfs, mount)"
require_btrfs
[ -x "$U" ] || die "$U is not built (make bench-transfer builds it)"
for tool in rsync jq btrfs; do
	command -v "$tool" >/dev/null || die "needs $tool (scripts/deps.sh bench installs it)"
done

SCRATCH=$TEST_TMP/scratch
mkdir -p "$SCRATCH" || die "cannot create $SCRATCH"
# Time a private copy: others may rebuild build/ while this runs.
cp "$BTRFS_TXN" "$SCRATCH/btrfs-txn" || die "cannot copy $BTRFS_TXN"
X=$SCRATCH/btrfs-txn
SAMPLES=$SCRATCH/samples.tsv # method round seconds
CPU_SAMPLES=$SCRATCH/cpu.tsv # method round CPU seconds of it and its children
BYTES=$SCRATCH/bytes.tsv     # kind round bytes
: >"$SAMPLES" : >"$BYTES"
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
BUILD_ID="$("$X" --version 2>/dev/null | head -1), commit $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$SECONDS

# A tree of 100k files of 1 KiB is about 200 MiB of metadata; 2G sparse images leave
# room for the generations kept on each side.
btrfs_fixture 4G
SRC=$MNT
D=()
dest_fixture() {
	local i=$1 image="$TEST_TMP/d$1.img" dev mnt="$TEST_TMP/d$1"
	mkdir -p "$mnt" && truncate -s 2G "$image" || die "cannot make $image"
	at_cleanup "rm -f '$image'"
	dev=$(losetup --find --show "$image") || die "cannot attach a loop device for d$i"
	at_cleanup "losetup -d '$dev'"
	mkfs.btrfs -q -f "$dev" >/dev/null 2>&1 || die "mkfs.btrfs failed on $dev"
	mount -t btrfs "$dev" "$mnt" || die "cannot mount d$i"
	at_cleanup "umount '$mnt' || umount -l '$mnt'"
	D[i]=$mnt
}
for i in $(seq 0 $((DESTS - 1))); do dest_fixture "$i"; done

settle_all() {
	local m
	for m in "$SRC" "${D[@]}"; do "$U" settle "$m" 600 || die "settling $m failed"; done
}

# children_cpu: sets CHILDREN_CPU to the CPU seconds (user + system) of this shell's
# waited-for children so far, from the second line of bash's `times`. Call it
# directly: in a command substitution's subshell the children start from zero.
children_cpu() {
	local line
	times >"$SCRATCH/times"
	line=$(sed -n 2p "$SCRATCH/times")
	CHILDREN_CPU=$(awk -v l="$line" 'BEGIN { n = split(l, f, " "); t = 0
		for (i = 1; i <= n; i++) { split(f[i], p, "m"); sub(/s$/, "", p[2]); t += p[1] * 60 + p[2] }
		printf "%.3f", t }')
}

# measure METHOD ROUND CMD...: settle, time CMD, record it (its wall time in
# $SAMPLES, the CPU time of it and its children in $CPU_SAMPLES).
measure() {
	local method=$1 round=$2 start end cpu0
	shift 2
	settle_all
	children_cpu
	cpu0=$CHILDREN_CPU
	start=$EPOCHREALTIME
	"$@" >"$SCRATCH/out" 2>"$SCRATCH/err" || {
		sed 's/^/  /' "$SCRATCH/err" >&2
		die "$method (round $round) failed: $*"
	}
	end=$EPOCHREALTIME
	awk -v m="$method" -v r="$round" -v s="$start" -v e="$end" \
		'BEGIN { printf "%s\t%s\t%.6f\n", m, r, e - s }' >>"$SAMPLES"
	children_cpu
	awk -v m="$method" -v r="$round" -v a="$cpu0" -v b="$CHILDREN_CPU" \
		'BEGIN { printf "%s\t%s\t%.6f\n", m, r, b - a }' >>"$CPU_SAMPLES"
}

# rsync_swap DEST...: rsync the source tree into each DEST's stage/, exchange it with
# live/, syncfs; all DESTs at once. Bytes sent go to $SCRATCH/rsync-N.stats.
rsync_swap() {
	local d pids=() rc=0
	for d in "$@"; do
		(rsync -a --delete --stats "$T/" "$d/stage/" >"$SCRATCH/rsync-$(basename "$d").stats" &&
			"$U" exchange "$d/stage" "$d/live" && "$U" syncfs "$d/live") &
		pids+=($!)
	done
	for d in "${pids[@]}"; do wait "$d" || rc=1; done
	return $rc
}
rsync_bytes() {
	awk -F': ' '/^Total bytes sent/ { gsub(/,/, "", $2); s += $2 } END { print s + 0 }' "$@"
}

T=$SRC/tree
log "source tree of $FILES files"
btrfs subvolume create "$T" >/dev/null && "$U" mktree "$T" "$FILES" "$FILE_SIZE" &&
	"$X" init "$T" >/dev/null || die "cannot make the source tree"
log "full copies on $DESTS destinations (untimed)"
dest_args=()
for i in $(seq 0 $((DESTS - 1))); do dest_args+=("${D[i]}/t"); done
"$X" push -q --parallel 8 "$T" "${dest_args[@]}" || die "the first, full push failed"
for i in $(seq 1 $((DESTS - 1))); do
	btrfs subvolume create "${D[i]}/live" >/dev/null && btrfs subvolume create "${D[i]}/stage" >/dev/null &&
		rsync -a "$T/" "${D[i]}/live/" && rsync -a "$T/" "${D[i]}/stage/" ||
		die "cannot make the rsync copies on d$i"
done
"$X" send -q "$T" -f "$SCRATCH/full.stream" || die "full send failed"
FULL_BYTES=$(stat -c %s "$SCRATCH/full.stream")
rm -f "$SCRATCH/full.stream"

EIGHT=("${dest_args[@]:2:8}")
RS_EIGHT=()
for i in $(seq 2 9); do RS_EIGHT+=("${D[i]}"); done
# Round 0 is a warm-up, left out of the medians: the first rsync reads every file of
# the source, and relatime then stamps each with an access time once, which the next
# incremental stream carries (about 7 MB for 100k files).
for r in $(seq 0 "$ROUNDS"); do
	log "round $r of $ROUNDS (0: warm-up)"
	"$U" spec "$T" "$FILES" "$BATCH" "r$r" >"$SCRATCH/spec.json" || die "cannot make a spec"
	measure apply "$r" "$X" apply -q "$SCRATCH/spec.json"
	measure send "$r" "$X" send -q "$T" -f "$SCRATCH/inc.stream"
	printf 'stream\t%s\t%s\n' "$r" "$(stat -c %s "$SCRATCH/inc.stream")" >>"$BYTES"
	measure receive "$r" "$X" receive -q "${D[0]}/t" -f "$SCRATCH/inc.stream"
	measure push-1 "$r" "$X" push -q "$T" "${D[1]}/t"
	measure push-8 "$r" "$X" push -q --parallel 8 "$T" "${EIGHT[@]}"
	measure rsync-1 "$r" rsync_swap "${D[1]}"
	printf 'rsync-1\t%s\t%s\n' "$r" "$(rsync_bytes "$SCRATCH/rsync-d1.stats")" >>"$BYTES"
	measure rsync-8 "$r" rsync_swap "${RS_EIGHT[@]}"
	printf 'rsync-8\t%s\t%s\n' "$r" "$(rsync_bytes "$SCRATCH"/rsync-d[2-9].stats)" >>"$BYTES"
	# keep the source's and destinations' generations from piling up (untimed)
	"$X" gc -q --keep 2 "$T" >/dev/null 2>&1 || true
done
for i in 0 1 2 9; do
	diff -r "$T" "${D[i]}/t" >/dev/null || die "d$i's tree differs from the source after the rounds"
done
diff -r "$T" "${D[1]}/live" >/dev/null || die "d1's rsync copy differs from the source"

median() { # METHOD [FILE]
	awk -v m="$1" '$1 == m && $2 > 0 { print $3 }' "${2:-$SAMPLES}" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
bytes_median() { # KIND
	awk -v k="$1" '$1 == k && $2 > 0 { print $3 }' "$BYTES" | sort -n |
		awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.2f", a / b; else print "-" }'; }
CHANGED=$((BATCH * FILE_SIZE))
STREAM=$(bytes_median stream)
RS1=$(bytes_median rsync-1)
RS8=$(bytes_median rsync-8)
APPLY=$(median apply) RECV=$(median receive) P1=$(median push-1) P8=$(median push-8)
R1=$(median rsync-1) R8=$(median rsync-8) SEND=$(median send)
C1=$(median push-1 "$CPU_SAMPLES") C8=$(median push-8 "$CPU_SAMPLES") CORES=$(nproc)
FLOOR8=$(awk -v c="$C8" -v n="$CORES" 'BEGIN { printf "%.3f", c / n }')

{
	echo "# Transfer benchmark: send, receive and push against rsync"
	echo
	echo "Command: \`make bench-transfer\` (TRANSFER_FILES=$FILES TRANSFER_ROUNDS=$ROUNDS)."
	echo "Run: $STARTED, $BUILD_ID; $(nproc) CPUs, load average at start $LOAD_START;"
	echo "$((SECONDS - T0)) s in all. Loop-backed Btrfs filesystems on one machine: the"
	echo "source and ten destinations. A change of $BATCH files of 1 KiB in a tree of $FILES"
	echo "files; medians of $ROUNDS rounds after a warm-up. What each row does is in bench/transfer.sh."
	echo
	echo "| what | seconds | bytes moved | note |"
	echo "| --- | ---: | ---: | --- |"
	echo "| apply (local, the reference) | $APPLY | $CHANGED changed | |"
	echo "| send, incremental, to a file | $SEND | $STREAM | $(ratio "$STREAM" "$CHANGED") x the changed bytes (full stream: $FULL_BYTES) |"
	echo "| receive + swap | $RECV | $STREAM | $(ratio "$RECV" "$APPLY") x apply (goal <= 3) |"
	echo "| push to 1 destination | $P1 | $STREAM | $(ratio "$P1" "$APPLY") x apply |"
	echo "| push to 8 destinations, parallel 8 | $P8 | $((STREAM * 8)) | $(ratio "$P8" "$P1") x push to 1 (goal <= 2) |"
	echo "| rsync -a --delete + swap, 1 destination | $R1 | $RS1 | $(ratio "$R1" "$P1") x push to 1 |"
	echo "| rsync -a --delete + swap, 8 destinations | $R8 | $RS8 | $(ratio "$R8" "$P8") x push to 8 |"
	echo
	echo "rsync's bytes are its --stats \"Total bytes sent\" (file lists and deltas of the two"
	echo "changes its stage/ copy lacks); push's are the incremental stream, once per"
	echo "destination. rsync has to walk the whole tree on both sides each time; a stream"
	echo "is computed from the two snapshots' differences only."
	echo
	echo "CPU time (user + system of push and every process it starts, the destinations'"
	echo "receives included, medians): push to 1 took $C1 s, push to 8 took $C8 s"
	echo "($(ratio "$C8" "$C1") x). Here the eight destinations are filesystems on the sending machine,"
	echo "so their receives share its $CORES cores with the sender (push to 8 cannot take less"
	echo "than $C8 / $CORES = $FLOOR8 s, $(ratio "$FLOOR8" "$P1") x push to 1, on this machine; the Btrfs"
	echo "workers and loop devices doing their I/O are not even counted) and its one disk, which"
	echo "every destination's commits flush. On a fleet each destination receives on its own"
	echo "CPUs and disk, and the sending side (one send per distinct stream, shared by the"
	echo "destinations that need it; one status query each) is what grows with their number."
} >"$OUT"
log "wrote $OUT"
cat "$OUT"
