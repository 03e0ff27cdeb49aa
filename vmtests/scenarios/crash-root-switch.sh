# vmtest: crash states of switches of / (subvolume @ mounted by name from the dm-log-writes device as the root of a chroot): run /, an apply while the switch is pending, rollback /, an apply of / interrupted after the exchange and its recover
# timeout: 1800
# boots: 1
#
# The root is recorded, not booted: dm-log-writes must be removed at the end for its
# log to be complete, which a device holding the real / cannot be. So the initramfs
# makes the file system through the log-writes device (lw_start), fills subvolume @
# with a copy of itself (a usable root: busybox, btrfs-progs, dmsetup, btrfs-txn, the
# libraries), mounts @ by name at /newroot with /proc, /sys, /dev and /tmp, and runs
# every workload as 'chroot /newroot btrfs-txn ... /': there / is the mount point of
# subvolume @ (its own line in /proc/self/mountinfo), as on a Btrfs root, and
# btrfs-txn switches it at the top level. Workloads are of kind 'mounted': the host
# checker (crashcheck.sh) mounts @ by name, recovers through that mount as the next
# boot would, and compares the tree the name @ holds with the old and the new one.
# The running /, never remounted, shows v1 all along: the switches are pending.

. /vmtest/guest-logwrites.sh

R=/newroot

in_root() { chroot $R "$@"; }

# interrupted STEP COMMAND...: COMMAND (in the root) exits at STEP, then recover /.
interrupted() {
	local step=$1 rc=0
	shift
	BTRFS_TXN_FAULT=$step:exit chroot $R "$@" || rc=$?
	[ $rc -ne 0 ] || vm_fail "'$*' with a fault at $step exited 0"
	in_root btrfs-txn recover /
}

# changed NAME: workload NAME changed the name's tree (a workload that changes nothing
# would make every one of its states pass).
changed() {
	! cmp -s /tmp/lw/$1.old /tmp/lw/$1.new || vm_fail "workload $1 left the tree as it was"
}

boot_1() {
	vm_need_cmd run apply rollback recover
	lw_start
	btrfs subvolume create $MNT/@ >/dev/null
	vm_root_fill $MNT/@
	printf 'v1\n' > $MNT/@/etc/release
	mkdir -p $R
	mount -t btrfs -o subvol=@ $LW_DEV $R
	mount -t proc proc $R/proc
	mount -t sysfs sysfs $R/sys
	mount -o bind /dev $R/dev
	mount -t tmpfs tmpfs $R/tmp
	cat > $R/tmp/v3.json <<'EOF'
{"version": 1, "description": "release v3", "ops": [
 {"op": "write", "path": "etc/release", "content": "v3\n", "mode": "0644"},
 {"op": "write", "path": "etc/extra", "content": "x\n", "mode": "0644"}]}
EOF
	cat > $R/tmp/v4.json <<'EOF'
{"version": 1, "description": "release v4", "ops": [
 {"op": "write", "path": "etc/release", "content": "v4\n", "mode": "0644"},
 {"op": "mkdir", "path": "srv/v4", "mode": "0755"}]}
EOF
	in_root btrfs-txn status / | grep -q '^mounted: *subvolume .@.' ||
		vm_fail "in the root, status / does not see subvolume @ at its own mount point"
	lw_run root-run mounted $MNT/@ in_root btrfs-txn run / -- sh -c \
		'cd "$BTRFS_TXN_STAGING" && printf "v2\n" > etc/release && mkdir -p srv && printf "hello\n" > srv/app.conf'
	changed root-run
	lw_run root-apply-pending mounted $MNT/@ in_root btrfs-txn apply --target / /tmp/v3.json
	changed root-apply-pending
	lw_run root-rollback mounted $MNT/@ in_root btrfs-txn rollback /
	changed root-rollback
	lw_run root-exchanged mounted $MNT/@ interrupted exchanged btrfs-txn apply --target / /tmp/v4.json
	changed root-exchanged
	# the running root never changed: every switch is pending
	vm_expect_content $R/etc/release 'v1
'
	in_root btrfs-txn status / | grep -Eq '^switch: +pending until the next mount' ||
		vm_fail "status / does not say a switch is pending"
	umount $R/tmp $R/dev $R/sys $R/proc $R
	lw_finish
}
