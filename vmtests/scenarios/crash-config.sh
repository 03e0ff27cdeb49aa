# vmtest: crash states of init, config applies, rollback and gc, replayed from dm-log-writes
# timeout: 1800
# boots: 1
#
# Everyday deployments of a config tree, recorded through dm-log-writes with a mark
# at every protocol step. The host replays the log to every FLUSH, FUA and mark (and
# points between) and checks each state: btrfs check clean, recover, exactly the old
# or the new tree, no staging left, a fresh apply works (vmtests/crashcheck.sh).

. /vmtest/guest-logwrites.sh

T=$MNT/srv/conf

spec() { # spec NAME: write /tmp/NAME.json from standard input
	cat > "/tmp/$1.json"
}

boot_1() {
	vm_need_cmd init apply rollback gc recover
	lw_start
	mkdir -p $T
	printf 'worker_processes 1;\n' > $T/nginx.conf
	printf 'stale\n' > $T/old.conf
	printf 'a\n' > $T/a.conf
	chmod 0644 $T/nginx.conf $T/old.conf

	lw_run init-plain plain $T btrfs-txn init $T

	spec r1 <<'SPEC'
{
  "version": 1,
  "description": "crash r1: one op of each kind",
  "ops": [
    {"op": "write", "path": "nginx.conf", "content": "worker_processes 4;\n", "mode": "0644"},
    {"op": "mkdir", "path": "conf.d", "mode": "0755"},
    {"op": "write", "path": "conf.d/site.conf", "content": "server { listen 80; }\n", "mode": "0640"},
    {"op": "write", "path": "conf.d/blob.bin", "content_base64": "AAECAwT/", "mode": "0600"},
    {"op": "delete", "path": "old.conf"},
    {"op": "symlink", "path": "current", "target": "conf.d/site.conf"},
    {"op": "rename", "path": "a.conf", "to": "conf.d/b.conf"},
    {"op": "chmod", "path": "conf.d/b.conf", "mode": "0600"},
    {"op": "chown", "path": "conf.d/blob.bin", "owner": 33, "group": 33}
  ]
}
SPEC
	lw_run apply-every-op subvol $T btrfs-txn apply --target $T /tmp/r1.json

	spec r2 <<'SPEC'
{
  "version": 1,
  "description": "crash r2: TLS",
  "ops": [
    {"op": "write", "path": "conf.d/site.conf", "content": "server { listen 443 ssl; }\n", "mode": "0640"},
    {"op": "write", "path": "conf.d/tls.key", "content": "secret\n", "mode": "0600"}
  ]
}
SPEC
	lw_run apply-again subvol $T btrfs-txn apply --target $T /tmp/r2.json
	lw_run rollback subvol $T btrfs-txn rollback $T
	lw_run gc subvol $T btrfs-txn gc $T --keep 1
	lw_finish
}
