#!/usr/bin/env bash
# t0510: push to local destinations and over real ssh. Local paths on another Btrfs
# and on the same one; an sshd of the test's own (host key, config, authorised
# key) on 127.0.0.2 and a high port, stopped in a trap. push asks each destination
# what it holds, sends incrementally against the newest generation both hold (a
# full stream for a new one), reports each destination, exits 0 only when all
# committed, and says which failed and why otherwise.
. "$(dirname "$0")/lib.sh"
require_btrfs
[ -x /usr/sbin/sshd ] && [ -x /usr/bin/ssh ] && command -v ssh-keygen >/dev/null ||
	skip_all "needs OpenSSH (openssh-server, openssh-client)"
btrfs_fixture 1G
A=$MNT
btrfs_fixture2 1G
B=$MNT2
X=$BTRFS_TXN
S=$A/s

# sshd on a loopback address only, with everything of its own
SSH_DIR="$TEST_TMP/ssh"
mkdir -p "$SSH_DIR" /run/sshd && chmod 700 "$SSH_DIR"
ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/host_key" && ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/id" &&
	cp "$SSH_DIR/id.pub" "$SSH_DIR/authorized_keys" || skip_all "cannot make ssh keys"
PORT=$((20000 + RANDOM % 20000))
cat >"$SSH_DIR/sshd_config" <<CONF
ListenAddress 127.0.0.2:$PORT
HostKey $SSH_DIR/host_key
AuthorizedKeysFile $SSH_DIR/authorized_keys
PidFile $SSH_DIR/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# the test's directory is below /tmp (world-writable), which StrictModes refuses
StrictModes no
CONF
/usr/sbin/sshd -D -e -f "$SSH_DIR/sshd_config" 2>"$SSH_DIR/sshd.log" &
SSHD_PID=$!
at_cleanup "kill $SSHD_PID; wait $SSHD_PID"
printf '[127.0.0.2]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$SSH_DIR/host_key.pub")" >"$SSH_DIR/known_hosts"
SSH_OPTS=(--ssh-option "IdentityFile=$SSH_DIR/id" --ssh-option IdentitiesOnly=yes
	--ssh-option "UserKnownHostsFile=$SSH_DIR/known_hosts" --ssh-option StrictHostKeyChecking=yes
	--ssh-option ConnectTimeout=10 --remote-command "$X")
for _ in $(seq 50); do
	ssh -o BatchMode=yes -o "IdentityFile=$SSH_DIR/id" -o "UserKnownHostsFile=$SSH_DIR/known_hosts" \
		-p "$PORT" root@127.0.0.2 true 2>/dev/null && break
	sleep 0.2
done
ok "sshd answers on 127.0.0.2:$PORT" ssh -o BatchMode=yes -o "IdentityFile=$SSH_DIR/id" \
	-o "UserKnownHostsFile=$SSH_DIR/known_hosts" -p "$PORT" root@127.0.0.2 true
REMOTE="ssh://root@127.0.0.2:$PORT$B/remote"

"$X" init "$S" >/dev/null && mkdir "$S/etc" && printf 'v0\n' >"$S/etc/conf" &&
	chmod 640 "$S/etc/conf" && ln -s etc/conf "$S/link" && head -c 100000 /dev/urandom >"$S/data"
"$X" push --json "$S" "$B/d1" "$A/d2" "$REMOTE" "${SSH_OPTS[@]}" >"$TEST_TMP/p0.json" 2>"$TEST_TMP/p0.err"
ok "first push to three destinations: all committed, full streams" \
	jq -e '.exit == 0 and ([.destinations[] | select(.result == "committed" and .parent == null)] | length) == 3' "$TEST_TMP/p0.json"
[ "$_failed" -eq 0 ] || { cat "$TEST_TMP/p0.json" "$TEST_TMP/p0.err" | sed 's/^/# /'; }
manifest "$S" >"$TEST_TMP/m0"
for d in "$B/d1" "$A/d2" "$B/remote"; do
	ok "  $d holds the tree" same_manifest "$TEST_TMP/m0" "$d"
done

for i in 1 2 3; do
	apply_ops "$S" "[{\"op\": \"write\", \"path\": \"etc/conf\", \"content\": \"v$i\\n\"}]" >/dev/null
	"$X" push --json --parallel 3 "$S" "$B/d1" "$A/d2" "$REMOTE" "${SSH_OPTS[@]}" >"$TEST_TMP/p$i.json" 2>&1
	ok "push generation $i: incremental against $((i - 1)) everywhere" \
		jq -e ".exit == 0 and ([.destinations[] | select(.result == \"committed\" and .parent == $((i - 1)))] | length) == 3" "$TEST_TMP/p$i.json"
	manifest "$S" >"$TEST_TMP/m$i"
	for d in "$B/d1" "$A/d2" "$B/remote"; do
		ok "  $d" same_manifest "$TEST_TMP/m$i" "$d"
	done
