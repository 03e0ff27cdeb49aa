#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# crashcheck.sh: check every recorded crash state of one crash-* scenario, on the host.
# Usage: vmtests/crashcheck.sh RUN_DIR
#   RUN_DIR holds log.img, written in the guest by guest-logwrites.sh: a dm-log-writes
#   log and, at LW_META_MB, a tar of the workload list and the before/after manifests.
# Environment: BTRFS_TXN (default build/test/btrfs-txn: the test build),
#   LOGREPLAY (default build/logreplay),
#   CRASH_SAMPLE (default 1: a state after every write; N: after every Nth write
#   between flushes and marks), CRASH_ONLY (a workload name: check only its states),
#   CRASH_REORDER (default 0: prefixes of the log only; N: also up to N reordered
#   states per flush epoch, see vmtests/reorder.h), CRASH_SEED (default 1: the seed
#   of the reordered states), CRASH_JOBS (default: the number of CPUs, at most 4:
#   states checked in parallel, each job replaying the log into its own image),
#   CRASH_CHECK_SCRIPT (a program run on every recovered state with the target's
#   path, after the checks below; a non-zero exit is a violation).
#
# The orchestrator runs this after a crash-* scenario passed in the guest (the host
# has no device-mapper, but its kernel mounts a replayed image at native speed, which
# measured 10-30 times faster than doing the same under emulation). States are picked
# from the log: every FLUSH, every FUA write, every mark (the protocol steps of
# btrfs-txn and the "returned" mark after a command exited 0) and a sample of the
# plain writes between them; two picks with no write between them are one state.
# The log is replayed forward into one working image; each state is a sparse copy of
# it (a reflink where the copy's file system has them), checked as follows:
#   btrfs check --readonly is clean; the image mounts; 'btrfs-txn recover' exits 0;
#   the target's manifest is exactly the old or exactly the new tree (only the new
#   one from the workload's "returned" mark on); no staging-* or receiving-* is left; and a fresh
#   apply succeeds and shows its change. A workload of kind "mounted" (a switch of /
#   or of a subvol= mount) is recovered through a mount of its subvolume by name, as
#   the next boot would, and the tree the name holds is the one checked.
# Reordered states (CRASH_REORDER): for each flush epoch, subsets of its writes that a
# volatile write cache could have made durable (logreplay reorder): the image at the
# FLUSH opening the epoch plus the kept writes; the expectation is that of the marks
# logged before the state's crash point. Identical images are generated once.
# Prints one "violation ..." line per failed check, a "rebuild ..." line with the
# commands that rebuild each failing state's image, and last
#   crashcheck: states N violations M workloads W seconds S reordered R reorder_violations V per_second P
# Exit status 0 when the states were checked (violations or not), 1 when they could
# not be (no loop device, a broken log), 77 without root, 130 when interrupted.
set -uo pipefail

run_dir=$1
txn=${BTRFS_TXN:-build/test/btrfs-txn}
logreplay=${LOGREPLAY:-build/logreplay}
sample=${CRASH_SAMPLE:-1}
only=${CRASH_ONLY:-}
reorder=${CRASH_REORDER:-0}
seed=${CRASH_SEED:-1}
jobs=${CRASH_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -gt 4 ] && [ -z "${CRASH_JOBS:-}" ] && jobs=4
case $reorder$seed$jobs in *[!0-9]*) echo "crashcheck: CRASH_REORDER, CRASH_SEED and CRASH_JOBS take numbers"; exit 1 ;; esac
[ "$jobs" -ge 1 ] || jobs=1
LW_META_MB=896

die() { echo "crashcheck: $*" >&2; echo "crashcheck: error: $*"; exit 1; }
if [ "$(id -u)" != 0 ]; then
	echo "crashcheck: needs root (loop devices and mounts)"
	exit 77
fi
[ -x "$txn" ] && [ -x "$logreplay" ] || die "missing $txn or $logreplay"

work=$run_dir/crash
mnt=$work/mnt
loop=
# The images live in memory when they can: every apply and recover on a state syncs,
# and on a disk-backed loop image each sync reaches the host's disk (measured: 0.5 s
# a state on ext4, far less on tmpfs). Only the written extents take memory.
scratch=
images=$work
for dir in ${CRASH_SCRATCH:-/dev/shm}; do
	if [ -d "$dir" ] && [ -w "$dir" ] && scratch=$(mktemp -d "$dir/crashcheck.XXXXXX"); then
		images=$scratch
		break
	fi
