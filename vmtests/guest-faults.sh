# SPDX-License-Identifier: MIT
# guest-faults.sh: guest-side helpers shared by the fault scenarios (power-*, kill-*,
# fault-*, enospc-*, hang-*, trans-*). Packed into the image as /vmtest/guest-faults.sh
# and sourced by those scenarios after the guest init's own helpers (vm_tree, vm_fail).
#
# The invariant every scenario checks (DESIGN.md, "Guarantees the tests must prove"):
# after a fault and `btrfs-txn recover`, the target holds exactly the old tree or
# exactly the new tree (vm_tree listing: paths, types, modes, owners, sizes, sha256,
# symlink targets), `btrfs check` is clean, no staging-* is left, and a fresh apply
# works. The expected trees are built by hand on tmpfs, never by the code under test,
# and deterministically, so a later boot (after a power cut) can build them again.
#
#   gf_expect_trees               /tmp/gf-old, /tmp/gf-new (+ .tree listings), specs
#   gf_target_make T              T holding the old tree, made a target with init
#   gf_check DEV MNT T EXPECT LABEL   recover + invariant; EXPECT old|new|either
#   gf_slices N                   N equal dm-linear devices over both disks: gf_dev I
#   gf_flakey NAME DEV / gf_flakey_errors NAME on|off   dm-flakey error_writes switch
#   gf_wait_state PID STATE       until /proc/PID/stat shows STATE (bounded)
#   gf_finish                     fail if any check failed, else report the counts

GF_VIOLATIONS=0
GF_CHECKS=0
GF_FAULTS=0

# Old tree: what every target starts with. New tree: what /tmp/gf-new.json makes of
# it. The spec uses every kind of op, and a 200 KB file so data writeback matters.
gf_expect_trees() {
	rm -rf /tmp/gf-old /tmp/gf-new
	mkdir -p /tmp/gf-old/data
	seq 1 30000 > /tmp/gf-blob0
	seq 2 30001 > /tmp/gf-blob1
	printf 'version=1\n' > /tmp/gf-old/app.conf
	printf 'stale\n' > /tmp/gf-old/old.conf
	cp /tmp/gf-blob0 /tmp/gf-old/data/blob
	printf 'k1\n' > /tmp/gf-old/secret.key
	ln -s app.conf /tmp/gf-old/link
	chmod 0755 /tmp/gf-old/data
	chmod 0644 /tmp/gf-old/app.conf /tmp/gf-old/old.conf /tmp/gf-old/data/blob
	chmod 0600 /tmp/gf-old/secret.key

	mkdir -p /tmp/gf-new/data /tmp/gf-new/conf.d
	printf 'version=2\n' > /tmp/gf-new/app.conf
	chown 1000:1000 /tmp/gf-new/app.conf
	cp /tmp/gf-blob1 /tmp/gf-new/data/blob
	printf 'server {}\n' > /tmp/gf-new/conf.d/site.conf
	ln -s conf.d/site.conf /tmp/gf-new/current
	printf 'k1\n' > /tmp/gf-new/tls.key
	chmod 0755 /tmp/gf-new/data
	chmod 0750 /tmp/gf-new/conf.d
	chmod 0644 /tmp/gf-new/app.conf /tmp/gf-new/conf.d/site.conf
	chmod 0640 /tmp/gf-new/data/blob
	chmod 0400 /tmp/gf-new/tls.key
	vm_tree /tmp/gf-old > /tmp/gf-old.tree
	vm_tree /tmp/gf-new > /tmp/gf-new.tree

	cat > /tmp/gf-new.json <<'SPEC'
{
  "version": 1,
  "description": "vmtest fault matrix: old -> new",
  "ops": [
    {"op": "write", "path": "app.conf", "content": "version=2\n", "mode": "0644"},
    {"op": "delete", "path": "old.conf"},
    {"op": "copy", "path": "data/blob", "source": "/tmp/gf-blob1", "mode": "0640"},
    {"op": "mkdir", "path": "conf.d", "mode": "0750"},
    {"op": "write", "path": "conf.d/site.conf", "content": "server {}\n", "mode": "0644"},
    {"op": "symlink", "path": "current", "target": "conf.d/site.conf"},
    {"op": "rename", "path": "secret.key", "to": "tls.key"},
    {"op": "chmod", "path": "tls.key", "mode": "0400"},
    {"op": "chown", "path": "app.conf", "owner": 1000, "group": 1000},
    {"op": "delete", "path": "link"}
  ],
  "verify": {"argv": ["test", "-f", "{staging}/conf.d/site.conf"], "timeout": 60}
}
SPEC
	# The fresh apply after each check: one new file on top of whichever tree is there.
	cat > /tmp/gf-fresh.json <<'SPEC'
{"version": 1, "description": "vmtest fresh apply", "ops": [
  {"op": "write", "path": "fresh", "content": "fresh\n", "mode": "0644"}]}
SPEC
}

