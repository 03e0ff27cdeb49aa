#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# crashcheck.sh: check every recorded crash state of one crash-* scenario, on the host.
# Usage: vmtests/crashcheck.sh RUN_DIR
#   RUN_DIR holds log.img, written in the guest by guest-logwrites.sh: a dm-log-writes
#   log and, at LW_META_MB, a tar of the workload list and the before/after manifests.
# Environment: BTRFS_TXN (default build/test/btrfs-txn: the test build),
#   LOGREPLAY (default build/logreplay),
#   CRASH_SAMPLE (default 1: a state after every write; N: after every Nth write
#   between flushes and marks), CRASH_ONLY (a workload name: check only its states).
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
#   apply succeeds and shows its change.
# Prints one "violation ..." line per failed check and last
#   crashcheck: states N violations M workloads W seconds S
# Exit status 0 when the states were checked (violations or not), 1 when they could
# not be (no loop device, a broken log), 77 without root, 130 when interrupted.
set -uo pipefail

run_dir=$1
here=$(cd "$(dirname "$0")" && pwd)
txn=${BTRFS_TXN:-build/test/btrfs-txn}
logreplay=${LOGREPLAY:-build/logreplay}
sample=${CRASH_SAMPLE:-1}
only=${CRASH_ONLY:-}
LW_META_MB=896
# shellcheck source=guest-logwrites.sh
. "$here/guest-logwrites.sh" # lw_manifest, the same code the guest used

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
cleanup_all() {
	cleanup
	[ -n "$scratch" ] && rm -rf "$scratch"
	scratch=
}
cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then
		umount "$mnt" 2>/dev/null || umount -l "$mnt"
	fi
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	loop=
	rm -f "$images/state.img"
}
trap cleanup_all EXIT
trap 'cleanup_all; echo "crashcheck: interrupted"; exit 130' INT TERM HUP

rm -rf "$work"
mkdir -p "$work/meta" "$mnt" || die "cannot create $work"
start=$SECONDS

# The workload list and manifests the guest left after the log.
dd if="$run_dir/log.img" bs=1M skip=$LW_META_MB count=64 status=none |
	tar -x -C "$work/meta" 2>/dev/null
[ -s "$work/meta/workloads" ] || die "no workload list at ${LW_META_MB} MiB in $run_dir/log.img"
"$logreplay" list "$run_dir/log.img" > "$work/entries" 2> "$work/list.err" ||
	die "$(cat "$work/list.err")"
sectorsize=$(awk 'NR == 1 { print $3 }' "$work/entries")

# Pick the states: INDEX WORKLOAD PHASE LABEL, PHASE "any" (old or new) or "new".
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
	END { for (i = 1; i <= n; i++) print idx[i], w[i], ph[i], lab[i] }
' "$work/entries" > "$work/states"

# A reflink copy costs nothing where the image's file system has them; else a sparse
# copy, which reads only the written extents.
copy_mode=--sparse=always
truncate -s $(( $(cat "$work/meta/data-sectors") * 512 )) "$images/base.img" || die "cannot create the image"
if cp --reflink=always "$images/base.img" "$images/state.img" 2>/dev/null; then
	copy_mode=--reflink=always
fi
rm -f "$images/state.img"

cat > "$work/probe.json" <<'SPEC'
{
  "version": 1,
  "description": "crashcheck probe",
  "ops": [ {"op": "write", "path": "crashcheck-probe", "content": "probe\n", "mode": "0644"} ]
}
SPEC

states=0 violations=0
violation() {
	violations=$((violations + 1))
	echo "violation: state $state_label: $*"
}