done
# A private copy of the binaries: a rebuild of build/ while this runs (make in another
# shell) must not turn into "Permission denied" half-way.
if [ "$images" = "$work" ]; then mkdir -p "$work/bin"; bindir=$work/bin; else bindir=$images; fi
cp "$txn" "$bindir/btrfs-txn" && cp "$logreplay" "$bindir/logreplay" || die "cannot copy the binaries"
txn=$bindir/btrfs-txn logreplay=$bindir/logreplay
workers=
cleanup_all() {
	local pid
	for pid in $workers; do kill "$pid" 2>/dev/null; done
	for pid in $workers; do wait "$pid" 2>/dev/null; done
	workers=
	[ -n "$scratch" ] && rm -rf "$scratch"
	scratch=
}
# cleanup: one job's mounts and loop device (the state image is overwritten by the
# next state's copy, and removed with the scratch directory).
mounted_root=
mounted=
cleanup() {
	if [ -n "$mounted_root" ]; then
		umount "$mounted_root" 2>/dev/null || umount -l "$mounted_root"
		mounted_root=
	fi
	if [ -n "$mounted" ]; then
		umount "$mnt" 2>/dev/null || umount -l "$mnt"
		mounted=
	fi
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	loop=
}
trap cleanup_all EXIT
trap 'cleanup_all; echo "crashcheck: interrupted"; exit 130' INT TERM HUP

rm -rf "$work"
mkdir -p "$work/meta" || die "cannot create $work"
start=$SECONDS

# The workload list and manifests the guest left after the log.
dd if="$run_dir/log.img" bs=1M skip=$LW_META_MB count=64 status=none |
	tar -x -C "$work/meta" 2>/dev/null
[ -s "$work/meta/workloads" ] || die "no workload list at ${LW_META_MB} MiB in $run_dir/log.img"
"$logreplay" list "$run_dir/log.img" > "$work/entries" 2> "$work/list.err" ||
	die "$(cat "$work/list.err")"
sectorsize=$(awk 'NR == 1 { print $3 }' "$work/entries")
image_bytes=$(( $(cat "$work/meta/data-sectors") * 512 ))

# Pick the states: ANCHOR WORKLOAD PHASE LABEL ENTRIES, PHASE "any" (old or new) or
# "new"; the image is the log replayed up to and including entry ANCHOR, then (for a
# reordered state) the listed ENTRIES ("-": none).
awk -v sample="$sample" -v only="$only" '
	function pick(label) {
		if (wl == "" || (only != "" && wl != only))
			return
		# No write since the last pick: the same disk content, so one state; keep the
		# later label, whose expectation is at least as strict.
		if (n > 0 && writes == 0)
			n--
		n++
		idx[n] = $1; w[n] = wl; ph[n] = phase; lab[n] = label
		writes = 0
	}
	NR == 1 { next }
	{
		flags = $3
		if (flags ~ /MARK/) {
			mark = $6
			if (mark ~ /:begin$/) {
				wl = substr(mark, 1, length(mark) - 6)
				phase = "any"
			} else if (wl != "" && mark == wl ":returned") {
				phase = "new"
			}
			pick(mark)
			next
		}
		if ($5 > 0 || flags ~ /DISCARD/) {
			writes++
			since++
		}
		if (flags ~ /FLUSH|FUA/) {
			pick(flags)
			since = 0
		} else if (since >= sample) {
			pick("sample")
			since = 0
		}
	}
	END { for (i = 1; i <= n; i++) print idx[i], w[i], ph[i], lab[i], "-" }
' "$work/entries" > "$work/states"

# The reordered states: each takes the workload and phase of the marks logged before
# its crash point.
if [ "$reorder" -gt 0 ]; then
	"$logreplay" reorder "$run_dir/log.img" --states "$reorder" --seed "$seed" > "$work/reorder" \
		2> "$work/reorder.err" || die "$(cat "$work/reorder.err")"
	awk -v only="$only" '
		FNR == NR {
			if (FNR == 1) next
			# The workload and phase in force before entry $1.
			wl_at[$1] = wl; ph_at[$1] = phase
			if ($3 ~ /MARK/) {
				if ($6 ~ /:begin$/) { wl = substr($6, 1, length($6) - 6); phase = "any" }
				else if (wl != "" && $6 == wl ":returned") phase = "new"
			}
			last = $1
			next
		}
		{
			crash = $2
			if (crash > last) { w = wl; p = phase } else { w = wl_at[crash]; p = ph_at[crash] }
			if (w == "" || (only != "" && w != only)) next
			print $1, w, p, "reorder#" FNR "@" crash, $3
		}' "$work/entries" "$work/reorder" >> "$work/states"
fi
# In replay order: every job writes its image forward.
sort -s -n -k1,1 -o "$work/states" "$work/states"

# A reflink copy costs nothing where the image's file system has them; else a sparse
# copy, which reads only the written extents.
copy_mode=--sparse=always
truncate -s "$image_bytes" "$images/base.img" || die "cannot create the image"
if cp --reflink=always "$images/base.img" "$images/state.img" 2>/dev/null; then
	copy_mode=--reflink=always
