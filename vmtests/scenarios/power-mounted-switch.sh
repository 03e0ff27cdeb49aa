# vmtest: power cut during the switch of a mounted target (a subvol=@ mount) at each step; recover; the next mount finds exactly the old or the new tree
# timeout: 300
# boots: 2
#
# One small filesystem per step (dm-linear slices of both disks), each with subvolume
# @ mounted by name at /mnt/sN as / or /home would be. apply to that mount stops
# itself at its step (BTRFS_TXN_FAULT=STEP:stop), then one power cut takes them all.
# After the reboot: recover through the mount, then mount @ again by name (what the
# next boot does for /): it must show exactly the old tree (a cut before the commit
# point), the new one (from 'synced' on) or either ('exchanged', 'renamed', before
# the first commit after the exchange), with no journal or staging left and btrfs
# check clean.

. /vmtest/guest-faults.sh

MS_STEPS="checked exchanged renamed synced history done"

# ms_mount I: the top level at /mnt/pI (to inspect the state), @ by name at /mnt/sI.
# commit=300: Btrfs's periodic commit must not make durable what apply had not
# synced itself while the other cases are set up.
ms_mount() {
	mkdir -p /mnt/p$1 /mnt/s$1
	mount -t btrfs -o commit=300 $(gf_dev $1) /mnt/p$1
	mount -t btrfs -o commit=300,subvol=@ $(gf_dev $1) /mnt/s$1
}

boot_1() {
	vm_need_cmd apply recover
	set -- $MS_STEPS
	gf_slices $#
	i=0
	for step in "$@"; do
		vm_mkfs $(gf_dev $i)
		mkdir -p /mnt/p$i
		mount -t btrfs $(gf_dev $i) /mnt/p$i
		btrfs subvolume create /mnt/p$i/@ >/dev/null
		printf 'v1\n' > /mnt/p$i/@/conf
		umount /mnt/p$i
		ms_mount $i
		i=$((i + 1))
	done
	cat > /tmp/ms.json <<'EOF'
{"version": 1, "ops": [{"op": "write", "path": "conf", "content": "v2\n"},
 {"op": "write", "path": "new", "content": "n\n"}]}
EOF
	sync
	i=0
	pids=""
	for step in "$@"; do
		BTRFS_TXN_FAULT=$step:stop btrfs-txn apply --target /mnt/s$i /tmp/ms.json &
		pids="$pids $!"
		i=$((i + 1))
	done
	for pid in $pids; do
		gf_wait_state $pid T
	done
	vm_cut
}

boot_2() {
	set -- $MS_STEPS
	gf_slices $#
	i=0
	for step in "$@"; do
		ms_mount $i
		gf_fault
		GF_CHECKS=$((GF_CHECKS + 1))
		expect=$(gf_expect_after $step cut)
		rc=0
		btrfs-txn recover /mnt/s$i || rc=$?
		[ $rc -eq 0 ] || gf_violation "mounted-$step: recover exited $rc"
		# the next mount, by name
		umount /mnt/s$i
		mount -t btrfs -o subvol=@ $(gf_dev $i) /mnt/s$i
		conf=$(cat /mnt/s$i/conf 2>/dev/null || true)
		new=$(cat /mnt/s$i/new 2>/dev/null || true)
		got=none
		if [ "$conf" = v1 ] && [ -z "$new" ]; then got=old; fi
		if [ "$conf" = v2 ] && [ "$new" = n ]; then got=new; fi
		echo "ms: mounted-$step: the next mount finds the $got tree (expected $expect)"
		[ $got != none ] || gf_violation "mounted-$step: neither the old nor the new tree"
		[ "$expect" = either ] || [ "$expect" = $got ] ||
			gf_violation "mounted-$step: the $got tree, expected the $expect tree"
		[ ! -e /mnt/p$i/.btrfs-txn/@/journal ] || gf_violation "mounted-$step: journal left"
		if ls -d /mnt/p$i/.btrfs-txn/@/staging-* >/dev/null 2>&1; then
			gf_violation "mounted-$step: staging left"
		fi
		umount /mnt/s$i
		umount /mnt/p$i
		btrfs check --readonly $(gf_dev $i) > /tmp/ms.check 2>&1 ||
			{ cat /tmp/ms.check; gf_violation "mounted-$step: btrfs check is not clean"; }
		i=$((i + 1))
	done
	gf_finish
}
