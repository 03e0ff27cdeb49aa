# vmtest: selftest: applies on a Btrfs mounted nobarrier: only reordered crash states show the loss
# timeout: 600
# boots: 1
#
# A protocol broken in a way only reordering reveals: the file system is remounted
# with -o nobarrier, so every commit, BTRFS_IOC_SYNC included, still waits for its
# writes to complete and writes the super block after the trees it points to, but
# never flushes the disk's cache (what a disk that ignores FLUSH, or a stack that
# drops it, does). In the log every write still comes in order, so every prefix
# state is a clean file system with the old or the new tree; but no FLUSH closes the
# epoch, so a volatile cache may keep any of the trees while the super block that
# points to them is durable, and after 'returned' lose the new tree altogether.
# selftest.sh checks that the scenario fails and that every violation is in a
# reordered state (prefix replay alone passes it).

. /vmtest/guest-logwrites.sh

T=$MNT/srv/app

boot_1() {
	vm_need_cmd init apply
	lw_start
	lw_init_plain $T
	sync
	mount -o remount,nobarrier "$MNT"
	lw_small_applies $T 'nobarrier'
	lw_finish
}
