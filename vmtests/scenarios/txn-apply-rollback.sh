# vmtest: btrfs-txn init, apply two specs, reject a bad one, rollback; every tree checked
# timeout: 90
# boots: 1
#
# The engine's everyday path on a real kernel: init keeps the directory's content and
# makes it a subvolume, each apply gives exactly the new tree, a spec that tries to
# leave the target changes nothing, and rollback brings back the previous tree.
# Expected trees are built by hand on tmpfs and compared with vm_tree listings
# (type, mode, owner, size, hash, symlink target of every entry).

T=$MNT/srv/conf

# expect_tree VERSION: build the tree btrfs-txn should produce after VERSION in
# /tmp/expect-VERSION and leave its listing in /tmp/tree.VERSION.
expect_tree() {
	local dir=/tmp/expect-$1
	rm -rf $dir
	mkdir -p $dir
	case $1 in
	v0)
		printf 'worker_processes 1;\n' > $dir/nginx.conf
		printf 'stale\n' > $dir/old.conf
		chmod 0644 $dir/nginx.conf $dir/old.conf
		;;
	v1)
		printf 'worker_processes 4;\n' > $dir/nginx.conf
		chmod 0644 $dir/nginx.conf
		mkdir -m 0755 $dir/conf.d
		printf 'server { listen 80; }\n' > $dir/conf.d/site.conf
		chmod 0640 $dir/conf.d/site.conf
		ln -s conf.d/site.conf $dir/current
		;;
	v2)
		expect_tree v1
		cp -a /tmp/expect-v1/. $dir/
		printf 'server { listen 443 ssl; }\n' > $dir/conf.d/site.conf
		chmod 0640 $dir/conf.d/site.conf
		printf 'secret\n' > $dir/conf.d/tls.key
		chmod 0600 $dir/conf.d/tls.key
		;;
	esac
	vm_tree $dir > /tmp/tree.$1
}

boot_1() {
	vm_need_cmd init apply rollback status
	vm_mkfs
	vm_mount
	mkdir -p $T
	printf 'worker_processes 1;\n' > $T/nginx.conf
	printf 'stale\n' > $T/old.conf
	chmod 0644 $T/nginx.conf $T/old.conf
	expect_tree v0
	vm_expect_tree $T /tmp/tree.v0

	btrfs-txn init $T
	btrfs subvolume show $T >/dev/null
	vm_expect_tree $T /tmp/tree.v0

	cat > /tmp/r1.json <<'SPEC'
{
  "version": 1,
  "description": "vmtest r1",
  "ops": [
    {"op": "write", "path": "nginx.conf", "content": "worker_processes 4;\n", "mode": "0644"},
    {"op": "mkdir", "path": "conf.d", "mode": "0755"},
    {"op": "write", "path": "conf.d/site.conf", "content": "server { listen 80; }\n", "mode": "0640"},
    {"op": "delete", "path": "old.conf"},
    {"op": "symlink", "path": "current", "target": "conf.d/site.conf"}
  ]
}
SPEC
	btrfs-txn apply --target $T /tmp/r1.json
	expect_tree v1
	vm_expect_tree $T /tmp/tree.v1

	cat > /tmp/r2.json <<'SPEC'
{
  "version": 1,
  "description": "vmtest r2",
  "ops": [
    {"op": "write", "path": "conf.d/site.conf", "content": "server { listen 443 ssl; }\n", "mode": "0640"},
    {"op": "write", "path": "conf.d/tls.key", "content": "secret\n", "mode": "0600"}
  ]
}
SPEC
	btrfs-txn apply --target $T /tmp/r2.json
	expect_tree v2
	vm_expect_tree $T /tmp/tree.v2

	# A path escaping the target is refused (exit 2) and changes nothing.
	cat > /tmp/bad.json <<'SPEC'
{
  "version": 1,
  "ops": [
    {"op": "write", "path": "nginx.conf", "content": "half\n"},
    {"op": "write", "path": "../escape", "content": "out\n"}
  ]
}
SPEC
	rc=0
	btrfs-txn apply --target $T /tmp/bad.json || rc=$?
	[ $rc -eq 2 ] || vm_fail "apply of a spec escaping the target exited $rc, expected 2"
	[ ! -e $MNT/srv/escape ]
	vm_expect_tree $T /tmp/tree.v2

	btrfs-txn rollback $T
	vm_expect_tree $T /tmp/tree.v1
	btrfs-txn status $T

	umount $MNT
	btrfs check --readonly $DATA
}
