# vmtest: power cut (QMP quit) and reboot on the same disk: synced data survives, fs is clean
# timeout: 60
# boots: 2
#
# Proves the harness's power cut on its own, whatever state the engine is in: the
# second boot finds the disk the first one left, what was synced is there, and Btrfs
# mounts and checks clean after losing everything that was not.

boot_1() {
	vm_mkfs
	vm_mount
	printf 'durable\n' > $MNT/synced.txt
	sync
	# Written after the last sync and lost with the power, or not: either is allowed.
	printf 'volatile\n' > $MNT/unsynced.txt
	vm_cut
}

boot_2() {
	vm_mount
	vm_expect_content $MNT/synced.txt 'durable
'
	umount $MNT
	btrfs check --readonly $DATA
}
