# vmtest: power cut (QMP quit) with recover stopped at each of its steps; recover again; invariant
# timeout: 200
# boots: 2
#
# An apply killed at 'exchanged' (so recovery rolls forward to the new tree) or at
# 'staged' (so recovery rolls back to the old tree), made durable with sync; then
# `btrfs-txn recover` stops at each of its steps and power is cut. After the reboot a
# second recover must finish the job: exactly the expected tree, no staging, btrfs
# check clean, a fresh apply working. Recovery must be idempotent and safe to cut.

. /vmtest/guest-faults.sh

cases() {
	for step in recover-start recover-renamed recover-history recover-done; do
		echo recover-exchanged:$step
	done
	for step in recover-start recover-deleted recover-done; do
		echo recover-staged:$step
	done
}

boot_1() {
	vm_need_cmd init apply recover
	gf_power_stop $(cases)
}

boot_2() {
	gf_power_check $(cases)
}
