# vmtest: selftest: applies with the step-7 flush skipped (BTRFS_TXN_UNSAFE_SKIP_FLUSH=1)
# timeout: 1200
# boots: 1
#
# The protocol broken on purpose, to see what the crash-state replay makes of it.
# Right after the exchange, setting the old tree read-only commits by itself, and a
# commit does not write back file data: without the flush before the exchange that
# commit carries the exchange but not the staged files' data, and the replay must
# find torn trees and fail the scenario; selftest.sh checks that it does. (When
# step 10's sync, which does write data back, was the first commit after the
# exchange, this break was invisible without a foreign commit in between, which
# crash-unsafe-flush-commit still provokes.)

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
