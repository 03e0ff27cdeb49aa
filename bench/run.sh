#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh: `make bench`: time btrfs-txn against the alternatives on a loop-backed Btrfs.
#
# For each tree size (1k, 10k, 100k files of 1 KiB; 1M with BENCH_LARGE=1) and batch
# size (1, 100, 10,000 changed files, never more than the tree), it times, after one
# warm-up run, BENCH_RUNS runs of each method, round-robin so that the noise of a
# shared machine falls on every method alike:
#   inplace   write the files in place, then one syncfs (the floor, not atomic)
#   replace   per file: temp file, fsync, rename; then syncfs (atomic per file only)
#   apply     btrfs-txn apply of a spec of `write` ops (snapshot method, as shipped)
#   apply-history  the same on a twin target whose history holds 10,000 earlier
#             transactions (batch 1 only): what a long-lived target pays for its past
#   apply-copy  the same changes as `copy` ops from source files on the same
#             filesystem (made untimed before each run): the spec is 12x smaller
#   validate  btrfs-txn validate of apply's spec: process start, reading, parsing and
#             checking the spec, exit; no target access (for the breakdown only)
#   rollback  btrfs-txn rollback, right after those applies
#   rollback-floor  rollback's own floor: a writable snapshot of a read-only tree
#             (taken untimed), RENAME_EXCHANGE with the live one, syncfs
#   tag       btrfs-txn snapshot --tag pre, then post (apt's hooks run one of each)
#   tag-floor its own floor: one read-only snapshot (Btrfs commits it by itself)
#   reflink   cp -a --reflink=always of the tree, change, RENAME_EXCHANGE, syncfs
#   copy      cp -a --reflink=never of the tree, change, RENAME_EXCHANGE, syncfs
#   inplace-shared  a diagnostic, not an alternative: inplace on a subvolume that
#             has just been snapshotted (untimed), so every block it changes is
#             shared, as the staging tree's are: Btrfs's own price of a snapshot
# A batch of B changes every (N/B)-th file of the tree of N, so it spreads over more
# directories as the tree grows. For the growth target the same changed files are
# measured in every tree as well: inplace-fixed and apply-fixed change the files that
# batch B changes in the smallest tree that holds it (in that tree they are the same
# as inplace and apply, which stand in for them there).
# Each run is timed from outside (process start to exit), after the Btrfs cleaner has
# finished (`btrfs subvolume sync`) and everything earlier is on disk (syncfs). Old
# generations are dropped (gc) and old copies removed between runs, untimed.
#
# Writes bench/results.md and bench/latency.png, or with BENCH_LARGE=1 results-large.md
# and latency-large.png, so that the two runs keep their own (BENCH_OUT to put them elsewhere);
# raw samples stay under build/bench/. Needs root, loop devices and Btrfs. The loop
# device, mount and image come from tests/integration/lib.sh, which undoes them in a
# trap on exit, error and Ctrl-C.
#
# Environment: BENCH_LARGE=1 (add 1M files), BENCH_RUNS (default 5), BENCH_TREES and
# BENCH_BATCHES (space-separated overrides, for quick trials), BENCH_IMAGE_SIZE.
set -u
export LC_ALL=C

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../tests/integration/lib.sh
. "$TOP/tests/integration/lib.sh"

U=${BENCH_UTIL:-$TOP/build/bench/bench-util}
RUNS=${BENCH_RUNS:-5}
LARGE=${BENCH_LARGE:-0}
OUT=${BENCH_OUT:-$TOP/bench}
FILE_SIZE=1024
TREES=${BENCH_TREES:-"1000 10000 100000"}
[ "$LARGE" = 1 ] && [ -z "${BENCH_TREES:-}" ] && TREES="$TREES 1000000"
BATCHES=${BENCH_BATCHES:-"1 100 10000"}
IMAGE_SIZE=${BENCH_IMAGE_SIZE:-$([ "$LARGE" = 1 ] && echo 48G || echo 8G)}
METHODS="inplace replace apply apply-history validate apply-copy rollback rollback-floor tag tag-floor reflink copy inplace-shared inplace-fixed apply-fixed"
# A method whose warm-up took longer than this many seconds gets 3 timed runs, and
# longer than the second number, 1 timed run; a copy method slower than the third
# is skipped at the other batch sizes of that tree (its cost is the tree, not the batch).
SLOW=2 VERY_SLOW=20 SKIP_OTHERS=60
# apply-history's target has lived through this many transactions.
HISTORY_LINES=10000