fi
rm -f "$images/state.img" "$images/base.img"

cat > "$work/probe.json" <<'SPEC'
{
  "version": 1,
  "description": "crashcheck probe",
  "ops": [ {"op": "write", "path": "crashcheck-probe", "content": "probe\n", "mode": "0644"} ]
}
SPEC

states=0 violations=0 reordered=0 reorder_violations=0
violation() {
	violations=$((violations + 1))
	[ "$entries_list" = - ] || reorder_violations=$((reorder_violations + 1))
	[ "$state_failed" ] || echo "rebuild $state_label: $rebuild"
	state_failed=1
	echo "violation: state $state_label: $*"
}

# check_state: the checks above on a copy of the working image; violations counted.
# Every process costs (5-10 ms each on a slow 2-core host, and forks there do not run
# in parallel): the shell's own expansions and builtins do what they can.
check_state() {
	local target=$mnt/$target_rel rc name parent probe
	name=${target_rel##*/}
	parent=${target%/*}
	cp "$copy_mode" "$images/base.img" "$images/state.img" || die "cannot copy the image"
	if [ "$entries_list" != - ] &&
	   ! "$logreplay" apply "$run_dir/log.img" "$images/state.img" --from "$position" \
		--entries "$entries_list" 2> "$jobdir/apply-entries.log"; then
		die "cannot apply the entries of state $state_label: $(cat "$jobdir/apply-entries.log")"
	fi
	if ! timeout 120 btrfs check --readonly "$images/state.img" > "$jobdir/check.log" 2>&1; then
		violation "btrfs check --readonly failed: $(tail -n 3 "$jobdir/check.log" | tr '\n' ' ')"
		return
	fi
	loop=$(losetup -f --show "$images/state.img") || die "losetup failed"
	if ! timeout 60 mount -t btrfs "$loop" "$mnt" 2> "$jobdir/mount.log"; then
		violation "mount failed: $(cat "$jobdir/mount.log")"
		cleanup
		return
	fi
	mounted=1
	if [ "$kind" = plain ] && ! btrfs subvolume show "$target" > /dev/null 2>&1; then
		# init not committed: the target is still the plain directory; what recover
		# must do then is clean what init left, and init must work again.
		rc=0
		timeout 60 "$txn" recover "$target" > "$jobdir/recover.log" 2>&1 || rc=$?
		[ $rc -eq 0 ] || [ $rc -eq 4 ] ||
			violation "recover on the plain directory exited $rc: $(tail -n 2 "$jobdir/recover.log" | tr '\n' ' ')"
	elif [ "$kind" = mounted ]; then
		# A mounted target (/ or a subvol= mount): recover through a mount of the
		# subvolume by name, as the next boot would; the name is then checked.
		rc=0
		mkdir -p "$jobdir/root"
		if ! timeout 60 mount -t btrfs -o subvol="$target_rel" "$loop" "$jobdir/root" 2> "$jobdir/mount.log"; then
			violation "mount by name (subvol=$target_rel) failed: $(cat "$jobdir/mount.log")"
		else
			mounted_root=$jobdir/root
			timeout 60 "$txn" recover "$jobdir/root" > "$jobdir/recover.log" 2>&1 || rc=$?
			[ $rc -eq 0 ] || violation "recover through the mount exited $rc: $(tail -n 2 "$jobdir/recover.log" | tr '\n' ' ')"
			umount "$jobdir/root" && mounted_root=
		fi
	else
		rc=0
		timeout 60 "$txn" recover "$target" > "$jobdir/recover.log" 2>&1 || rc=$?
		[ $rc -eq 0 ] || violation "recover exited $rc: $(tail -n 2 "$jobdir/recover.log" | tr '\n' ' ')"
	fi
	# lw_manifest's listing, by one process (vmtests/manifest.c).
	if ! "$logreplay" manifest "$target" > "$jobdir/actual" 2> "$jobdir/manifest.err"; then
		violation "cannot list the target: $(head -n 2 "$jobdir/manifest.err" | tr '\n' ' ')"
	elif cmp -s "$jobdir/actual" "$work/meta/$workload.new"; then
		:
	elif [ "$phase" = any ] && cmp -s "$jobdir/actual" "$work/meta/$workload.old"; then
		:
	else
		violation "the target is $( [ "$phase" = any ] && echo "neither the old nor the" || echo "not the") new tree:" \
			"$(diff "$work/meta/$workload.new" "$jobdir/actual" | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
	fi
	if [ -n "${CRASH_CHECK_SCRIPT:-}" ]; then
		rc=0
		(cd "$target" && timeout 60 "$CRASH_CHECK_SCRIPT" "$target") > "$jobdir/user-check.log" 2>&1 || rc=$?
		[ $rc -eq 0 ] || violation "the check script exited $rc: $(tail -n 2 "$jobdir/user-check.log" | tr '\n' ' ')"
	fi
	if compgen -G "$parent/.btrfs-txn/$name/staging-*" > /dev/null; then
		violation "staging left after recover: $(cd "$parent/.btrfs-txn/$name" && echo staging-*)"
	fi
	compgen -G "$parent/.btrfs-txn/$name/receiving-*" >/dev/null && violation "a partial receive left after recover: $(cd "$parent/.btrfs-txn/$name" && echo receiving-*)"
	if [ "$kind" = plain ] && ! btrfs subvolume show "$target" > /dev/null 2>&1; then
		rc=0
		timeout 60 "$txn" init "$target" > "$jobdir/init.log" 2>&1 || rc=$?
		[ $rc -eq 0 ] || violation "init after recover exited $rc: $(tail -n 2 "$jobdir/init.log" | tr '\n' ' ')"
	fi
	rc=0
	timeout 60 "$txn" apply --target "$target" "$work/probe.json" > "$jobdir/apply.log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		violation "a fresh apply exited $rc: $(tail -n 2 "$jobdir/apply.log" | tr '\n' ' ')"
	elif ! { read -r probe < "$target/crashcheck-probe"; } 2>/dev/null || [ "$probe" != probe ]; then
		violation "a fresh apply exited 0 but its file is not there"
	fi
	cleanup
}

declare -A kinds targets
while read -r w k t; do
	kinds[$w]=$k
	targets[$w]=$t
done < "$work/meta/workloads"

# check_job JOB: the states whose line number is JOB modulo $jobs, each on a copy of
# this job's own image, replayed forward from state to state.
check_job() {
	local job=$1 line=0 out position="0:$sectorsize" at=-1 total mine
	total=$(wc -l < "$work/states")
	mine=$(( (total - job + jobs - 1) / jobs ))
	jobdir=$work/job$job images=$images/job$job mnt=$work/mnt$job loop=
	mkdir -p "$jobdir" "$images" "$mnt" || die "cannot create $jobdir"
	trap cleanup EXIT
	trap 'cleanup; exit 130' INT TERM HUP
	truncate -s "$image_bytes" "$images/base.img" || die "cannot create the image"
	while read -r index workload phase label entries_list; do
		line=$((line + 1))
		[ $(( (line - 1) % jobs )) -eq "$job" ] || continue
		if [ "$index" -gt "$at" ]; then
			out=$("$logreplay" replay "$run_dir/log.img" "$images/base.img" --from "$position" --to "$index") ||
				die "replay to entry $index failed"
			position=${out#next }
			at=$index
		fi
		kind=${kinds[$workload]:-}
		target_rel=${targets[$workload]:-}
		[ -n "$kind" ] || die "mark of an unknown workload '$workload'"
		[ -f "$work/meta/$workload.old" ] && [ -f "$work/meta/$workload.new" ] ||
			die "no manifests for workload '$workload'"
		state_label="$index ($workload, $label)"
		state_failed=
		rebuild="truncate -s $image_bytes IMAGE"
		[ "$index" -lt 0 ] || rebuild="$rebuild && logreplay replay LOG IMAGE --to $index"
		if [ "$entries_list" != - ]; then
			rebuild="$rebuild && logreplay apply LOG IMAGE --from $position --entries $entries_list"
			reordered=$((reordered + 1))
		fi
		check_state
		states=$((states + 1))
		# For a progress display (btrfs-txn-crashtest on a terminal): DONE OF.
		[ $((states % 10)) -ne 0 ] || echo "$states $mine" > "$jobdir/progress"
	done < "$work/states"
	rm -f "$images/base.img" "$images/state.img"
	echo "$states $violations $reordered $reorder_violations" > "$jobdir/counts"
}

declare -A kinds targets
while read -r w k t; do
	kinds[$w]=$k
	targets[$w]=$t
done < "$work/meta/workloads"

for ((job = 0; job < jobs; job++)); do
	check_job "$job" &
	workers="$workers $!"
done
failed=0
for pid in $workers; do
	wait "$pid" || failed=1
done
workers=
[ $failed -eq 0 ] || die "a checking job failed"
for ((job = 0; job < jobs; job++)); do
	read -r s v r rv < "$work/job$job/counts" || die "job $job left no counts"
	states=$((states + s)) violations=$((violations + v))
	reordered=$((reordered + r)) reorder_violations=$((reorder_violations + rv))
done
seconds=$((SECONDS - start))
echo "crashcheck: states $states violations $violations workloads $(wc -l < "$work/meta/workloads") seconds $seconds" \
	"reordered $reordered reorder_violations $reorder_violations" \
	"per_second $(awk -v n=$states -v s=$seconds 'BEGIN { r = n; if (s > 0) r = n / s; printf "%.1f", r }')" \
	"jobs $jobs"
exit 0
