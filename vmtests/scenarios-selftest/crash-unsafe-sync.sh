# vmtest: selftest: applies with the step-7 flush and step-10 sync skipped: must fail
# timeout: 400
# boots: 1
#
# BTRFS_TXN_UNSAFE_SKIP_FLUSH=2: apply reports success with the new tree still only
# in memory. The replay must find states at or after "returned" holding the old tree
# (a durability violation), or states where the exchange is committed before the
# new files' data (a torn tree), and fail the scenario; selftest.sh checks that it does.

. /vmtest/guest-logwrites.sh

T=$MNT/srv/app

boot_1() {
	vm_need_cmd init apply
	lw_start
	lw_init_plain $T
	export BTRFS_TXN_UNSAFE_SKIP_FLUSH=2
	lw_small_applies $T 'unsafe'
	lw_finish
}
