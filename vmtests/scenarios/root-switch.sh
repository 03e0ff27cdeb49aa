# vmtest: / on Btrfs subvolume @: run / switches at the next boot, rollback / back, a second apply builds on the pending tree; power cuts at each step of the switch of /, recovered at boot into exactly the old or the new root
# timeout: 900
# boots: 12
# root: @
#
# The guest boots as Debian's initramfs boots a Btrfs root (guest-init.sh, '# root:'):
# boot 1 builds subvolume @ holding a copy of the initramfs; every later boot checks
# the file system (btrfs check --readonly, in the initramfs), mounts @ by name as /,
# switch_roots into it and starts with the boot recovery the package runs
# (btrfs-txn-recover.service: 'btrfs-txn recover --no-wait /').
#
# The changes write files (/etc/release, /srv/app.conf, /etc/extra): installing a
# package would need dpkg, which the guest does not have.
#
#   boot 2   run / -- sh -c '...' (v2): status says the switch is pending, / still v1,
#            the name @ holds v2
#   boot 3   booted into v2; status and history agree; rollback /
#   boot 4   booted into v1 again; apply (v3), then a second apply before the reboot
#            (etc/extra): it builds on the pending tree, / still v1
#   boot 5   booted into v3 plus extra; then an apply of / stopped at the first step of
#            the commit (BTRFS_TXN_FAULT=STEP:stop) and a power cut
#   6-11     recover, the root is exactly the old or the new tree (which one the step
#            allows), nothing left behind; then the next step and a power cut (6-10)
#   12       the file system the last recovery left is clean (checked before mounting)
#
# Trees are compared as lw_manifest listings (type, mode, owner, size, sha256, link
# target of every entry). The expected ones are made by hand (a snapshot of @ changed
# by plain shell), never by btrfs-txn, and kept at the top level ($MNT/vmroot, outside
# @) across the boots; / itself is listed through a bind mount, which shows the running
# tree without the mounts on it.

. /vmtest/guest-faults.sh
. /vmtest/guest-logwrites.sh

X=$MNT/vmroot
CUT_STEPS="checked exchanged renamed synced history done"

# listing DIR: lw_manifest with the trace off (it traces a line per entry).
listing() {
	local rc=0
	{ set +x; } 2>/dev/null
	lw_manifest "$1" || rc=$?
	set -x
	return $rc
}

# expect NAME SNIPPET: $X/NAME.tree is the name @'s tree after SNIPPET (sh, run in a
# snapshot of it).
expect() {
	btrfs subvolume snapshot $MNT/@ $X/work >/dev/null
	(cd $X/work && sh -c "$2")
	listing $X/work > $X/$1.tree
	btrfs subvolume delete $X/work >/dev/null
}

# running: the listing of the tree / shows; named: of the tree the name @ holds.
running() {
	mkdir -p /run/rootview
	grep -q " /run/rootview " /proc/mounts || mount -o bind / /run/rootview
	listing /run/rootview
}
named() { listing $MNT/@; }

# same LISTING EXPECTED_NAME WHAT: fail with a diff unless they are equal.
same() {
	if ! diff -u $X/$2.tree "$1"; then
		vm_fail "$3 is not tree $2 (diff above)"
	fi
	echo "root-switch: $3 is tree $2 ($(wc -l < "$1") entries)"
}

# left_behind LABEL: a journal or staging subvolume left in the state directory.
left_behind() {
	[ ! -e $MNT/.btrfs-txn/@/journal ] || gf_violation "$1: journal left"
	if ls -d $MNT/.btrfs-txn/@/staging-* >/dev/null 2>&1; then
		ls -la $MNT/.btrfs-txn/@
		gf_violation "$1: staging left"
	fi
}

# booted NAME: the start of every boot in the root: the boot recovery, then / and the
# name both hold tree NAME, no switch pending, nothing left behind.
booted() {
	btrfs-txn recover --no-wait /
	vm_top
	running > /tmp/running.tree
	same /tmp/running.tree $1 "the booted root"
	named > /tmp/named.tree
	same /tmp/named.tree $1 "the name @"
	btrfs-txn status / > /tmp/status
	cat /tmp/status
	grep -Eq '^mounted: +subvolume .@.' /tmp/status || vm_fail "status / does not say / is subvolume @"
	! grep -Eq '^(switch|interrupted):' /tmp/status || vm_fail "status / after the boot: switch pending or interrupted"
	left_behind "boot into $1"
	gf_finish
}

# pending NAME: a switch is pending: said by status, / still shows the booted tree,
# the name holds NAME.
pending() {
	btrfs-txn status / > /tmp/status
	cat /tmp/status
	grep -Eq '^switch: +pending until the next mount' /tmp/status ||
		vm_fail "status / does not say the switch is pending"
	running > /tmp/running.tree
	diff -u /tmp/booted.tree /tmp/running.tree || vm_fail "the running root changed before the reboot"
	named > /tmp/named.tree
	same /tmp/named.tree $1 "the name @ (switch pending)"
}

# said FILE: the command said on stderr that the switch waits for the next mount.
said() {
	cat $1
	grep -q 'switch pending until the next mount' $1 || vm_fail "no 'switch pending' line from the command"
}

boot_1() {
	vm_need_cmd run apply rollback recover status history
	vm_root_make
	printf 'v1\n' > $MNT/@/etc/release
	mkdir -p $X
	listing $MNT/@ > $X/v1.tree
	expect v2 "printf 'v2\n' > etc/release && mkdir -p srv && printf 'hello\n' > srv/app.conf"
	expect v3x "printf 'v3\n' > etc/release && printf 'x\n' > etc/extra"
	sync
}

