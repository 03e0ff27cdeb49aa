# vmtest: --method trans on a kernel without the TRANS ioctls exits 4 and changes nothing
# timeout: 60
# boots: 1
#
# Linux 4.17 removed BTRFS_IOC_TRANS_START/END. There, apply --method trans must ask
# the kernel first and exit 4 naming --method snapshot, with the target and its state
# byte-identical. On a kernel that still has the ioctls this is trans-window's job,
# and this scenario is skipped.

. /vmtest/guest-faults.sh

boot_1() {
	vm_need_cmd init apply probe
	vm_mkfs
	vm_mount
	gf_expect_trees
	T=$MNT/t
	gf_target_make $T
	btrfs-txn probe $T | tee /tmp/probe
	if grep -Eq '^TRANS ioctls: +yes' /tmp/probe; then
		vm_skip "kernel $(uname -r) has the TRANS ioctls (trans-window covers it)"
	fi
	grep -Eq '^TRANS ioctls: +no' /tmp/probe || vm_fail "probe does not say 'TRANS ioctls: no'"
	# The spec without its verify hook (the trans method refuses hooks with exit 2).
	sed '/"verify"/d; s/^  \],$/  ]/' /tmp/gf-new.json > /tmp/trans.json
	(cd $MNT && find .btrfs-txn | LC_ALL=C sort) > /tmp/state.before
	rc=0; btrfs-txn apply --method trans --target $T /tmp/trans.json 2> /tmp/trans.err || rc=$?
	cat /tmp/trans.err
	gf_fault
	[ $rc -eq 4 ] || gf_violation "apply --method trans exited $rc, expected 4"
	grep -q -- "--method snapshot" /tmp/trans.err || gf_violation "the message does not name --method snapshot"
	vm_tree $T | diff -u /tmp/gf-old.tree - || gf_violation "the target changed"
	(cd $MNT && find .btrfs-txn | LC_ALL=C sort) | diff -u /tmp/state.before - ||
		gf_violation "the state directory changed"
	gf_check $DATA $MNT $T old trans-unsupported
	gf_finish
}