done

ok "a second push finds every destination up to date" "$X" push "$S" "$B/d1" "$REMOTE" "${SSH_OPTS[@]}"
output_has "  saying so" "already holds generation 3"
"$X" push --json "$S" "$B/d1" >"$TEST_TMP/p-up.json" 2>&1
ok "  --json: up-to-date, no parent and no generation sent" \
	jq -e '.destinations[0] | .result == "up-to-date" and .parent == null and .generation == null' "$TEST_TMP/p-up.json"

# a new destination joins: full stream there, incremental elsewhere
apply_ops "$S" '[{"op": "write", "path": "four", "content": "4\n"}]' >/dev/null
"$X" push --json "$S" "$B/d1" "$B/new" >"$TEST_TMP/p4.json" 2>&1
ok "a new destination gets a full stream, the others an incremental one" \
	jq -e '.exit == 0 and .destinations[0].parent == 3 and .destinations[1].parent == null' "$TEST_TMP/p4.json"

# after gc on the receiver's side (keep 1), the parent is the newest both still hold
apply_ops "$S" '[{"op": "write", "path": "five", "content": "5\n"}]' >/dev/null
ok "push with a receiver that keeps one received subvolume" "$X" push "$S" "$B/d1"
# d2 missed generations 4 and 5; it still holds 3, which the sender still keeps
"$X" push --json "$S" "$A/d2" >"$TEST_TMP/p5.json" 2>&1
ok "a destination that missed generations gets a stream against the newest it holds" \
	jq -e '.exit == 0 and .destinations[0].parent == 3' "$TEST_TMP/p5.json"
"$X" push --json --parent none "$S" "$B/d1" >"$TEST_TMP/p6.json" 2>&1
ok "--parent none sends a full stream" jq -e '.destinations[0].parent == null and .destinations[0].result == "up-to-date" or .destinations[0].parent == null' "$TEST_TMP/p6.json"

# one destination fails: drift there; the others commit; exit 1 naming it
apply_ops "$S" '[{"op": "write", "path": "six", "content": "6\n"}]' >/dev/null
printf 'local\n' >"$B/d1/etc/conf"
manifest "$B/d1" >"$TEST_TMP/d1-drift"
expect_exit 1 "push exits 1 when a destination refuses" "$X" push "$S" "$B/d1" "$A/d2" "$REMOTE" "${SSH_OPTS[@]}"
output_has "  naming it and why" "push: $B/d1: receive: .*changed locally since its last receive"
output_has "  and reporting the others" "$A/d2: committed generation"
ok "  the refusing destination is unchanged" same_manifest "$TEST_TMP/d1-drift" "$B/d1"
manifest "$S" >"$TEST_TMP/m6"
ok "  $A/d2" same_manifest "$TEST_TMP/m6" "$A/d2"
ok "  remote" same_manifest "$TEST_TMP/m6" "$B/remote"
expect_exit 1 "an unreachable ssh destination fails" "$X" push "$S" "ssh://root@127.0.0.2:1$B/x" "${SSH_OPTS[@]}"
output_has "  naming it" "push: ssh://root@127.0.0.2:1$B/x: "
# ssh ends its own messages with "\r\n": the line reported ends with ssh's last word,
# not with the carriage return (raw, or escaped as \x0d for the terminal)
output_has "  on one line, without ssh's carriage return" \
	"^btrfs-txn: push: ssh://root@127\.0\.0\.2:1$B/x: .*Connection refused$"
"$X" push --json "$S" "ssh://root@127.0.0.2:1$B/x" "${SSH_OPTS[@]}" >"$TEST_TMP/unreachable.json" 2>/dev/null
ok "  and so in --json" jq -e '.exit == 1 and (.destinations[0].error |
	test("Connection refused") and (test("[[:space:][:cntrl:]]$") | not))' "$TEST_TMP/unreachable.json"
expect_exit 2 "a malformed destination is a usage error" "$X" push "$S" "ssh://host"
"$X" init "$B/empty" >/dev/null
ok "push to a managed target that never sent or received (generation 0)" "$X" push "$S" "$B/empty"
output_has "  a full stream" "$B/empty: committed generation 1 \(full stream\)"

# the parent a lagging destination holds is kept for it, beyond send's keep rule
"$X" status --json "$S" >"$TEST_TMP/st.json"
ok "status --json lists each destination and the generation it holds" \
	jq -e --arg d "$A/d2" '.transfers.destinations[$d].generation == 6' "$TEST_TMP/st.json"