# gf_target_make T: T holds the old tree and is a btrfs-txn target.
gf_target_make() {
	mkdir -p "$1"
	cp -a /tmp/gf-old/. "$1"/
	btrfs-txn init "$1" >/dev/null
}

gf_violation() {
	{ set +x; } 2>/dev/null
	GF_VIOLATIONS=$((GF_VIOLATIONS + 1))
	echo "gf: VIOLATION $*"
	set -x
}

# gf_check DEV MNT T EXPECT LABEL: the invariant after a fault, with the filesystem of
# DEV mounted on MNT. EXPECT is old, new or either (a power cut between the exchange
# and its sync may leave either). Records violations and returns 0, so a scenario
# checks every case and reports them all; gf_finish fails the boot.
gf_check() {
	local dev=$1 mnt=$2 t=$3 expect=$4 label=$5 state got=none rc=0
	state=$(dirname "$t")/.btrfs-txn/$(basename "$t")
	GF_CHECKS=$((GF_CHECKS + 1))
	btrfs-txn recover "$t" > /tmp/gf.recover 2>&1 || rc=$?
	cat /tmp/gf.recover
	if [ $rc -ne 0 ]; then
		gf_violation "$label: recover exited $rc"
		return 0
	fi
	vm_tree "$t" > /tmp/gf.actual
	if cmp -s /tmp/gf.actual /tmp/gf-old.tree; then
		got=old
	elif cmp -s /tmp/gf.actual /tmp/gf-new.tree; then
		got=new
	fi
	echo "gf: $label: target holds the $got tree (expected $expect)"
	if [ $got = none ]; then
		diff -u /tmp/gf-old.tree /tmp/gf.actual || true
		diff -u /tmp/gf-new.tree /tmp/gf.actual || true
		gf_violation "$label: target is neither the old nor the new tree (diffs above)"
	elif [ "$expect" != either ] && [ "$expect" != $got ]; then
		gf_violation "$label: target holds the $got tree, expected the $expect tree"
	fi
	if ls -d "$state"/staging-* >/dev/null 2>&1; then
		ls -la "$state"
		gf_violation "$label: staging left after recover"
	fi
	[ ! -e "$state/journal" ] || gf_violation "$label: journal left after recover"
	umount "$mnt"
	btrfs check --readonly "$dev" > /tmp/gf.check 2>&1 ||
		{ cat /tmp/gf.check; gf_violation "$label: btrfs check is not clean"; }
	mount -t btrfs "$dev" "$mnt"
	[ $got != none ] || return 0
	rc=0
	btrfs-txn apply -q --target "$t" /tmp/gf-fresh.json || rc=$?
	rm -rf /tmp/gf-fresh
	cp -a /tmp/gf-$got /tmp/gf-fresh
	printf 'fresh\n' > /tmp/gf-fresh/fresh
	chmod 0644 /tmp/gf-fresh/fresh
	vm_tree /tmp/gf-fresh > /tmp/gf-fresh.tree
	vm_tree "$t" > /tmp/gf.actual
	if [ $rc -ne 0 ]; then
		gf_violation "$label: a fresh apply after recover exited $rc"
	elif ! diff -u /tmp/gf-fresh.tree /tmp/gf.actual; then
		gf_violation "$label: the fresh apply did not give the $got tree plus one file"
	fi
	return 0
}

