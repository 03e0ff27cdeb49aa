# vmtest: crash states of interrupted applies and rollbacks with their recover, rollback --to, gc
# timeout: 1800
# boots: 1
#
# An apply or rollback stopped at a protocol step (BTRFS_TXN_FAULT=STEP:exit, the
# process exits there as if killed) and then 'btrfs-txn recover': before the commit
# point recover undoes, after it recover finishes. Each whole sequence is one
# workload; every crash state of it is replayed and checked on the host.

. /vmtest/guest-logwrites.sh

T=$MNT/srv/app

spec() { # spec N: a small release spec in /tmp/rN.json
	cat > /tmp/r$1.json <<SPEC
{
  "version": 1,
  "description": "release $1",
  "ops": [
    {"op": "mkdir", "path": "releases/$1", "mode": "0755", "parents": true},
    {"op": "write", "path": "releases/$1/app.conf", "content": "release = $1\\n", "mode": "0644"},
    {"op": "delete", "path": "current", "missing_ok": true},
    {"op": "symlink", "path": "current", "target": "releases/$1"}
  ]
}
SPEC
}

# interrupted STEP COMMAND...: COMMAND stopped at STEP, then recover.
interrupted() {
	local step=$1 rc=0
	shift
	BTRFS_TXN_FAULT=$step:exit "$@" || rc=$?
	[ $rc -ne 0 ] || vm_fail "'$*' with a fault at $step exited 0"
	btrfs-txn recover $T
}

boot_1() {
	vm_need_cmd init apply rollback recover gc
	lw_start
	mkdir -p $T
	btrfs-txn init $T
	spec 1
	lw_run release-1 subvol $T btrfs-txn apply --target $T /tmp/r1.json
	spec 2
	lw_run abort-staged subvol $T interrupted staged btrfs-txn apply --target $T /tmp/r2.json
	lw_run abort-flushed subvol $T interrupted flushed btrfs-txn apply --target $T /tmp/r2.json
	lw_run finish-exchanged subvol $T interrupted exchanged btrfs-txn apply --target $T /tmp/r2.json
	spec 3
	lw_run finish-synced subvol $T interrupted synced btrfs-txn apply --target $T /tmp/r3.json
	lw_run rollback-exchanged subvol $T interrupted exchanged btrfs-txn rollback $T
	spec 4
	lw_run release-4 subvol $T btrfs-txn apply --target $T /tmp/r4.json
	# The oldest generation still kept, whatever number it has.
	oldest=$(ls $MNT/srv/.btrfs-txn/app | sed -n 's/^gen-//p' | sort -n | head -n 1)
	[ -n "$oldest" ] || vm_fail "no kept generation to roll back to"
	lw_run rollback-to-oldest subvol $T btrfs-txn rollback $T --to "$oldest"
	lw_run gc-keep-1 subvol $T btrfs-txn gc $T --keep 1
	lw_finish
}
