# vmtest: boot, mkfs.btrfs on the data disk, mount, write, sync, read back, btrfs check
# timeout: 60
# boots: 1
#
# The floor every other scenario stands on: the kernel boots, the modules load, the
# disks appear and Btrfs works on them.

boot_1() {
	vm_mkfs
	vm_mount
	printf 'hello from the guest\n' > $MNT/hello.txt
	mkdir $MNT/dir
	dd if=/dev/urandom of=$MNT/dir/random.bin bs=64k count=16 2>/dev/null
	sum=$(sha256sum < $MNT/dir/random.bin)
	sync
	btrfs filesystem sync $MNT
	umount $MNT
	vm_mount
	vm_expect_content $MNT/hello.txt 'hello from the guest
'
	[ "$(sha256sum < $MNT/dir/random.bin)" = "$sum" ]
	btrfs subvolume create $MNT/sub >/dev/null
	btrfs subvolume list $MNT | grep -q ' path sub$'
	umount $MNT
	btrfs check --readonly $DATA
}
