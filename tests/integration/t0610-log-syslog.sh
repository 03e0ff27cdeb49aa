#!/usr/bin/env bash
# t0610: each transaction's outcome goes to the system log, one line each, with the
# ident btrfs-txn. The commands run in a private mount namespace whose /dev is a
# tmpfs with the few device nodes they need and, as /dev/log, a datagram socket this
# test serves itself: the host's log is never touched, and no logger or journal is
# needed. Committed lines are priority info, aborted ones warning; commands that
# change nothing log nothing.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v unshare >/dev/null || skip_all "needs unshare (util-linux)"
command -v python3 >/dev/null || skip_all "needs python3"
btrfs_fixture 1G

B=$BTRFS_TXN
T=$(new_target t)
SOCK=$TEST_TMP/log.sock
LOG=$TEST_TMP/log.txt

# The listener: every datagram, one line, into $LOG.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".ready", "w").close()
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\n") + b"\n")
' "$SOCK" "$LOG" &
listener=$!
at_cleanup "kill $listener"
for _ in $(seq 50); do [ -e "$SOCK.ready" ] && break; sleep 0.1; done
[ -e "$SOCK.ready" ] || { echo "Bail out! the log listener did not start"; exit 1; }

# in_ns CMD...: CMD with the private /dev/log.
in_ns() {
	unshare -m --propagation private sh -c '
		set -e
		mkdir -p "$0/hostdev"
		mount --rbind /dev "$0/hostdev"
		mount -t tmpfs -o mode=0755 btrfs-txn-test-dev /dev
		for node in null zero full random urandom tty; do
			[ -e "$0/hostdev/$node" ] || continue
			touch "/dev/$node"
			mount --bind "$0/hostdev/$node" "/dev/$node"
		done
		ln -s /proc/self/fd /dev/fd
		touch /dev/log
		mount --bind "$0/log.sock" /dev/log
		exec "$@"' "$TEST_TMP" "$@"
}
# lines_now: wait a moment for the datagrams in flight, then count the lines.
lines_now() {
	sleep 0.3
	wc -l <"$LOG"
}

spec() { # spec FILE EXTRA
	printf '{"version": 1, "target": "%s", %s"ops": [{"op": "write", "path": "a", "content": "%s"}]}\n' \
		"$T" "${3:+$3, }" "$2" >"$1"
}
spec "$TEST_TMP/ok.json" one
spec "$TEST_TMP/bad.json" two '"verify": {"argv": ["false"]}'

ok "apply in the namespace" in_ns "$B" apply "$TEST_TMP/ok.json"
txid=$("$B" history --json "$T" | jq -r '.transactions[-1].txid')
ok "  one line in the log" test "$(lines_now)" = 1
ok "  info, ident btrfs-txn with its pid, what, where, which transaction, which generation" \
	grep -Eq "^<14>.* btrfs-txn\[[0-9]+\]: apply committed: target=$T txid=$txid generation=1 previous=0\$" "$LOG"
expect_exit 1 "apply aborted by its verify hook" in_ns "$B" apply "$TEST_TMP/bad.json"
ok "  one more line" test "$(lines_now)" = 2
ok "  warning, aborted, target unchanged, exit 1 and why" \
	sh -c "tail -1 '$LOG' | grep -Eq '^<12>.* btrfs-txn\[[0-9]+\]: apply aborted, target unchanged: target=$T exit=1: .*false' || { cat '$LOG'; exit 1; }"
ok "run, rollback, snapshot pre" in_ns sh -c "'$B' run '$T' -- true && '$B' rollback '$T' && '$B' snapshot '$T' --tag pre"
ok "  one line each" test "$(lines_now)" = 5
ok "  run committed" grep -q "btrfs-txn\[[0-9]*\]: run committed: target=$T txid=" "$LOG"
ok "  rollback committed" grep -q "btrfs-txn\[[0-9]*\]: rollback committed: target=$T txid=" "$LOG"
ok "  snapshot pre committed, naming the generation that holds it" \
	grep -Eq "btrfs-txn\[[0-9]+\]: snapshot pre committed: target=$T txid=[^ ]+ generation=([0-9]+) previous=[0-9]+\$" "$LOG"
ok "status, history, plan, diff, gc of nothing, recover of nothing, probe, validate" \
	in_ns sh -c "'$B' status '$T' && '$B' history '$T' && '$B' plan '$TEST_TMP/ok.json' && '$B' diff '$T' 1 && '$B' recover '$T' && '$B' probe '$T' && '$B' validate '$TEST_TMP/ok.json'"
ok "  log nothing" test "$(lines_now)" = 5
expect_exit 2 "an invalid spec" in_ns "$B" apply "$TEST_TMP/nowhere.json"
ok "  logs nothing" test "$(lines_now)" = 5
with_fault "snapshotted:exit" in_ns "$B" apply "$TEST_TMP/ok.json" >/dev/null 2>&1
ok "an apply cut short logs nothing it did not finish" test "$(lines_now)" = 5
ok "recover of it" in_ns "$B" recover "$T"
ok "  one line: rolled-back" sh -c "test \"\$(wc -l <'$LOG')\" = 6 && tail -1 '$LOG' | grep -q 'recover rolled-back: target=$T txid='"
ok "init of a new target" in_ns "$B" init "$MNT/u"
ok "  one line: created" sh -c "sleep 0.3; tail -1 '$LOG' | grep -q 'init created: target=$MNT/u '"
mkdir -p "$MNT/weird"
W=$MNT/weird/$'x\ny'
"$B" init "$W" >/dev/null
ok "a target with a newline in its name" in_ns "$B" run "$W" -- true
ok "  is one line, escaped" sh -c "sleep 0.3; tail -1 '$LOG' | grep -qF 'run committed: target=$MNT/weird/x\\ny txid='"
done_testing
