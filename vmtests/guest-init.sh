#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# guest-init.sh: /init of the vmtests guest (busybox sh, PID 1).
#
# Sets up the bare minimum (proc, sys, devtmpfs, modules, the virtio disks), then runs
# one boot of one scenario, named on the kernel command line by the host orchestrator:
#   vmtest.scenario=DIR/NAME   the file /vmtest/DIR/NAME.sh
#   vmtest.boot=N              which boot of the scenario this is (1, 2, ...)
#   vmtest.boots=B             how many boots the scenario declares
#   vmtest.probe=1             only say "ready" and power off (the host's KVM probe)
# and reports back with marker lines on the console (see vmtests/README.md):
#   @@VMTEST@@ boot N | ok | fail REASON | skip REASON | cut | next | ready
# Whatever happens, it ends with poweroff -f: a trap turns its own failure into a
# "fail" marker first, and panic=-1 with QEMU's -no-reboot covers the case where even
# that dies.
#
# A scenario whose header has '# root: SUBVOL' runs with / on Btrfs from its second
# boot on, as Debian's initramfs boots a Btrfs root: this init checks the data disk
# (btrfs check --readonly), mounts SUBVOL by name (subvol=SUBVOL) at /newroot, moves
# /proc, /sys, /dev, /tmp and /run there and switch_roots into it, running its own copy
# of itself (/init in SUBVOL, VMTEST_ROOT set) as PID 1, which then runs the boot.
# Boot 1 runs in the initramfs and builds that root with vm_root_make.

export PATH=/bin
# In a Btrfs root (VMTEST_ROOT set: see vm_switch_root) the links are there already,
# copied from the initramfs: the tree under test is not written to.
[ -n "${VMTEST_ROOT:-}" ] || /bin/busybox --install -s /bin

M='@@VMTEST@@'
# Markers are written with xtrace off, so the trace of the echo never shows a second,
# bogus marker to the host.
vm_marker() { { set +x; } 2>/dev/null; echo "$M $*"; }
vm_poweroff() { { set +x; } 2>/dev/null; sync; poweroff -f; sleep 10; }

# --- helpers for scenarios --------------------------------------------------------
# Each ends the boot when it reports: the scenario need not return afterwards.
vm_pass() { vm_marker ok; vm_poweroff; }
vm_fail() { vm_marker "fail $*"; vm_poweroff; }
vm_skip() { vm_marker "skip $*"; vm_poweroff; }
# Power cut: the host sends QMP quit as soon as it reads the marker. Nothing is synced
# and nothing is unmounted: that is the point. Sleep so the guest does nothing more.
vm_cut() { vm_marker cut; while :; do sleep 60; done; }

# Skip (not fail) while a btrfs-txn command the scenario needs does not exist yet.
vm_need_cmd() {
	local cmd
	for cmd in "$@"; do
		btrfs-txn help "$cmd" >/dev/null 2>&1 ||
			vm_skip "btrfs-txn $cmd is not implemented in this build"
	done
}

DATA=/dev/vda   # the data disk (the host's data.img)
LOG=/dev/vdb    # the log disk (the host's log.img), for dm-log-writes
MNT=/mnt

vm_mkfs() { mkfs.btrfs -q -f -K "${1:-$DATA}" >/dev/null; }
vm_mount() { mount -t btrfs "${1:-$DATA}" "${2:-$MNT}"; }

# vm_tree DIR: one line per entry, sorted: type, mode, owner, size, sha256 or link
# target, relative path. Two trees are equal when these listings are.
vm_tree() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
		if [ -L "$p" ]; then
			echo "l $(stat -c '%a %u:%g' "$p") -> $(readlink "$p") $p"
		elif [ -d "$p" ]; then
			echo "d $(stat -c '%a %u:%g' "$p") $p"
		else
			echo "f $(stat -c '%a %u:%g %s' "$p") $(sha256sum < "$p" | cut -c1-16) $p"
		fi
	done)
}

# vm_expect_tree DIR EXPECTED_FILE: fail with a diff unless the tree matches.
vm_expect_tree() {
	vm_tree "$1" > /tmp/tree.actual
	if ! diff -u "$2" /tmp/tree.actual; then
		vm_fail "tree $1 differs from $2 (diff above)"
	fi
	# Say how much matched: two empty listings also "match", and that shows here.
	echo "vm_expect_tree: $1 matches $2 ($(wc -l < /tmp/tree.actual) entries)"
}

# vm_expect_content FILE TEXT: the file holds exactly TEXT (printf %s semantics).
vm_expect_content() {
	printf '%s' "$2" > /tmp/expect.content
	cmp -s /tmp/expect.content "$1" || vm_fail "$1 does not hold '$2' (holds '$(cat "$1" 2>&1)')"
}

# --- a Btrfs root ('# root: SUBVOL' in the header) ---------------------------------
# VM_ROOT_SUBVOL: the header's subvolume (empty for other scenarios). VM_IN_ROOT: 1 when
# / is that subvolume of the data disk (boots 2 and later), 0 in the initramfs.
VM_ROOT_SUBVOL=
VM_IN_ROOT=0

# vm_root_make: boot 1 of a root scenario. A fresh Btrfs on the data disk, its top
# level mounted on $MNT, and subvolume $VM_ROOT_SUBVOL holding a copy of this
# initramfs (busybox and its links, btrfs-progs, dmsetup, btrfs-txn and their
# libraries, the modules, /init and /vmtest), with empty directories for the mounts.
vm_root_make() {
	local sub=$VM_ROOT_SUBVOL
	[ -n "$sub" ] || vm_fail "vm_root_make: the scenario's header has no '# root: SUBVOL'"
	vm_mkfs
	vm_mount
	btrfs subvolume create "$MNT/$sub" >/dev/null
	vm_root_fill "$MNT/$sub"
}