die() { echo "bench: $*" >&2; exit 1; }
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root (loop devices, mkfs.btrfs, mount)"
require_btrfs
[ -x "$U" ] || die "$U is not built (make bench builds it)"
for tool in jq gnuplot /usr/bin/time timeout btrfs; do
	command -v "$tool" >/dev/null || die "needs $tool (scripts/deps.sh bench installs it)"
done
case " $BATCHES " in *" 100 "*) ;; *) log "note: without batch 100 some targets cannot be checked" ;; esac

SCRATCH=$TOP/build/bench/run-$(date +%Y%m%dT%H%M%S)
mkdir -p "$SCRATCH" "$OUT" || die "cannot create $SCRATCH"
SAMPLES=$SCRATCH/samples.tsv   # method tree batch run seconds
TIMING=$SCRATCH/timing.tsv     # kind tree batch run field seconds (apply/rollback --json)
NOTES=$SCRATCH/notes.txt       # one line per skipped or shortened measurement
MEMORY=$SCRATCH/memory.tsv     # spec ops max_rss_kib
COMMITS=$SCRATCH/commits.tsv   # method tree batch run btrfs-commits
: >"$SAMPLES" : >"$TIMING" : >"$NOTES" : >"$MEMORY" : >"$COMMITS"
# Time a private copy: others may rebuild build/ while this runs for minutes.
cp "$BTRFS_TXN" "$SCRATCH/btrfs-txn" || die "cannot copy $BTRFS_TXN"
BTRFS_TXN=$SCRATCH/btrfs-txn
BUILD_ID="$("$BTRFS_TXN" --version 2>/dev/null | head -1), commit $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$TOP" diff --quiet HEAD -- txn runner 2>/dev/null || echo ' (txn/ or runner/ modified)')"
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$SECONDS

log "image $IMAGE_SIZE, trees: $TREES, batches: $BATCHES, $RUNS runs after a warm-up"
btrfs_fixture "$IMAGE_SIZE"
# Btrfs counts its transaction commits (Linux 6.0 and later): how many each command costs.
COMMIT_STATS=/sys/fs/btrfs/$(findmnt -no UUID "$MNT" 2>/dev/null)/commit_stats
commits_now() { [ -r "$COMMIT_STATS" ] && awk '$1 == "commits" { print $2 }' "$COMMIT_STATS"; }

# The cleaner has finished and nothing earlier is left dirty: start from quiet.
settle() {
	"$U" settle "$MNT" 600 || die "settling $MNT failed"
}

# measure METHOD TREE BATCH RUN CMD...: settle, run CMD, record its wall time in LAST.
# CMD's stdout is left in $SCRATCH/out.
measure() {
	local method=$1 tree=$2 batch=$3 run=$4 start end
	shift 4
	settle
	local c0 c1
	c0=$(commits_now)
	start=$EPOCHREALTIME
	"$@" >"$SCRATCH/out" 2>"$SCRATCH/err" || {
		sed 's/^/  /' "$SCRATCH/err" >&2
		die "$method (tree $tree, batch $batch, run $run) failed: $*"
	}
	end=$EPOCHREALTIME
	c1=$(commits_now)
	[ -n "$c0" ] && [ -n "$c1" ] &&
		printf '%s\t%s\t%s\t%s\t%s\n' "$method" "$tree" "$batch" "$run" "$((c1 - c0))" >>"$COMMITS"
	LAST=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.6f", e - s }')
	printf '%s\t%s\t%s\t%s\t%s\n' "$method" "$tree" "$batch" "$run" "$LAST" >>"$SAMPLES"
}

# copy_swap HOW N B TAG: copy the tree, change B files in the copy, swap, sync.
copy_swap() {
	cp -a --reflink="$1" "$DIR/tree" "$DIR/tree.new" &&
		"$U" inplace "$DIR/tree.new" "$2" "$3" "$4" nosync &&
		"$U" exchange "$DIR/tree" "$DIR/tree.new" &&
		"$U" syncfs "$DIR"
}

