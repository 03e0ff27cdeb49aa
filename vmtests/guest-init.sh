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

export PATH=/bin
/bin/busybox --install -s /bin

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

# --- boot ----------------------------------------------------------------------
init_failed() {
	vm_marker "fail init: $*"
	vm_poweroff
}
# An error in init itself (not in the scenario) still ends with a marker and power off.
trap 'vm_marker "fail init exited unexpectedly"; vm_poweroff' EXIT

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run

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
vm_marker "boot $boot"

# Hung tasks must be reported well inside a scenario's timeout, with their stacks
# (sched_show_task prints at KERN_INFO), so the host's last console lines show them.
echo 10 > /proc/sys/kernel/hung_task_timeout_secs
echo -1 > /proc/sys/kernel/hung_task_warnings 2>/dev/null || true
echo 7 > /proc/sys/kernel/printk

# The list names modules for one kernel version; on another kernel (--kernel without
# --modules) they cannot load, and the drivers had better be built in.
modules_for=$(cat /etc/vmtest/kernel-version)
echo "vmtest: kernel $(uname -r), modules for $modules_for"
if [ "$modules_for" = "$(uname -r)" ]; then
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
