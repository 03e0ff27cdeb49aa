# SPDX-License-Identifier: MIT
# guest-logwrites.sh: dm-log-writes recording for the crash-* scenarios (sourced).
#
# In the guest, the data disk is put behind dm-log-writes, which records every write,
# FLUSH and FUA on the log disk in the order they reached the disk; workloads run on a
# file system made through it, with a mark at each protocol step of btrfs-txn (its
# test-only BTRFS_TXN_STEP_HOOK). The host then replays the log state by state and
# checks every one (vmtests/crashcheck.sh, run by the orchestrator after the scenario).
#
# A workload is one btrfs-txn command (or a short sequence, such as an interrupted
# apply and its recover) on one target. lw_run records, around it, the target's
# manifest before and after and the marks NAME:begin, NAME:STEP..., NAME:returned
# (the command exited 0: from here on only the new tree is acceptable). What the host
# needs besides the log (the workload list and the manifests) is written as a tar at
# LW_META_MB into the log disk after the log is closed; the log itself lives on a
# linear mapping of the space before it, so it can never overwrite that tar.
#
# The host checker lists each crash state with 'logreplay manifest' (vmtests/manifest.c),
# lw_manifest's twin in C: one process instead of a dozen a state. Change both
# together; tests/unit/t-crash-manifest.sh checks that they print the same bytes
# (in bash: keep lw_manifest valid in busybox sh and in bash).

LW_META_MB=896
LW_DEV=/dev/mapper/lw

# lw_manifest DIR: one line per entry below DIR, sorted by path: type (f d l ...),
# mode, uid:gid, size (not for directories: their size is a file-system detail),
# sha256 of a file or the target of a link, path. Equal trees give equal listings.
# A top-level '.lw-writer' is left out: there a scenario's concurrent writer keeps
# writing, so it belongs to neither the old nor the new tree of a workload (its own
# check is the writer's, crash-concurrent-writer).
# One stat, one sha256sum and one awk for the whole tree: 1,000 files stay cheap
# under emulation.
lw_manifest() {
	local tmp status
	tmp=$(mktemp -d) || return 1
	(
		cd "$1" || exit 1
		find . -mindepth 1 -path ./.lw-writer -prune -o -print | LC_ALL=C sort > "$tmp/paths" || exit 1
		tr '\n' '\0' < "$tmp/paths" | xargs -0 -r stat -c '%f %a %u:%g %s' > "$tmp/stats" || exit 1
		find . -path ./.lw-writer -prune -o -type f -print | tr '\n' '\0' | xargs -0 -r sha256sum > "$tmp/sums" || exit 1
		find . -path ./.lw-writer -prune -o -type l -print | while IFS= read -r p; do
			printf '%s\t%s\n' "$p" "$(readlink "$p")"
		done > "$tmp/links" || exit 1
		awk -v sums="$tmp/sums" -v links="$tmp/links" -v stats="$tmp/stats" '
			BEGIN {
				while ((getline line < sums) > 0)
					sum[substr(line, 67)] = substr(line, 1, 64)
				while ((getline line < links) > 0) {
					tab = index(line, "\t")
					link[substr(line, 1, tab - 1)] = substr(line, tab + 1)
				}
				# The first hex digit of the raw mode is the file type.
				split("1 p 2 c 4 d 6 b 8 f a l c s", t, " ")
				for (i = 1; i < 14; i += 2)
					type[t[i]] = t[i + 1]
			}
			{
				if ((getline s < stats) <= 0) { print "lw_manifest: stat output ended early" > "/dev/stderr"; exit 1 }
				split(s, f, " ")
				ty = type[substr(f[1], 1, 1)]
				if (ty == "") ty = "?"
				size = ty == "d" ? "-" : f[4]
				what = ty == "f" ? sum[$0] : ty == "l" ? "-> " link[$0] : "-"
				print ty, f[2], f[3], size, what, $0
			}' "$tmp/paths"
	)
	status=$?
	rm -rf "$tmp"
	return $status
}

