# vmtest: crash states of receive: incremental and full streams landed and swapped in
# timeout: 900
# boots: 1
#
# A sender target on the same file system makes the streams (kept in the guest's
# /tmp, outside the recorded disk); each receive is a recorded workload. Every crash
# state of a receive, from its journal through btrfs receive writing the read-only
# subvolume, the snapshot made staging, the flush, the record of the receive and the
# exchange to the history line, must recover to exactly the old or the new tree
# (vmtests/crashcheck.sh checks each state on the host).

. /vmtest/guest-logwrites.sh

S=$MNT/srv/src
T=$MNT/srv/dst

boot_1() {
	vm_need_cmd init send receive apply
	lw_start
	mkdir -p $MNT/srv
	btrfs-txn init $S
	mkdir -p $S/etc
	printf 'v0\n' > $S/etc/app.conf
	ln -s etc/app.conf $S/current
	head -c 262144 /dev/urandom > $S/data.bin
	btrfs-txn send -q $S -f /tmp/s0
	# the first receive creates the target (not recorded: the target must exist
	# and be managed before a "subvol" workload)
	btrfs-txn receive -q $T -f /tmp/s0

	for i in 1 2; do
		cat > /tmp/c$i.json <<SPEC
{
  "version": 1,
  "description": "change $i",
  "ops": [
    {"op": "write", "path": "etc/app.conf", "content": "v$i\\n"},
    {"op": "write", "path": "etc/extra-$i.conf", "content": "$i\\n", "mode": "0640"},
    {"op": "delete", "path": "data.bin", "missing_ok": true},
    {"op": "symlink", "path": "current", "target": "etc/extra-$i.conf"}
  ]
}
SPEC
		btrfs-txn apply -q --target $S /tmp/c$i.json
		btrfs-txn send -q $S -f /tmp/s$i
		lw_run receive-incremental-$i subvol $T btrfs-txn receive -q $T -f /tmp/s$i
	done

	# a full stream of a bigger change: many writes between flushes
	head -c 1048576 /dev/urandom > $S/big.bin
	mkdir -p $S/many
	for i in $(seq 200); do printf '%s\n' "$i" > $S/many/f-$i; done
	btrfs-txn send -q --no-parent $S -f /tmp/s3
	lw_run receive-full subvol $T btrfs-txn receive -q $T -f /tmp/s3
	lw_finish
}