# gf_fault [N]: count N (default 1) injected faults for the report.
gf_fault() { GF_FAULTS=$((GF_FAULTS + ${1:-1})); }

# gf_finish: the boot's verdict on the checks recorded so far.
gf_finish() {
	{ set +x; } 2>/dev/null
	echo "gf: $GF_CHECKS checks, $GF_FAULTS faults, $GF_VIOLATIONS violations"
	# The report's counters (the "count NAME N" marker, summed over boots).
	vm_marker "count faults $GF_FAULTS"
	vm_marker "count violations $GF_VIOLATIONS"
	[ "$GF_VIOLATIONS" -eq 0 ] || vm_fail "$GF_VIOLATIONS invariant violations (gf: VIOLATION lines above)"
	set -x
}

# gf_wait_state PID STATE [SECONDS]: wait until the process is in STATE (T stopped, D
# uninterruptible); fail the boot if it exits first or the time (default 60 s) passes.
gf_wait_state() {
	local pid=$1 want=$2 tries=$(( ${3:-60} * 20 )) s
	while [ $tries -gt 0 ]; do
		s=$(sed 's/.*) //' /proc/$pid/stat 2>/dev/null | cut -d' ' -f1)
		[ -n "$s" ] || vm_fail "pid $pid exited before reaching state $want"
		[ "$s" = "$want" ] && return 0
		tries=$((tries - 1))
		sleep 0.05
	done
	vm_fail "pid $pid not in state $want after ${3:-60} s (state $s)"
}

# gf_slices N: N equal dm-linear devices, gf0..gf(N-1), the first half on the data
# disk and the rest on the log disk, so that N small filesystems can each be stopped
# at a different step and cut by one power cut. The table is the same at every boot.
gf_slices() {
	local n=$1 half=$(( ($1 + 1) / 2 )) i size per dev off
	size=$(blockdev --getsz $DATA)
	per=$(( size / half ))
	i=0
	while [ $i -lt $n ]; do
		if [ $i -lt $half ]; then dev=$DATA; off=$(( i * per )); else dev=$LOG; off=$(( (i - half) * per )); fi
		dmsetup create gf$i --noudevsync --table "0 $per linear $dev $off"
		i=$((i + 1))
	done
	dmsetup mknodes
}
gf_dev() { echo /dev/mapper/gf$1; }

# gf_flakey NAME DEV: dm-flakey over DEV, passing everything through for now.
gf_flakey() {
	local size
	size=$(blockdev --getsz "$2")
	echo "$2 $size" > /tmp/gf-flakey-$1
	dmsetup create "$1" --noudevsync --table "0 $size flakey $2 0 3600 0"
	dmsetup mknodes
}
# gf_flakey_errors NAME on|off: from now on every write fails (reads still work), or
# everything works again. --nolockfs: suspending must not freeze and so sync the
# filesystem, which would make durable what the fault is meant to catch in flight.
gf_flakey_errors() {
	local dev size table
	read -r dev size < /tmp/gf-flakey-$1
	if [ "$2" = on ]; then
		table="0 $size flakey $dev 0 0 3600 1 error_writes"
	else
		table="0 $size flakey $dev 0 3600 0"
	fi
	dmsetup suspend --nolockfs "$1"
	dmsetup load "$1" --table "$table"
	dmsetup resume "$1"
}

APPLY_STEPS="locked recover-start recover-done preconditions journaled snapshotted staged applied verified flushed checked exchanged renamed synced history done"
# Rollback has no preconditions and no ops, so no preconditions, applied or verified.
ROLLBACK_STEPS="locked recover-start recover-done journaled snapshotted staged flushed checked exchanged renamed synced history done"

# gf_expect_after STEP KIND: what a kill at STEP must leave: old before the commit
# point, new from it on. KIND cut: a power cut at 'exchanged' or 'renamed' may lose
# the exchange, whose first commit (the read-only flag of the old tree) comes right
# after 'renamed', so either tree is right there.
gf_expect_after() {
	case $1 in
	exchanged|renamed) [ "$2" = cut ] && echo either || echo new ;;
	synced|history|done) echo new ;;
	*) echo old ;;
	esac
}

