# vmtest: selftest: applies with the step-7 flush and step-10 sync skipped: must fail
# timeout: 400
# boots: 1
#
# BTRFS_TXN_UNSAFE_SKIP_FLUSH=2: apply reports success with the new tree still only
# in memory. The replay must find states at or after "returned" holding the old tree
# (a durability violation), or states where the exchange is committed before the
# new files' data (a torn tree), and fail the scenario; selftest.sh checks that it does.

. /vmtest/guest-logwrites.sh

T=$MNT/srv/app

boot_1() {
	vm_need_cmd init apply
	lw_start
	mkdir -p $T
	printf 'v0\n' > $T/version
	lw_run init plain $T btrfs-txn init $T
	export BTRFS_TXN_UNSAFE_SKIP_FLUSH=2
	for i in 1 2 3; do
		cat > /tmp/r$i.json <<SPEC
{
  "version": 1,
  "description": "unsafe r$i",
  "ops": [
    {"op": "write", "path": "version", "content": "v$i\\n"},
    {"op": "write", "path": "data-$i.bin", "content": "$(head -c 3000 /dev/urandom | base64 | tr -d '\n')"}
  ]
}
SPEC
		lw_run apply-$i subvol $T btrfs-txn apply --target $T /tmp/r$i.json
	done
	lw_finish
}
