# vmtest: SIGKILL of apply, rollback and recover at every protocol step; recover; invariant
# timeout: 420
# boots: 1
#
# A killed process loses nothing the kernel already has (page cache survives), so a
# kill tests the protocol's ordering without a power cut: one boot loops over every
# step. Each case gets its own target on one filesystem. For apply and rollback the
# target must be the old tree before the commit point ('exchanged') and the new one
# from it on. For recover, an apply is first killed at 'exchanged' (recovery rolls
# forward: the new tree) or at 'staged' (recovery rolls back: the old tree), then
# recover itself is killed at each of its steps, then recover runs to the end.
# Every check: exact tree, no staging or journal left, btrfs check clean, a fresh
# apply works (gf_check in guest-faults.sh).

. /vmtest/guest-faults.sh

# kill_case KIND STEP EXPECT: KIND apply or rollback, killed at STEP.
kill_case() {
	local kind=$1 step=$2 expect=$3 t=$MNT/$1-$2 rc=0
	gf_target_make "$t"
	if [ "$kind" = rollback ]; then
		# Start from the new tree, roll back to the old one: swap the expectations.
		btrfs-txn apply -q --target "$t" /tmp/gf-new.json
		case $expect in old) expect=new ;; new) expect=old ;; esac
		BTRFS_TXN_FAULT=$step btrfs-txn rollback "$t" || rc=$?
	else
		BTRFS_TXN_FAULT=$step btrfs-txn apply --target "$t" /tmp/gf-new.json || rc=$?
	fi
	gf_fault
	# 137: killed by SIGKILL at the step, as asked. Anything else: the step never came.
	[ $rc -eq 137 ] || gf_violation "$kind-$step: exited $rc, not killed at the step"
	gf_check $DATA $MNT "$t" "$expect" "$kind-$step"
}

# recover_case FIRST STEP EXPECT: an apply killed at FIRST, then recover killed at STEP.
recover_case() {
	local first=$1 step=$2 expect=$3 t=$MNT/recover-$1-$2 rc=0
	gf_target_make "$t"
	BTRFS_TXN_FAULT=$first btrfs-txn apply --target "$t" /tmp/gf-new.json || true
	BTRFS_TXN_FAULT=$step btrfs-txn recover "$t" || rc=$?
	gf_fault 2
	[ $rc -eq 137 ] || gf_violation "recover-$first-$step: exited $rc, not killed at the step"
	gf_check $DATA $MNT "$t" "$expect" "recover-after-$first-killed-at-$step"
}

boot_1() {
	vm_need_cmd init apply rollback recover
	vm_mkfs
	vm_mount
	gf_expect_trees
	for step in $APPLY_STEPS; do
		kill_case apply $step $(gf_expect_after $step kill)
	done
	for step in $ROLLBACK_STEPS; do
		kill_case rollback $step $(gf_expect_after $step kill)
	done
	for step in recover-start recover-renamed recover-history recover-done; do
		recover_case exchanged $step new
	done
	for step in recover-start recover-deleted recover-done; do
		recover_case staged $step old
	done
	gf_finish
}