boot_2() {
	booted v1
	cp /tmp/running.tree /tmp/booted.tree
	vm_expect_content /etc/release 'v1
'
	btrfs-txn run / -- sh -c 'cd "$BTRFS_TXN_STAGING" && printf "v2\n" > etc/release && mkdir -p srv && printf "hello\n" > srv/app.conf' 2> /tmp/err
	said /tmp/err
	pending v2
	vm_expect_content /etc/release 'v1
'
	history=$(btrfs-txn history / | tail -n 1)
	echo "$history"
	case $history in *committed*"run: sh -c"*) ;; *) vm_fail "history / does not end with the run" ;; esac
}

boot_3() {
	booted v2
	cp /tmp/running.tree /tmp/booted.tree
	vm_expect_content /etc/release 'v2
'
	# status and history agree on the generation running now
	gen=$(sed -n 's/^generation: *//p' /tmp/status)
	btrfs-txn history / > /tmp/history
	cat /tmp/history
	last=$(tail -n 1 /tmp/history)
	case $last in *committed*"run: sh -c"*) ;; *) vm_fail "history / does not end with the run" ;; esac
	[ "$(echo "$last" | awk '{ print $5 }')" = "$gen" ] ||
		vm_fail "history's last generation is not status's $gen"
	btrfs-txn rollback / 2> /tmp/err
	said /tmp/err
	pending v1
}

boot_4() {
	booted v1
	cp /tmp/running.tree /tmp/booted.tree
	cat > /tmp/v3.json <<'EOF'
{"version": 1, "description": "release v3", "ops": [
 {"op": "write", "path": "etc/release", "content": "v3\n", "mode": "0644"}]}
EOF
	cat > /tmp/extra.json <<'EOF'
{"version": 1, "description": "extra", "ops": [
 {"op": "write", "path": "etc/extra", "content": "x\n", "mode": "0644"}]}
EOF
	btrfs-txn apply --target / /tmp/v3.json 2> /tmp/err
	said /tmp/err
	vm_expect_content $MNT/@/etc/release 'v3
'
	# the second apply before the reboot builds on the pending tree (v3), not on /
	btrfs-txn apply --target / /tmp/extra.json 2> /tmp/err
	said /tmp/err
	pending v3x
	vm_expect_content /etc/release 'v1
'
}

# cut_start STEP: an apply of / stopped at STEP, then a power cut. Its old tree is
# the one running, its new one made by hand; both and STEP are durable first.
cut_start() {
	local step=$1
	cp /tmp/running.tree $X/cut-$step.old.tree
	expect cut-$step.new "printf 'cut-$step\n' > etc/release"
	cat > /tmp/cut.json <<EOF
{"version": 1, "description": "cut at $step", "ops": [
 {"op": "write", "path": "etc/release", "content": "cut-$step\n", "mode": "0644"}]}
EOF
	echo $step > $X/cut-step
	sync
	BTRFS_TXN_FAULT=$step:stop btrfs-txn apply --target / /tmp/cut.json &
	gf_wait_state $! T
	vm_cut
}

# cut_check: after the power cut and the boot recovery, the root is exactly the old
# or the new tree of the interrupted apply (which one its step allows), the name holds
# it too, status is clean and nothing is left behind.
cut_check() {
	local step expect got=none rc=0
	step=$(cat $X/cut-step)
	expect=$(gf_expect_after $step cut)
	gf_fault
	GF_CHECKS=$((GF_CHECKS + 1))
	btrfs-txn recover --no-wait / || rc=$?
	[ $rc -eq 0 ] || gf_violation "root-cut-$step: recover / exited $rc"
	running > /tmp/running.tree
	if cmp -s /tmp/running.tree $X/cut-$step.old.tree; then
		got=old
	elif cmp -s /tmp/running.tree $X/cut-$step.new.tree; then
		got=new
	fi
	echo "root-switch: cut at $step: booted into the $got tree (expected $expect)"
	if [ $got = none ]; then
		diff -u $X/cut-$step.old.tree /tmp/running.tree || true
		gf_violation "root-cut-$step: the root is neither the old nor the new tree"
	elif [ $expect != either ] && [ $expect != $got ]; then
		gf_violation "root-cut-$step: booted into the $got tree, expected the $expect tree"
	fi
	named > /tmp/named.tree
	cmp -s /tmp/named.tree /tmp/running.tree || gf_violation "root-cut-$step: the name @ is not the booted tree"
	btrfs-txn status / > /tmp/status || gf_violation "root-cut-$step: status / failed"
	cat /tmp/status
	! grep -Eq '^(switch|interrupted):' /tmp/status || gf_violation "root-cut-$step: status not clean after recover"
	left_behind "root-cut-$step"
	rm $X/cut-step
	gf_finish
}

boot_5() {
	booted v3x
	cut_start $(echo $CUT_STEPS | cut -d' ' -f1)
}

# Boots 6 to 10 check the cut of the boot before and cut at the next step; boot 11
# checks the last one; boot 12 starts on the file system it left (checked clean).
cut_boot() {
	local n=$1
	vm_top
	cut_check
	cut_start $(echo $CUT_STEPS | cut -d' ' -f$n)
}
boot_6() { cut_boot 2; }
boot_7() { cut_boot 3; }
boot_8() { cut_boot 4; }
boot_9() { cut_boot 5; }
boot_10() { cut_boot 6; }
boot_11() { vm_top; cut_check; }
boot_12() {
	btrfs-txn recover --no-wait / | grep -q 'nothing to recover' ||
		vm_fail "recover / found something to do after a clean boot"
	vm_top
	running > /tmp/running.tree
	named > /tmp/named.tree
	cmp -s /tmp/named.tree /tmp/running.tree || vm_fail "the name @ is not the booted tree"
	left_behind "last boot"
	gf_finish
}