# record_timing KIND TREE BATCH RUN: the engine's breakdown from the --json output.
record_timing() {
	jq -r --arg k "$1" --arg t "$2" --arg b "$3" --arg r "$4" \
		'.timing | to_entries[] | [$k, $t, $b, $r, .key, (.value | tostring)] | @tsv' \
		"$SCRATCH/out" >>"$TIMING" || die "no timing in the --json output of $1"
}

# layout_of BATCH: the smallest tree of this run that holds the batch; the fixed
# changed set of batch B is the one batch B changes in that tree.
layout_of() {
	local t
	for t in $(printf '%s\n' $TREES | sort -n); do
		[ "$t" -ge "$1" ] && { echo "$t"; return; }
	done
}

# run_method METHOD TREE BATCH RUN
run_method() {
	local method=$1 n=$2 b=$3 run=$4 tag="r$run-b$3-$1" fixed
	fixed=$(layout_of "$b")
	case $method in
	inplace) measure "$@" "$U" inplace "$DIR/tree" "$n" "$b" "$tag" ;;
	inplace-fixed) measure "$@" "$U" inplace "$DIR/tree" "$fixed" "$b" "$tag" ;;
	replace) measure "$@" "$U" replace "$DIR/rtree" "$n" "$b" "$tag" ;;
	apply | apply-fixed)
		"$U" spec "$T" "$([ "$method" = apply ] && echo "$n" || echo "$fixed")" "$b" "$tag" \
			>"$SCRATCH/spec.json" || die "cannot make a spec"
		measure "$@" "$BTRFS_TXN" apply --json "$SCRATCH/spec.json"
		record_timing "$method" "$n" "$b" "$run"
		;;
	apply-history)
		"$U" spec "$TH" "$n" "$b" "$tag" >"$SCRATCH/spec.json" || die "cannot make a spec"
		measure "$@" "$BTRFS_TXN" apply --json "$SCRATCH/spec.json"
		record_timing "$method" "$n" "$b" "$run"
		# As apply's target after each rollback: no drop inside a timed run.
		"$BTRFS_TXN" gc --keep 1 "$TH" >/dev/null || die "gc of $TH failed"
		;;
	validate)
		"$U" spec "$T" "$n" "$b" "$tag" >"$SCRATCH/spec.json" || die "cannot make a spec"
		measure "$@" "$BTRFS_TXN" validate -q "$SCRATCH/spec.json"
		;;
	apply-copy)
		"$U" sources "$MNT/sources" "$b" "$FILE_SIZE" "$tag" &&
			"$U" spec "$T" "$n" "$b" "$tag" "$MNT/sources" >"$SCRATCH/spec.json" ||
			die "cannot make copy sources and their spec"
		measure "$@" "$BTRFS_TXN" apply --json "$SCRATCH/spec.json"
		record_timing "$method" "$n" "$b" "$run"
		rm -rf "$MNT/sources" || die "cannot remove $MNT/sources"
		;;
	inplace-shared)
		btrfs subvolume snapshot "$SHARED" "$SHARED.snap" >/dev/null ||
			die "cannot snapshot $SHARED"
		measure "$@" "$U" inplace "$SHARED" "$n" "$b" "$tag"
		btrfs subvolume delete "$SHARED.snap" >/dev/null || die "cannot delete $SHARED.snap"
		;;
	rollback)
		measure "$@" "$BTRFS_TXN" rollback --json "$T"
		record_timing rollback "$n" "$b" "$run"
		"$BTRFS_TXN" gc --keep 1 "$T" >/dev/null || die "gc of $T failed"
		;;
	rollback-floor)
		btrfs subvolume snapshot -r "$SHARED" "$SHARED.rb" >/dev/null ||
			die "cannot snapshot $SHARED"
		measure "$@" "$U" swapin "$SHARED.rb" "$SHARED" "$SHARED.stage"
		btrfs subvolume delete "$SHARED.stage" "$SHARED.rb" >/dev/null ||
			die "cannot delete $SHARED.stage and $SHARED.rb"
		;;
	tag)
		measure "$@" "$BTRFS_TXN" snapshot --json "$T" --tag "$([ $((run % 2)) = 0 ] && echo pre || echo post)"
		"$BTRFS_TXN" gc --keep 1 "$T" >/dev/null || die "gc of $T failed"
		;;
	tag-floor)
		measure "$@" "$U" snapshot "$T" "$MNT/tag-floor" ro
		btrfs subvolume delete "$MNT/tag-floor" >/dev/null || die "cannot delete $MNT/tag-floor"
		;;
	reflink | copy)
		local how=always
		[ "$method" = copy ] && how=never
		measure "$@" copy_swap "$how" "$n" "$b" "$tag"
		rm -rf "$DIR/tree.new" || die "cannot remove $DIR/tree.new"
		;;
	esac
}

