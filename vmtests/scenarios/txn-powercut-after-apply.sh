# vmtest: power cut right after apply exits 0 (QMP quit); after reboot the new tree is there
# timeout: 120
# boots: 2
#
# The durability guarantee: once apply has exited 0, losing power loses nothing. The
# cut comes straight after apply returns, with no sync or unmount in between and well
# inside Btrfs's 30 s commit interval, so only apply's own flushes can have put the
# new tree on the disk.

T=$MNT/srv/app

# The tree the spec below produces, as a vm_tree listing in /tmp/tree.new.
expect_new_tree() {
	rm -rf /tmp/expect
	mkdir -p /tmp/expect/releases
	printf 'version=2\n' > /tmp/expect/app.conf
	chmod 0644 /tmp/expect/app.conf
	printf '#!/bin/sh\necho 42\n' > /tmp/expect/releases/run.sh
	chmod 0755 /tmp/expect/releases/run.sh
	ln -s releases/run.sh /tmp/expect/current
	vm_tree /tmp/expect > /tmp/tree.new
}

boot_1() {
	vm_need_cmd init apply
	vm_mkfs
	vm_mount
	mkdir -p $T/releases
	printf 'version=1\n' > $T/app.conf
	chmod 0644 $T/app.conf
	btrfs-txn init $T
	# The starting point is made durable here, so the cut tests apply alone.
	sync

	cat > /tmp/spec.json <<'SPEC'
{
  "version": 1,
  "description": "vmtest power cut",
  "ops": [
    {"op": "write", "path": "app.conf", "content": "version=2\n", "mode": "0644"},
    {"op": "write", "path": "releases/run.sh", "content": "#!/bin/sh\necho 42\n", "mode": "0755"},
    {"op": "symlink", "path": "current", "target": "releases/run.sh"}
  ]
}
SPEC
	btrfs-txn apply --target $T /tmp/spec.json
	vm_cut
}

boot_2() {
	vm_mount
	expect_new_tree
	vm_expect_tree $T /tmp/tree.new
	# Nothing was interrupted, so recovery (where it exists) must leave the tree be.
	if btrfs-txn help recover >/dev/null 2>&1; then
		btrfs-txn recover $T
		vm_expect_tree $T /tmp/tree.new
	fi
	umount $MNT
	btrfs check --readonly $DATA
}
