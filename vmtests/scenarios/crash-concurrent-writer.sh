# vmtest: a writer appends to the target during recorded applies: every crash state is old or new, and no acknowledged line is lost silently
# timeout: 1800
# boots: 1
#
# A process appends numbered lines to T/.lw-writer/log (open, append, close) in
# bursts while applies run, and the step hook writes at two protocol steps (below);
# an apply that meets a write exits 1 and is retried. The
# host replays the log and checks every state as for the other crash-* scenarios
# (the writer's directory is left out of the old/new comparison: it belongs to
# neither). In the guest, after each apply exits: every line the writer saw written
# is in the live log, or in a generation the apply reported in concurrent_writes and
# pinned.

. /vmtest/guest-logwrites.sh

T=$MNT/srv/app

# writer DIR ACKS: append "N" to DIR/log, then to ACKS once the append returned; a
# burst of 10 lines, then a pause (0.1 s twice, then 3 s: an apply under emulation
# takes about a second, and must meet a quiet moment now and then), until
# /tmp/writer.stop exists.
writer() {
	local i=0 j k=0
	while [ ! -e /tmp/writer.stop ]; do
		for j in 1 2 3 4 5 6 7 8 9 10; do
			i=$((i + 1))
			echo "$i" >> "$1/log" 2>/dev/null && echo "$i" >> "$2"
		done
		k=$((k + 1))
		if [ $((k % 3)) -eq 0 ]; then sleep 3; else sleep 0.1; fi
	done
}

# apply_until_committed SPEC: apply, retried while it aborts (exit 1) for a writer;
# each --json document is kept for the check.
apply_until_committed() {
	local n=0 rc
	while [ $n -lt 40 ]; do
		n=$((n + 1))
		rc=0
		btrfs-txn apply --json --target "$T" "$1" >> /tmp/reports 2>> /tmp/apply.err || rc=$?
		echo >> /tmp/reports
		[ $rc -eq 0 ] && return 0
		[ $rc -eq 1 ] || break
	done
	echo "apply_until_committed: $n attempts, the last exited $rc:"
	tail -n 3 /tmp/apply.err
	return 1
}

# check_acks: every acknowledged line is in the live log or in a pinned, reported gen.
check_acks() {
	local state=$MNT/srv/.btrfs-txn/app g lost
	# Generations the applies reported as holding concurrent writes, and pinned.
	: > /tmp/kept-lines
	cat "$T/.lw-writer/log" >> /tmp/kept-lines
	for g in $(grep -o '"pinned_generation": [0-9]*' /tmp/reports | awk '{print $2}' | sort -u); do
		[ -e "$state/pin-$g" ] && cat "$state/gen-$g/.lw-writer/log" >> /tmp/kept-lines
	done
	lost=$(awk 'FNR == NR { have[$0] = 1; next } !($0 in have) { n++ } END { print n + 0 }' \
		/tmp/kept-lines /tmp/acks)
	echo "check_acks: $(wc -l < /tmp/acks) acknowledged lines, $lost lost without a report," \
		"$(grep -c '"pinned_generation"' /tmp/reports) reports"
	[ "$lost" -eq 0 ]
}

# The step hook (BTRFS_TXN_STEP_HOOK, run by btrfs-txn as a child process: another
# writer) appends a line of its own at two protocol steps: at 'applied' (after the
# snapshot, before the flush) on the first attempt, which aborts (exit 1, T unchanged)
# or, since step 7 no longer commits, is reported and pinned (an append to a file that
# exists sits in Btrfs's delayed items, unseen by the check before the exchange:
# docs/protocol.md); at 'checked' (after the last check before the exchange) on every
# attempt, which lands in the replaced tree and must be reported and pinned.
cat > /tmp/hook.sh <<'HOOK'
step=$1
case $step in
applied) [ -e /tmp/abort-next ] || exit 0; rm /tmp/abort-next ;;
checked) ;;
*) exit 0 ;;
esac
n=$(cat /tmp/hook-n 2> /dev/null || echo 0)
n=$((n + 1))
echo "$n" > /tmp/hook-n
echo "hook-$step-$n" >> /mnt/srv/app/.lw-writer/log && echo "hook-$step-$n" >> /tmp/acks
HOOK

boot_1() {
	vm_need_cmd init apply
	lw_start
	lw_init_plain $T
	mkdir $T/.lw-writer
	: > /tmp/acks
	: > /tmp/reports
	rm -f /tmp/writer.stop
	writer $T/.lw-writer /tmp/acks &
	local pid=$! i
	export LW_EXTRA_HOOK='sh /tmp/hook.sh "$1"'
	for i in 1 2 3 4; do
		cat > /tmp/w$i.json <<SPEC
{"version": 1, "description": "with a writer r$i", "ops": [
  {"op": "write", "path": "version", "content": "v$i\\n"},
  {"op": "write", "path": "data-$i.bin", "content": "$(head -c 2000 /dev/urandom | base64 | tr -d '\n')"}
]}
SPEC
		touch /tmp/abort-next
		lw_run writer-apply-$i subvol $T apply_until_committed /tmp/w$i.json
	done
	unset LW_EXTRA_HOOK
	touch /tmp/writer.stop
	wait $pid
	local aborted reported
	aborted=$(grep -c 'modified by another process' /tmp/apply.err || true)
	reported=$(grep -c '"pinned_generation"' /tmp/reports || true)
	echo "aborted for a writer: $aborted; committed with writes reported: $reported"
	[ "$reported" -ge 4 ] || vm_fail "expected every apply to report the write at 'checked', got $reported"
	check_acks || vm_fail "an acknowledged write was lost without a report"
	lw_finish
}