# old_history TARGET LINES: TARGET's history becomes LINES committed transactions,
# generations 1 to LINES (the last the current one), long since dropped by gc: the
# state of a target that has lived through that many deployments. Written in the
# shape history_append() writes (txn/journal.c).
old_history() {
	awk -v n="$2" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "{\"txid\":\"20250101T000000Z-%06x\",\"time\":\"2025-01-01T00:00:00Z\",\"kind\":\"apply\",\"result\":\"committed\",\"description\":\"bench: an earlier deployment\",\"generation\":%d,\"previous\":%d,\"ops\":1,\"recovered\":false,\"started\":\"2025-01-01T00:00:00Z\"}\n", i, i, i - 1
	}' >"$MNT/.btrfs-txn/${1##*/}/history.jsonl" || die "cannot write the history of $1"
}

setup_tree() {
	local n=$1
	T=$MNT/txn-$n DIR=$MNT/dir-$n SHARED=$MNT/shared-$n TH=$MNT/txnh-$n
	log "tree of $n files: creating"
	btrfs subvolume create "$T" >/dev/null || die "cannot create subvolume $T"
	"$U" mktree "$T" "$n" "$FILE_SIZE" || die "cannot fill $T"
	"$BTRFS_TXN" init "$T" >/dev/null || die "btrfs-txn init $T failed"
	if [[ " $METHODS " == *" apply-history "* ]]; then
		btrfs subvolume create "$TH" >/dev/null && "$U" mktree "$TH" "$n" "$FILE_SIZE" &&
			"$BTRFS_TXN" init "$TH" >/dev/null || die "cannot make $TH"
		old_history "$TH" "$HISTORY_LINES"
	fi
	# replace gets a tree of its own: it gives every file it changes a new inode, and
	# those new inodes sit together in a few leaves, which would make the floor's next
	# in-place writes of the same files touch a handful of leaves instead of B.
	mkdir -p "$DIR" && "$U" mktree "$DIR/tree" "$n" "$FILE_SIZE" &&
		"$U" mktree "$DIR/rtree" "$n" "$FILE_SIZE" || die "cannot fill $DIR"
	if [[ " $METHODS " == *" inplace-shared "* ]]; then
		btrfs subvolume create "$SHARED" >/dev/null &&
			"$U" mktree "$SHARED" "$n" "$FILE_SIZE" || die "cannot fill $SHARED"
	fi
	settle
}

teardown_tree() {
	"$BTRFS_TXN" gc --keep 0 "$T" >/dev/null &&
		btrfs subvolume delete "$T" >/dev/null &&
		{ [ ! -d "$TH" ] || { "$BTRFS_TXN" gc --keep 0 "$TH" >/dev/null &&
			btrfs subvolume delete "$TH" >/dev/null; }; } &&
		{ [ ! -d "$SHARED" ] || btrfs subvolume delete "$SHARED" >/dev/null; } &&
		rm -rf "$DIR" || die "cannot remove the tree of $1 files"
}