# check_state: the checks above on a copy of the working image; violations counted.
check_state() {
	local target=$mnt/$target_rel rc name parent
	name=${target_rel##*/}
	parent=$(dirname "$target")
	rm -f "$images/state.img"
	cp "$copy_mode" "$images/base.img" "$images/state.img" || die "cannot copy the image"
	if ! timeout 120 btrfs check --readonly "$images/state.img" > "$work/check.log" 2>&1; then
		violation "btrfs check --readonly failed: $(tail -n 3 "$work/check.log" | tr '\n' ' ')"
		return
	fi
	loop=$(losetup -f --show "$images/state.img") || die "losetup failed"
	if ! timeout 60 mount -t btrfs "$loop" "$mnt" 2> "$work/mount.log"; then
		violation "mount failed: $(cat "$work/mount.log")"
		cleanup
		return
	fi
	if [ "$kind" = plain ] && ! btrfs subvolume show "$target" > /dev/null 2>&1; then
		# init not committed: the target is still the plain directory; what recover
		# must do then is clean what init left, and init must work again.
		rc=0
		timeout 60 "$txn" recover "$target" > "$work/recover.log" 2>&1 || rc=$?
		[ $rc -eq 0 ] || [ $rc -eq 4 ] ||
			violation "recover on the plain directory exited $rc: $(tail -n 2 "$work/recover.log" | tr '\n' ' ')"
	else
		rc=0
		timeout 60 "$txn" recover "$target" > "$work/recover.log" 2>&1 || rc=$?
		[ $rc -eq 0 ] || violation "recover exited $rc: $(tail -n 2 "$work/recover.log" | tr '\n' ' ')"
	fi
	if ! lw_manifest "$target" > "$work/actual" 2> "$work/manifest.err"; then
		violation "cannot list the target: $(head -n 2 "$work/manifest.err" | tr '\n' ' ')"
	elif cmp -s "$work/actual" "$work/meta/$workload.new"; then
		:
	elif [ "$phase" = any ] && cmp -s "$work/actual" "$work/meta/$workload.old"; then
		:
	else
		violation "the target is $( [ "$phase" = any ] && echo "neither the old nor the" || echo "not the") new tree:" \
			"$(diff "$work/meta/$workload.new" "$work/actual" | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
	fi
	if compgen -G "$parent/.btrfs-txn/$name/staging-*" > /dev/null; then
		violation "staging left after recover: $(cd "$parent/.btrfs-txn/$name" && echo staging-*)"
	fi
	compgen -G "$parent/.btrfs-txn/$name/receiving-*" >/dev/null && violation "a partial receive left after recover: $(cd "$parent/.btrfs-txn/$name" && echo receiving-*)"
	if ! btrfs subvolume show "$target" > /dev/null 2>&1; then
		rc=0
		timeout 60 "$txn" init "$target" > "$work/init.log" 2>&1 || rc=$?
		[ $rc -eq 0 ] || violation "init after recover exited $rc: $(tail -n 2 "$work/init.log" | tr '\n' ' ')"
	fi
	rc=0
	timeout 60 "$txn" apply --target "$target" "$work/probe.json" > "$work/apply.log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		violation "a fresh apply exited $rc: $(tail -n 2 "$work/apply.log" | tr '\n' ' ')"
	elif [ "$(cat "$target/crashcheck-probe" 2>/dev/null)" != probe ]; then
		violation "a fresh apply exited 0 but its file is not there"
	fi
	cleanup
}

declare -A kinds targets
while read -r w k t; do
	kinds[$w]=$k
	targets[$w]=$t
done < "$work/meta/workloads"

position="0:$sectorsize"
while read -r index workload phase label; do
	out=$("$logreplay" replay "$run_dir/log.img" "$images/base.img" --from "$position" --to "$index") ||
		die "replay to entry $index failed"
	position=${out#next }
	kind=${kinds[$workload]:-}
	target_rel=${targets[$workload]:-}
	[ -n "$kind" ] || die "mark of an unknown workload '$workload'"
	[ -f "$work/meta/$workload.old" ] && [ -f "$work/meta/$workload.new" ] ||
		die "no manifests for workload '$workload'"
	state_label="$index ($workload, $label)"
	check_state
	states=$((states + 1))
done < "$work/states"

echo "crashcheck: states $states violations $violations workloads $(wc -l < "$work/meta/workloads") seconds $((SECONDS - start))"
rm -f "$images/base.img"
exit 0
