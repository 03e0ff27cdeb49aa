# vmtest: another process commits right after the exchange (and at every other step): the flush keeps every state whole
# timeout: 400
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
	mkdir -p $T
	printf 'v0\n' > $T/version
	lw_run init plain $T btrfs-txn init $T
	btrfs subvolume create $MNT/other > /dev/null
	export LW_EXTRA_HOOK='btrfs subvolume snapshot '$MNT/other' '$MNT'/other-$$-$1 > /dev/null'
	for i in 1 2 3; do
		cat > /tmp/r$i.json <<SPEC
{
  "version": 1,
  "description": "r$i with foreign commits",
  "ops": [
    {"op": "write", "path": "version", "content": "v$i\\n"},
    {"op": "write", "path": "data-$i.bin", "content": "$(head -c 3000 /dev/urandom | base64 | tr -d '\n')"}
  ]
}
SPEC
		lw_run apply-$i subvol $T btrfs-txn apply --target $T /tmp/r$i.json
	done
	unset LW_EXTRA_HOOK
	lw_finish
}
