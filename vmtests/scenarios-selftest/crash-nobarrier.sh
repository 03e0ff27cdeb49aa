# vmtest: selftest: commits ordered by completion, not by FLUSH: only reordered crash states show it
# timeout: 1200
# boots: 1
#
# A protocol broken in a way only reordering reveals. The file system is remounted
# -o nobarrier, so a commit still waits for its trees to be written before it writes
# the super block that points to them, but issues no FLUSH between the two and writes
# the super block without FUA; after each apply the workload flushes the disk itself
# (an fsync of the device), before the apply counts as returned. In the log the writes
# come in completion order, trees before super block, so every prefix of the log is a
# clean file system with the old or the new tree, and after the FLUSH the new tree is
# durable: prefix replay passes. But within an epoch a volatile cache may write the
# super block and not the trees it points to: only reordered states show the damage.
# selftest.sh checks that the scenario fails and that every violation is in a
# reordered state.

. /vmtest/guest-logwrites.sh

T=$MNT/srv/app

# apply_then_flush TARGET SPEC: apply, then a FLUSH of the whole disk.
apply_then_flush() {
	btrfs-txn apply --target "$1" "$2" && sync "$LW_DEV" # busybox: fsync of the device
}

boot_1() {
	vm_need_cmd init apply
	lw_start
	lw_init_plain $T
	sync
	mount -o remount,nobarrier "$MNT"
	for i in 1 2 3; do
		cat > /tmp/r$i.json <<SPEC
{
  "version": 1,
  "description": "nobarrier r$i",
  "ops": [
    {"op": "write", "path": "version", "content": "v$i\\n"},
    {"op": "write", "path": "data-$i.bin", "content": "$(head -c 3000 /dev/urandom | base64 | tr -d '\n')"}
  ]
}
SPEC
		lw_run apply-$i subvol $T apply_then_flush $T /tmp/r$i.json
	done
	lw_finish
}