# --- power cuts at protocol steps (power-*.sh) ------------------------------------
# A power cut per step needs a boot per step, unless every step has a filesystem of
# its own: gf_power_stop puts case I on slice I (gf_slices), stops the command at its
# step with BTRFS_TXN_FAULT=STEP:stop, and cuts power once all of them are stopped;
# gf_power_check, in the next boot, recovers and checks each slice. Filesystems are
# mounted with commit=300 so that Btrfs's periodic commit does not make durable what
# the command had not yet synced by itself while the other cases are set up.
# A case is KIND:STEP with KIND apply (old -> new), rollback (new -> old), or
# recover-FIRST (an apply killed at FIRST and synced, then recover stopped at STEP).

gf_power_mount() { mkdir -p /mnt/p$1 && mount -t btrfs -o commit=300 $(gf_dev $1) /mnt/p$1; }

gf_power_stop() {
	local i=0 c kind step t pids=""
	gf_slices $#
	gf_expect_trees
	for c in "$@"; do
		kind=${c%%:*}
		t=/mnt/p$i/t
		vm_mkfs $(gf_dev $i)
		gf_power_mount $i
		gf_target_make $t
		case $kind in
		rollback) btrfs-txn apply -q --target $t /tmp/gf-new.json ;;
		recover-*) BTRFS_TXN_FAULT=${kind#recover-} btrfs-txn apply --target $t /tmp/gf-new.json || true ;;
		esac
		i=$((i + 1))
	done
	# The starting points (and the interrupted applies of recover-*) are durable.
	sync
	i=0
	for c in "$@"; do
		kind=${c%%:*} step=${c#*:} t=/mnt/p$i/t
		case $kind in
		apply) BTRFS_TXN_FAULT=$step:stop btrfs-txn apply --target $t /tmp/gf-new.json & ;;
		rollback) BTRFS_TXN_FAULT=$step:stop btrfs-txn rollback $t & ;;
		recover-*) BTRFS_TXN_FAULT=$step:stop btrfs-txn recover $t & ;;
		esac
		pids="$pids $!"
		i=$((i + 1))
	done
	for pid in $pids; do
		gf_wait_state $pid T
	done
	vm_cut
}

gf_power_check() {
	local i=0 c kind step expect
	gf_slices $#
	gf_expect_trees
	for c in "$@"; do
		kind=${c%%:*} step=${c#*:}
		case $kind in
		apply) expect=$(gf_expect_after $step cut) ;;
		rollback)
			expect=$(gf_expect_after $step cut)
			case $expect in old) expect=new ;; new) expect=old ;; esac ;;
		recover-exchanged) expect=new ;;
		recover-*) expect=old ;;
		esac
		gf_power_mount $i
		gf_fault
		gf_check $(gf_dev $i) /mnt/p$i /mnt/p$i/t $expect "power-cut-$kind-at-$step"
		umount /mnt/p$i
		i=$((i + 1))
	done
	gf_finish
}

# gf_wait_line FILE REGEX [SECONDS]: until FILE has a line matching REGEX (default
# 30 s); fail the boot otherwise.
gf_wait_line() {
	local tries=$(( ${3:-30} * 10 ))
	while [ $tries -gt 0 ]; do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		tries=$((tries - 1))
		sleep 0.1
	done
	cat "$1" 2>/dev/null || true
	vm_fail "no line matching '$2' in $1 after ${3:-30} s"
}

# gf_expect_new_plus_fresh T LABEL: T holds the new tree plus the fresh apply's file.
gf_expect_new_plus_fresh() {
	rm -rf /tmp/gf-nf
	cp -a /tmp/gf-new /tmp/gf-nf
	printf 'fresh\n' > /tmp/gf-nf/fresh
	chmod 0644 /tmp/gf-nf/fresh
	vm_tree /tmp/gf-nf > /tmp/gf-nf.tree
	vm_tree "$1" > /tmp/gf.actual
	diff -u /tmp/gf-nf.tree /tmp/gf.actual || gf_violation "$2: not the new tree plus 'fresh'"
}