# vm_root_fill DIR: DIR holds a copy of this initramfs, usable as a root.
vm_root_fill() {
	local entry
	for entry in /*; do
		case $entry in
		/proc|/sys|/dev|/tmp|/run|/mnt|/newroot) mkdir -p "$1$entry" ;;
		*) cp -a "$entry" "$1/" ;;
		esac
	done
	echo "vm_root_fill: $1 holds $(find "$1" | wc -l) entries"
}

# vm_top [DIR]: the top level (subvolid 5) of the data disk on DIR ($MNT by default),
# where the root's state directory (.btrfs-txn/SUBVOL) and the name SUBVOL are.
vm_top() { mount -t btrfs -o subvolid=5 "$DATA" "${1:-$MNT}"; }

# vm_switch_root SUBVOL: what an initramfs does for a Btrfs root. Never returns.
vm_switch_root() {
	local sub=$1 mount
	# A boot never starts on a file system that is not clean; after a power cut and
	# the previous boot's recovery, this is the check that proves it.
	if ! btrfs check --readonly "$DATA" > /tmp/root-check.log 2>&1; then
		cat /tmp/root-check.log
		init_failed "btrfs check --readonly $DATA is not clean before mounting the root"
	fi
	echo "vmtest: btrfs check --readonly $DATA: clean"
	mkdir -p /newroot
	mount -t btrfs -o subvol="$sub" "$DATA" /newroot ||
		init_failed "cannot mount subvol=$sub of $DATA as the root"
	[ -x /newroot/init ] || init_failed "subvolume $sub of $DATA holds no /init"
	for mount in /proc /sys /dev /tmp /run; do
		mount -o move $mount /newroot$mount || init_failed "cannot move $mount into the root"
	done
	trap - EXIT
	export VMTEST_ROOT="$sub"
	echo "vmtest: switch_root into subvol=$sub of $DATA"
	exec switch_root /newroot /init
}

# --- boot ----------------------------------------------------------------------
init_failed() {
	vm_marker "fail init: $*"
	vm_poweroff
}
# An error in init itself (not in the scenario) still ends with a marker and power off.
trap 'vm_marker "fail init exited unexpectedly"; vm_poweroff' EXIT

if [ -z "${VMTEST_ROOT:-}" ]; then
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
	mount -t tmpfs tmpfs /tmp
	mount -t tmpfs tmpfs /run
fi
# else: the initramfs moved them here before switch_root

arg() { sed -n "s/.*\\<$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
probe=$(arg vmtest.probe)
if [ -n "$probe" ]; then
	vm_marker ready
	trap - EXIT
	vm_poweroff
fi
scenario=$(arg vmtest.scenario)
boot=$(arg vmtest.boot)
boots=$(arg vmtest.boots)
: "${boot:=1}" "${boots:=1}"
[ -n "${VMTEST_ROOT:-}" ] || vm_marker "boot $boot"

# Hung tasks must be reported well inside a scenario's timeout, with their stacks
# (sched_show_task prints at KERN_INFO), so the host's last console lines show them.
echo 10 > /proc/sys/kernel/hung_task_timeout_secs
echo -1 > /proc/sys/kernel/hung_task_warnings 2>/dev/null || true
echo 7 > /proc/sys/kernel/printk

# The list names modules for one kernel version; on another kernel (--kernel without
# --modules) they cannot load, and the drivers had better be built in.
modules_for=$(cat /etc/vmtest/kernel-version)
echo "vmtest: kernel $(uname -r), modules for $modules_for"
if [ -n "${VMTEST_ROOT:-}" ]; then
	: # loaded by the initramfs already
elif [ "$modules_for" = "$(uname -r)" ]; then
	while read -r module; do
		insmod "$module" || init_failed "insmod $module failed"
	done < /etc/vmtest/modules.list
else
	echo "vmtest: not loading modules built for $modules_for: assuming built-in drivers"
fi

# virtio_blk registers the disks a moment after it loads.
tries=0
while [ ! -b "$DATA" ] || [ ! -b "$LOG" ]; do
	tries=$((tries + 1))
	[ $tries -gt 100 ] && init_failed "$DATA or $LOG did not appear in 10 s (virtio_blk missing?)"
	sleep 0.1
done

file="/vmtest/$scenario.sh"
[ -n "$scenario" ] && [ -f "$file" ] || init_failed "no scenario file '$file'"
# Only the leading comment block is the header (as for the host's scenario.c).
VM_ROOT_SUBVOL=$(sed -n '/^#/!q; s/^# root: *//p' "$file" | tail -n 1)
if [ -n "${VMTEST_ROOT:-}" ]; then
	[ "$(stat -f -c %t /)" = 9123683e ] || init_failed "/ is not Btrfs after switch_root"
	VM_IN_ROOT=1
	echo "vmtest: / is subvolume $VMTEST_ROOT of $DATA"
elif [ -n "$VM_ROOT_SUBVOL" ] && [ "$boot" -gt 1 ]; then
	vm_switch_root "$VM_ROOT_SUBVOL"
fi
hostname vmtest
cd /tmp

# The scenario runs in a subshell with errexit and xtrace: the first failing step ends
# it, and the trace just above the marker shows which one it was.
(
	set -e
	. "$file"
	command -v "boot_$boot" >/dev/null || vm_fail "$file defines no boot_$boot"
	set -x
	"boot_$boot"
)
status=$?
trap - EXIT
if [ $status -ne 0 ]; then
	vm_fail "boot $boot: a step failed with status $status (trace above)"
elif [ "$boot" -lt "$boots" ]; then
	vm_marker next
else
	vm_marker ok
fi
vm_poweroff
