# vmtest: selftest: applies with the step-7 flush skipped (BTRFS_TXN_UNSAFE_SKIP_FLUSH=1)
# timeout: 400
# boots: 1
#
# The protocol broken on purpose, to see what the crash-state replay makes of it.
# Skipping only the flush before the exchange is NOT caught, and cannot be: nothing
# commits between the exchange and the step-10 sync, which writes the staged data
# back and commits it with the exchange in one transaction, so every state shows
# the old or the whole new tree (measured: 0 violations). selftest.sh checks that
# this scenario passes, as a record of that fact; crash-unsafe-sync is the break
# that must be caught.

. /vmtest/guest-logwrites.sh

T=$MNT/srv/app

boot_1() {
	vm_need_cmd init apply
	lw_start
	lw_init_plain $T
	export BTRFS_TXN_UNSAFE_SKIP_FLUSH=1
	lw_small_applies $T 'unsafe'
	lw_finish
}