# Peak memory of a 10,000-op apply whose contents come from `copy` sources (and, for
# comparison, of the same batch with inline `write` contents), on the tree of N files.
measure_memory() {
	local n=$1 b=10000 i kind
	[ "$n" -ge "$b" ] || return 0
	setup_tree "$n"
	"$U" sources "$MNT/sources" "$b" "$FILE_SIZE" mem || die "cannot make copy sources"
	for i in 1 2 3; do
		for kind in copy write; do
			if [ "$kind" = copy ]; then
				"$U" spec "$T" "$n" "$b" "mem$i" "$MNT/sources" >"$SCRATCH/mem.json"
			else
				"$U" spec "$T" "$n" "$b" "mem$i" >"$SCRATCH/mem.json"
			fi || die "cannot make a spec"
			settle
			/usr/bin/time -v -o "$SCRATCH/time-v" "$BTRFS_TXN" apply -q "$SCRATCH/mem.json" ||
				die "apply of the $kind memory spec failed"
			printf '%s\t%s\t%s\t%s\n' "$kind" "$b" \
				"$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$SCRATCH/time-v")" \
				"$(stat -c %s "$SCRATCH/mem.json")" >>"$MEMORY"
			"$BTRFS_TXN" gc --keep 1 "$T" >/dev/null || die "gc of $T failed"
		done
	done
	teardown_tree "$n"
	rm -rf "$MNT/sources"
}

declare -A skip_tree=()   # "method tree" -> reason, for copy methods too slow to repeat
for n in $TREES; do
	setup_tree "$n"
	for b in $BATCHES; do
		[ "$b" -le "$n" ] || continue
		log "tree $n, batch $b"
		declare -A runs_for=()
		for ((run = 0; run <= RUNS; run++)); do
			for method in $METHODS; do
				# In the smallest tree that holds the batch, the fixed set is the
				# spread one: inplace and apply stand for their -fixed twins there.
				case $method in *-fixed) [ "$n" != "$(layout_of "$b")" ] || continue ;; esac
				# The history's cost does not grow with the batch: batch 1 shows it.
				[ "$method" != apply-history ] || [ "$b" = 1 ] || continue
				if [ -n "${skip_tree[$method $n]:-}" ]; then
					[ "$run" -eq 0 ] && printf '%s\t%s\t%s\tskipped: %s\n' "$method" "$n" "$b" \
						"${skip_tree[$method $n]}" >>"$NOTES"
					continue
				fi
				[ "$run" -le "${runs_for[$method]:-$RUNS}" ] || continue
				run_method "$method" "$n" "$b" "$run"
				[ "$run" -eq 0 ] || continue
				# After the warm-up: fewer runs for the slow ones.
				local_runs=$RUNS
				if awk -v t="$LAST" -v l="$VERY_SLOW" 'BEGIN { exit !(t > l) }'; then
					local_runs=1
				elif awk -v t="$LAST" -v l="$SLOW" 'BEGIN { exit !(t > l) }'; then
					local_runs=3
				fi
				[ "$method" = rollback ] && local_runs=${runs_for[apply]:-$RUNS}
				if [ "$local_runs" -lt "$RUNS" ]; then
					runs_for[$method]=$local_runs
					printf '%s\t%s\t%s\t%s timed run(s) instead of %s: the warm-up took %.1f s\n' \
						"$method" "$n" "$b" "$local_runs" "$RUNS" "$LAST" >>"$NOTES"
				fi
				case $method in reflink | copy)
					if awk -v t="$LAST" -v l="$SKIP_OTHERS" 'BEGIN { exit !(t > l) }'; then
						skip_tree[$method $n]="its warm-up at batch $b took $LAST s; its cost is the tree's, measured there"
					fi ;;
				esac
			done
		done
		unset runs_for
	done
	teardown_tree "$n"
done

mem_tree=
for n in $TREES; do [ "$n" -ge 10000 ] && [ "$n" -le 100000 ] && mem_tree=$n; done
if [ -n "$mem_tree" ]; then
	log "peak memory of a 10,000-op apply (tree $mem_tree)"
	measure_memory "$mem_tree"
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T0))

NAME_SUFFIX=$([ "$LARGE" = 1 ] && echo -large)
log "writing $OUT/results$NAME_SUFFIX.md and $OUT/latency$NAME_SUFFIX.png"
export NAME_SUFFIX SAMPLES TIMING NOTES MEMORY COMMITS SCRATCH OUT TREES BATCHES RUNS STARTED LOAD_START LOAD_END \
	ELAPSED IMAGE_SIZE FILE_SIZE mem_tree BUILD_ID HISTORY_LINES
"$TOP/bench/report.sh" || die "report failed"
log "done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s; raw samples in $SCRATCH"
