# vmtest: write errors (dm-flakey error_writes) switched on at protocol steps: apply fails, never swaps
# timeout: 300
# boots: 1
#
# The filesystem sits on dm-flakey; a step hook switches every write to EIO at one
# protocol step (reads keep working). apply must exit non-zero and must not leave the
# new tree on disk; when Btrfs went read-only after the error (a transaction abort),
# the message must say so. Then the errors are switched off, the filesystem is
# mounted again, and the invariant holds with the old tree (at 'exchanged', where the
# exchange exists in memory but its sync failed, either tree is allowed).

. /vmtest/guest-faults.sh

STEPS="preconditions journaled snapshotted staged verified flushed checked exchanged"

boot_1() {
	vm_need_cmd init apply recover
	gf_flakey fl $DATA
	DEV=/dev/mapper/fl
	vm_mkfs $DEV
	mount -t btrfs $DEV $MNT
	gf_expect_trees
	for step in $STEPS; do
		T=$MNT/t-$step
		gf_target_make $T
		sync
		rc=0
		BTRFS_TXN_STEP_HOOK="[ \"\$1\" = $step ] && /bin/sh -c '. /vmtest/guest-faults.sh; gf_flakey_errors fl on'; true" \
			btrfs-txn apply --target $T /tmp/gf-new.json 2> /tmp/err.$step || rc=$?
		gf_fault
		cat /tmp/err.$step
		ro=no
		grep -q " $MNT btrfs ro[ ,]" /proc/mounts && ro=yes
		echo "gf: errors at $step: apply exited $rc, filesystem read-only: $ro"
		[ $rc -ne 0 ] || gf_violation "errors-at-$step: apply exited 0 although every write failed"
		if [ $ro = yes ] && ! grep -q "read-only" /tmp/err.$step; then
			gf_violation "errors-at-$step: the filesystem went read-only and the message does not say so"
		fi
		gf_flakey_errors fl off
		umount $MNT
		mount -t btrfs $DEV $MNT
		expect=old
		[ $step != exchanged ] || expect=either
		gf_check $DEV $MNT $T $expect "errors-at-$step"
	done
	umount $MNT
	gf_finish
}