# lw_start: the data disk behind dm-log-writes, a fresh Btrfs on it mounted on $MNT.
lw_start() {
	local sectors
	sectors=$(blockdev --getsz "$DATA")
	dmsetup create --noudevsync lwlog --table "0 $((LW_META_MB * 2048)) linear $LOG 0"
	dmsetup mknodes # no udev here: the next table names this node
	dmsetup create --noudevsync lw --table "0 $sectors log-writes $DATA /dev/mapper/lwlog"
	dmsetup mknodes
	mkdir -p /tmp/lw
	: > /tmp/lw/workloads
	echo "$sectors" > /tmp/lw/data-sectors
	lw_mark mkfs
	vm_mkfs "$LW_DEV"
	vm_mount "$LW_DEV"
	lw_mark mounted
}

lw_mark() {
	dmsetup message lw 0 mark "$1"
}

# lw_run NAME KIND TARGET COMMAND...: one workload. KIND says what the target is
# before it: "subvol" (managed by btrfs-txn), "plain" (a directory, for init) or
# "mounted" (a subvolume the command reaches at its own mount point, such as /: TARGET
# is then the subvolume's name as seen from the top level, $MNT/@, whose tree the
# manifests and the host's check are about; the host recovers through a mount of it).
# COMMAND must exit 0; its exit is marked NAME:returned, after which the target must
# hold the tree the command left (the "new" manifest).
lw_run() {
	local name=$1 kind=$2 target=$3 rc=0
	shift 3
	case $name in *[!A-Za-z0-9_-]*) vm_fail "lw_run: workload name '$name' has odd characters" ;; esac
	# The old tree is on disk before the workload starts: the states being checked
	# are those of the workload, not of the set-up before it.
	sync
	lw_manifest "$target" > "/tmp/lw/$name.old"
	printf '%s %s %s\n' "$name" "$kind" "${target#$MNT/}" >> /tmp/lw/workloads
	lw_mark "$name:begin"
	# Exported, not a prefix assignment: COMMAND may be a shell function.
	# LW_EXTRA_HOOK (a self-test's own step action) runs after the mark.
	export BTRFS_TXN_STEP_HOOK="dmsetup message lw 0 mark '$name:'\"\$1\"${LW_EXTRA_HOOK:+; $LW_EXTRA_HOOK}"
	"$@" || rc=$?
	unset BTRFS_TXN_STEP_HOOK
	[ $rc -eq 0 ] || vm_fail "workload $name: '$*' exited $rc"
	lw_mark "$name:returned"
	lw_manifest "$target" > "/tmp/lw/$name.new"
	echo "lw_run: $name done, $(wc -l < "/tmp/lw/$name.old") entries before, $(wc -l < "/tmp/lw/$name.new") after"
}

# lw_init_plain TARGET: a plain directory holding one file, made a subvolume by
# `btrfs-txn init` as a recorded workload.
lw_init_plain() {
	mkdir -p "$1"
	printf 'v0\n' > "$1/version"
	lw_run init plain "$1" btrfs-txn init "$1"
}

# lw_small_applies TARGET DESCRIPTION: three recorded applies, each rewriting
# `version` and adding a 4 KB file; the workload of the protocol-break scenarios.
lw_small_applies() {
	local target=$1 description=$2 i
	for i in 1 2 3; do
		cat > /tmp/r$i.json <<SPEC
{
  "version": 1,
  "description": "$description r$i",
  "ops": [
    {"op": "write", "path": "version", "content": "v$i\\n"},
    {"op": "write", "path": "data-$i.bin", "content": "$(head -c 3000 /dev/urandom | base64 | tr -d '\n')"}
  ]
}
SPEC
		lw_run apply-$i subvol "$target" btrfs-txn apply --target "$target" /tmp/r$i.json
	done
}

# lw_finish: close the log, check it recorded everything, and leave the workload
# list and manifests for the host at LW_META_MB on the log disk.
lw_finish() {
	local status
	umount "$MNT"
	status=$(dmsetup status lw)
	echo "dm-log-writes status: $status"
	case $status in
	*logging_disabled*) vm_fail "dm-log-writes disabled logging (log disk full or a log write failed)" ;;
	esac
	dmsetup remove --noudevsync lw
	dmsetup remove --noudevsync lwlog
	tar -C /tmp/lw -cf /tmp/lw-meta.tar .
	dd if=/tmp/lw-meta.tar of="$LOG" bs=1M seek=$LW_META_MB conv=notrunc 2>/dev/null
	sync
	echo "lw_finish: $(wc -l < /tmp/lw/workloads) workloads recorded"
}
