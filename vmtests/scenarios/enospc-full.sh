# vmtest: ENOSPC: a batch that does not fit, and a full filesystem during the snapshot
# timeout: 240
# boots: 1
#
# A small filesystem (mkfs.btrfs -b) with most of its space taken by a filler:
#  1. data: the batch copies a file larger than the free space;
#  2. metadata: a step hook fills the last free space at 'journaled', so the snapshot
#     (which needs metadata) runs on a full filesystem (mixed block groups, so data
#     and metadata share the space and the filler takes both).
# apply must exit 1 with the target unchanged; the staging must be gone at once or
# after the next recover (gf_check runs recover, then checks no staging is left,
# btrfs check, and a fresh apply once the filler is removed).

. /vmtest/guest-faults.sh

# fill DIR [small]: write 4 MiB files into DIR until the filesystem is full; with
# "small", then 512-byte files until even those fail (mixed mode: metadata too).
fill() {
	mkdir -p "$1"
	local i=0
	while dd if=/dev/zero of="$1/f$i" bs=1M count=4 2>/dev/null; do i=$((i + 1)); done
	i=0
	[ "$2" = small ] && while printf '%0512d' 0 > "$1/s$i" 2>/dev/null; do i=$((i + 1)); [ $i -lt 5000 ] || break; done
	sync
	echo "fill: $(ls "$1" | wc -l) files; $(df -k "$1" | tail -n1)"
}

# expect_abort LABEL RC ERRFILE: apply exited 1 and said why.
expect_enospc() {
	cat "$3"
	echo "gf: $1: apply exited $2"
	[ "$2" -eq 1 ] || gf_violation "$1: apply exited $2, expected 1 (aborted)"
	grep -qi "no space left" "$3" || gf_violation "$1: the message does not say 'No space left on device'"
}

boot_1() {
	vm_need_cmd init apply recover
	gf_expect_trees
	dd if=/dev/urandom of=/tmp/big bs=1M count=48 2>/dev/null

	# 1. Data: 48 MiB into a filesystem with ~16 MiB free.
	mkfs.btrfs -q -f -K -b 256M $DATA >/dev/null
	vm_mount
	T=$MNT/t
	gf_target_make $T
	fill $MNT/filler
	rm -f $MNT/filler/f0 $MNT/filler/f1 $MNT/filler/f2 $MNT/filler/f3
	sync
	cat > /tmp/big.json <<'SPEC'
{"version": 1, "ops": [
  {"op": "write", "path": "app.conf", "content": "version=big\n"},
  {"op": "copy", "path": "data/big", "source": "/tmp/big"}]}
SPEC
	rc=0; btrfs-txn apply --target $T /tmp/big.json 2> /tmp/big.err || rc=$?
	gf_fault
	expect_enospc data-enospc $rc /tmp/big.err
	ls $MNT/.btrfs-txn/t/
	rm -rf $MNT/filler
	sync
	gf_check $DATA $MNT $T old data-enospc
	umount $MNT

	# 2. Metadata, during the snapshot: mixed block groups, filled at 'journaled'.
	mkfs.btrfs -q -f -K --mixed -b 128M $DATA >/dev/null
	vm_mount
	gf_target_make $T
	fill $MNT/filler small
	rm -f $MNT/filler/f0 $MNT/filler/f1
	sync
	# The hook runs in its own shell: it gets fill() from this file's text.
	declare_fill=$(sed -n '/^fill() {/,/^}/p' /vmtest/scenarios/enospc-full.sh)
	rc=0
	BTRFS_TXN_STEP_HOOK="[ \"\$1\" = journaled ] || exit 0; $declare_fill
fill $MNT/filler2 small >/dev/null" \
		btrfs-txn apply --target $T /tmp/gf-new.json 2> /tmp/meta.err || rc=$?
	gf_fault
	expect_enospc metadata-enospc-at-snapshot $rc /tmp/meta.err
	grep -q "cannot snapshot\|cannot write journal\|cannot open staging" /tmp/meta.err ||
		echo "gf: note: the metadata ENOSPC came at another step than the snapshot"
	ls $MNT/.btrfs-txn/t/
	rm -rf $MNT/filler $MNT/filler2
	sync
	gf_check $DATA $MNT $T old metadata-enospc-at-snapshot
	umount $MNT
	gf_finish
}
