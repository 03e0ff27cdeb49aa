# vmtest: selftest: no step-7 flush, and a commit by someone else right after the exchange
# timeout: 1200
# boots: 1
#
# Why step 7 (BTRFS_IOC_SYNC before the exchange) exists. crash-unsafe-flush shows
# that skipping it is invisible when nothing else commits before step 10. Here another
# process commits right after the exchange: a snapshot of an unrelated subvolume, which
# commits the running transaction (the exchange included) but writes back only its own
# source's data, so the staged files are still delayed allocations. A power cut after
# that commit shows the new tree with its files empty: the replay must find it.
# selftest.sh checks that this scenario fails with violations.

. /vmtest/guest-logwrites.sh

T=$MNT/srv/app

boot_1() {
	vm_need_cmd init apply
	lw_start
	lw_init_plain $T
	btrfs subvolume create $MNT/other > /dev/null
	export BTRFS_TXN_UNSAFE_SKIP_FLUSH=1
	export LW_EXTRA_HOOK='[ "$1" != exchanged ] || btrfs subvolume snapshot '$MNT/other' '$MNT'/other-$$ > /dev/null'
	lw_small_applies $T 'unsafe'
	unset LW_EXTRA_HOOK
	lw_finish
}
