# vmtest: power cut (QMP quit) with rollback stopped at each protocol step; recover; invariant
# timeout: 300
# boots: 2
#
# As power-apply, for rollback: each of thirteen filesystems holds a target whose
# current tree is the new one, and rollback (to the old one) stops at its step before
# the one power cut. The tree before the commit point is the new one, after it the
# old one; at 'exchanged' either.

. /vmtest/guest-faults.sh

cases() {
	for step in $ROLLBACK_STEPS; do echo rollback:$step; done
}

boot_1() {
	vm_need_cmd init apply rollback recover
	gf_power_stop $(cases)
}

boot_2() {
	gf_power_check $(cases)
}
