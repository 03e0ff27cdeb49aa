# vmtest: power cut (QMP quit) with apply stopped at each protocol step; recover; invariant
# timeout: 300
# boots: 2
#
# Sixteen small filesystems (dm-linear slices of both disks), one per step of apply:
# on each, apply stops itself at its step (BTRFS_TXN_FAULT=STEP:stop), then one power
# cut takes them all. After the reboot each must recover to exactly the old tree
# (before the commit point), the new tree (from 'synced' on), or either (at
# 'exchanged' and 'renamed', before the first commit after the exchange), with btrfs check clean, no staging left, and
# a fresh apply working. See gf_power_stop in guest-faults.sh.

. /vmtest/guest-faults.sh

cases() {
	for step in $APPLY_STEPS; do echo apply:$step; done
}

boot_1() {
	vm_need_cmd init apply recover
	gf_power_stop $(cases)
}

boot_2() {
	gf_power_check $(cases)
}
