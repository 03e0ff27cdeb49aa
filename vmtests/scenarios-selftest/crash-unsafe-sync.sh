# vmtest: selftest: applies with the step-7 flush and step-10 sync skipped: must fail
# timeout: 1200
# boots: 1
#
# BTRFS_TXN_UNSAFE_SKIP_FLUSH=2: apply skips both of its own syncs. The commit that
# setting the old tree read-only makes (before step 10) then carries the exchange
# without the new files' data, which nothing wrote back: the replay must find states
# at or after "returned" whose target is a torn tree (or, were that commit ever to go,
# the old tree), and fail the scenario; selftest.sh checks that it does.

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
