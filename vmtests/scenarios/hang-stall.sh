# vmtest: fsfreeze and a suspended device mid-apply; concurrent applies; a nested verify hook
# timeout: 240
# boots: 1
#
# A stall must become a clear message, not a silent hang: with --timeout 3 the
# watchdog names the stuck step on stderr (runner/watchdog.c), the kernel's hung-task
# report shows the blocked task on the console, and after the thaw the apply ends by
# the ordinary rules (here: it commits) with the invariant holding. Then the lock:
# two applies on one target (one exits 3 with --no-wait, one waits and goes through),
# two targets at once (both commit, no lock-order deadlock), and a verify hook that
# calls btrfs-txn on its own target (refused at once with exit 3, so the outer apply
# aborts fast with the target unchanged).

. /vmtest/guest-faults.sh

boot_1() {
	vm_need_cmd init apply recover
	vm_mkfs
	vm_mount
	gf_expect_trees

	# 1. The filesystem is frozen (as a backup tool does) once the staging exists:
	# the ops' writes block in the kernel.
	T=$MNT/frozen
	gf_target_make $T
	sync
	BTRFS_TXN_STEP_HOOK='[ "$1" = staged ] && fsfreeze --freeze /mnt; true' \
		btrfs-txn apply --timeout 3 --target $T /tmp/gf-new.json > /tmp/freeze.out 2> /tmp/freeze.err &
	pid=$!
	gf_fault
	gf_wait_line /tmp/freeze.err "apply: stuck for [0-9]+ s in step 'applied'"
	cat /tmp/freeze.err
	gf_wait_state $pid D 10
	# The kernel names the blocked task too (hung_task_timeout_secs is 10).
	tries=0
	until dmesg | grep -q "btrfs-txn.*blocked for more than"; do
		tries=$((tries + 1))
		[ $tries -lt 300 ] || vm_fail "no hung-task report for the frozen apply within 30 s"
		sleep 0.1
	done
	fsfreeze --unfreeze $MNT
	rc=0; wait $pid || rc=$?
	[ $rc -eq 0 ] || gf_violation "apply after the thaw exited $rc"
	[ "$(grep -c 'stuck for' /tmp/freeze.err)" -eq 1 ] || gf_violation "the stall was reported more than once"
	gf_check $DATA $MNT $T new "fsfreeze-at-staged"

	# 2. The device stops answering (a suspended dm device) before the flush.
	size=$(blockdev --getsz $LOG)
	dmsetup create stall --noudevsync --table "0 $size linear $LOG 0"
	dmsetup mknodes
	vm_mkfs /dev/mapper/stall
	mkdir -p /mnt2
	mount -t btrfs /dev/mapper/stall /mnt2
	T2=/mnt2/stalled
	gf_target_make $T2
	sync
	BTRFS_TXN_STEP_HOOK='[ "$1" = verified ] && dmsetup suspend --nolockfs stall; true' \
		btrfs-txn apply --timeout 3 --target $T2 /tmp/gf-new.json > /tmp/stall.out 2> /tmp/stall.err &
	pid=$!
	gf_fault
	gf_wait_line /tmp/stall.err "apply: stuck for [0-9]+ s in step 'flushed'"
	cat /tmp/stall.err
	gf_wait_state $pid D 10
	dmsetup resume stall
	rc=0; wait $pid || rc=$?
	[ $rc -eq 0 ] || gf_violation "apply after the resume exited $rc"
	gf_check /dev/mapper/stall /mnt2 $T2 new "device-suspended-before-flush"
	umount /mnt2

	# 3. Two applies on one target: one holds the lock (sleeping in a step hook), a
	# second with --no-wait exits 3, a third waits and goes through after it.
	T=$MNT/shared
	gf_target_make $T
	BTRFS_TXN_STEP_HOOK='[ "$1" = staged ] && sleep 3; true' \
		btrfs-txn apply --target $T /tmp/gf-new.json &
	holder=$!
	sleep 1
	rc=0; btrfs-txn apply --no-wait --target $T /tmp/gf-fresh.json 2> /tmp/nowait.err || rc=$?
	cat /tmp/nowait.err
	[ $rc -eq 3 ] || gf_violation "a second apply with --no-wait exited $rc, expected 3"
	grep -q "locked by pid $holder" /tmp/nowait.err || gf_violation "the --no-wait run does not name the holder"
	rc=0; btrfs-txn apply --timeout 30 --target $T /tmp/gf-fresh.json || rc=$?
	[ $rc -eq 0 ] || gf_violation "a waiting apply exited $rc"
	rc=0; wait $holder || rc=$?
	[ $rc -eq 0 ] || gf_violation "the holder exited $rc"
	gf_expect_new_plus_fresh $T "two-applies-one-target"

	# 4. Two targets at once, each holding its lock across the other's steps.
	gf_target_make $MNT/one
	gf_target_make $MNT/two
	BTRFS_TXN_STEP_HOOK='[ "$1" = staged ] && sleep 2; true' \
		btrfs-txn apply --timeout 30 --target $MNT/one /tmp/gf-new.json &
	a=$!
	BTRFS_TXN_STEP_HOOK='[ "$1" = staged ] && sleep 2; true' \
		btrfs-txn apply --timeout 30 --target $MNT/two /tmp/gf-new.json &
	b=$!
	rc=0; wait $a || rc=$?
	[ $rc -eq 0 ] || gf_violation "apply on target one exited $rc"
	rc=0; wait $b || rc=$?
	[ $rc -eq 0 ] || gf_violation "apply on target two exited $rc"
	vm_tree $MNT/one | diff -u /tmp/gf-new.tree - || gf_violation "target one is not the new tree"
	vm_tree $MNT/two | diff -u /tmp/gf-new.tree - || gf_violation "target two is not the new tree"

	# 5. A verify hook that applies to its own target: refused at once (exit 3), the
	# outer apply aborts (exit 1) well before any timeout, the target unchanged.
	T=$MNT/nested
	gf_target_make $T
	cat > /tmp/nested.json <<SPEC
{"version": 1, "ops": [{"op": "write", "path": "app.conf", "content": "nested\n"}],
 "verify": {"argv": ["btrfs-txn", "apply", "--target", "$T", "/tmp/gf-fresh.json"], "timeout": 60}}
SPEC
	start=$(date +%s)
	rc=0; btrfs-txn apply --timeout 60 --target $T /tmp/nested.json 2> /tmp/nested.err || rc=$?
	cat /tmp/nested.err
	gf_fault
	[ $rc -eq 1 ] || gf_violation "apply with a nested verify hook exited $rc, expected 1"
	[ $(( $(date +%s) - start )) -lt 20 ] || gf_violation "the nested call took $(( $(date +%s) - start )) s"
	grep -q "called from the verify hook of a transaction holding this lock" /tmp/nested.err ||
		gf_violation "the nested call does not say why it refused"
	gf_check $DATA $MNT $T old "nested-verify-hook"
	gf_finish
}
