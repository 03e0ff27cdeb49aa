# vmtest: selftest: a task stuck in D state shows up as a hung-task report on the console
# timeout: 40
# boots: 1
#
# Btrfs on a device-mapper device that is then suspended (without freezing the
# filesystem): sync waits for writeback that cannot finish, in uninterruptible sleep,
# which the kernel's hung-task detector reports after hung_task_timeout_secs (set
# low by the guest init). A bare direct write would not do: submit_bio_wait wakes up
# every half timeout precisely to stay under the detector.

boot_1() {
	echo "0 $(blockdev --getsz $LOG) linear $LOG 0" | dmsetup create --noudevsync stuck
	dmsetup mknodes
	vm_mkfs /dev/mapper/stuck
	vm_mount /dev/mapper/stuck
	echo before > $MNT/file
	sync
	dmsetup suspend --noudevsync --nolockfs stuck
	echo after > $MNT/file2
	sync &
	while :; do sleep 3600; done
}