for i in 7 8 9 10 11 12 13; do
	apply_ops "$S" "[{\"op\": \"write\", \"path\": \"g$i\", \"content\": \"$i\\n\"}]" >/dev/null
	"$X" push -q "$S" "$B/new" || echo "# push $i failed"
done
ok "seven more generations sent elsewhere: more than send keeps" \
	test "$("$X" status --json "$S" | jq '.transfers.sent | length')" -gt 5
"$X" push --json "$S" "$A/d2" >"$TEST_TMP/p-lag.json" 2>&1
ok "the lagging destination still gets an incremental stream against what it holds" \
	jq -e '.exit == 0 and .destinations[0].parent == 6' "$TEST_TMP/p-lag.json"
ok "push --forget drops the record" "$X" push --forget "$S" "$A/d2"
ok "  status no longer lists it" sh -c "'$X' status --json '$S' | jq -e --arg d '$A/d2' '.transfers.destinations | has(\$d) | not'"
# destinations that need the same stream share one send (the test build's step
# hook counts the sender's "sent" steps); without a usable $TMPDIR each gets its own
SENT_HOOK="[ \"\$1\" = sent ] && echo sent >>'$TEST_TMP/sent' || :"
SHARE=("$B/f1" "$A/f2" "ssh://root@127.0.0.2:$PORT$B/f3")
: >"$TEST_TMP/sent"
BTRFS_TXN_STEP_HOOK=$SENT_HOOK "$X" push --json --parallel 3 "$S" "${SHARE[@]}" "${SSH_OPTS[@]}" \
	>"$TEST_TMP/p-share0.json" 2>&1
ok "three new destinations: all committed with a full stream" \
	jq -e '.exit == 0 and ([.destinations[] | select(.result == "committed" and .parent == null)] | length) == 3' "$TEST_TMP/p-share0.json"
ok "  from one send" test "$(wc -l <"$TEST_TMP/sent")" -eq 1
g=$("$X" status --json "$S" | jq .generation)
apply_ops "$S" '[{"op": "write", "path": "etc/conf", "content": "shared\n"}]' >/dev/null
: >"$TEST_TMP/sent"
BTRFS_TXN_STEP_HOOK=$SENT_HOOK "$X" push --json --parallel 3 "$S" "${SHARE[@]}" "${SSH_OPTS[@]}" \
	>"$TEST_TMP/p-share1.json" 2>&1
ok "the same three: all committed incrementally" \
	jq -e ".exit == 0 and ([.destinations[] | select(.result == \"committed\" and .parent == $g)] | length) == 3" "$TEST_TMP/p-share1.json"
ok "  from one send" test "$(wc -l <"$TEST_TMP/sent")" -eq 1
apply_ops "$S" '[{"op": "write", "path": "etc/conf", "content": "own\n"}]' >/dev/null
: >"$TEST_TMP/sent"
TMPDIR=$TEST_TMP/no-such-dir BTRFS_TXN_STEP_HOOK=$SENT_HOOK "$X" push --json --parallel 3 "$S" "${SHARE[@]}" \
	"${SSH_OPTS[@]}" >"$TEST_TMP/p-share2.json" 2>&1
ok "no usable TMPDIR: all committed all the same" \
	jq -e ".exit == 0 and ([.destinations[] | select(.result == \"committed\" and .parent == $((g + 1)))] | length) == 3" "$TEST_TMP/p-share2.json"
ok "  each from a send of its own" test "$(wc -l <"$TEST_TMP/sent")" -eq 3
manifest "$S" >"$TEST_TMP/m-share"
for d in "$B/f1" "$A/f2" "$B/f3"; do
	ok "  $d holds the tree" same_manifest "$TEST_TMP/m-share" "$d"
done

# every argument reaches the remote receive's verify command, with many --ssh-option
apply_ops "$S" '[{"op": "write", "path": "etc/conf", "content": "many\n"}]' >/dev/null
ok "push over ssh with 40 --ssh-option and a verify command of 70 arguments" \
	"$X" push "$S" "$REMOTE" "${SSH_OPTS[@]}" $(printf -- '--ssh-option ServerAliveInterval=60 %.0s' $(seq 40)) \
	--verify -- /bin/sh -c '[ "$#" -eq 70 ] && [ "${70}" = 70 ]' x $(seq 1 70)
ok "  which committed" grep -qx many "$B/remote/etc/conf"

ok "sshd's log shows only loopback connections" sh -c "! grep -E 'from [0-9]+' '$SSH_DIR/sshd.log' | grep -v 'from 127\.'"
done_testing
