# vmtest: another process commits right after the exchange (and at every other step): the flush keeps every state whole
# timeout: 1800
# boots: 1
#
# The counterpart of the self-test crash-unsafe-flush-commit: the same applies with
# the protocol intact, while another process commits the running transaction (a
# snapshot of an unrelated subvolume) at every protocol step. Step 7 has written the
# staged data back before the exchange, so no commit by anyone else can expose the
# new tree without its data: every crash state must be the old or the new tree.

. /vmtest/guest-logwrites.sh

T=$MNT/srv/app

boot_1() {
	vm_need_cmd init apply
	lw_start
	lw_init_plain $T
	btrfs subvolume create $MNT/other > /dev/null
	export LW_EXTRA_HOOK='btrfs subvolume snapshot '$MNT/other' '$MNT'/other-$$-$1 > /dev/null'
	lw_small_applies $T 'with foreign commits'
	unset LW_EXTRA_HOOK
	lw_finish
}
