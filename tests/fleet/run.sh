#!/usr/bin/env bash
# run.sh: `make fleetcheck`: the btrfs_txn.deploy collection against a fleet of hosts.
#
# Four hosts h1..h4 (fleet-lib.sh: sshd in its own mount namespace with its own Btrfs,
# on 127.0.0.2..5), plus h9 on 127.0.0.10 where nothing listens (unreachable). The
# collection is built and installed with ansible-galaxy, and also by `make install`.
# Each scenario runs a playbook from tests/fleet/playbooks/ with the json callback and
# asserts what every host holds afterwards, read through its own namespace.
# TAP output; exit 1 when a test point fails, 77 without root, Btrfs or sshd.
set -u
# Ansible refuses to run in a locale that is not UTF-8.
export LC_ALL=C.UTF-8
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../integration/lib.sh
. "$TOP/tests/integration/lib.sh"
# shellcheck source=fleet-lib.sh
. "$TOP/tests/fleet/fleet-lib.sh"

fleet_require
HOSTS="h1 h2 h3 h4"
PB=$TOP/tests/fleet/playbooks
REL=$TOP/tests/fleet/releases
OUT=$FLEET/out
started=$(date +%s)

fleet_start 4
mkdir -p "$OUT"
printf 'h9 ansible_host=127.0.0.10\n' >"$FLEET/lost.ini"

# --- the collection installs and documents itself ---
ok "ansible-galaxy builds the collection and installs the tarball" fleet_install_collection
ok "ansible-doc btrfs_txn.deploy.apply shows options, examples and return values" \
	sh -c 'ansible-doc btrfs_txn.deploy.apply >"$1" && grep -q "Check mode runs only the plan" "$1" &&
		grep -q "EXAMPLES" "$1" && grep -q "RETURN VALUES" "$1"' sh "$OUT/doc.txt"
ok "ansible-doc lists apply, rollback, status and push" \
	sh -c 'ansible-doc -l btrfs_txn.deploy >"$1" && grep -q "^btrfs_txn.deploy.apply" "$1" &&
		grep -q "^btrfs_txn.deploy.rollback" "$1" && grep -q "^btrfs_txn.deploy.status" "$1" &&
		grep -q "^btrfs_txn.deploy.push" "$1"' sh "$OUT/list.txt"
ok "ansible-doc btrfs_txn.deploy.push shows options, examples and return values" \
	sh -c 'ansible-doc btrfs_txn.deploy.push >"$1" && grep -q "ssh_options" "$1" && grep -q "EXAMPLES" "$1" &&
		grep -q "RETURN VALUES" "$1" && grep -q "failed_destinations" "$1"' sh "$OUT/pushdoc.txt"
ok "make install puts the collection where ansible-doc finds it" \
	sh -c 'make -s -C "$1" install-ansible-collection DESTDIR="$2" PREFIX=/usr >/dev/null &&
		ANSIBLE_COLLECTIONS_PATH="$2/usr/share/ansible/collections" ansible-doc -t role -l btrfs_txn.deploy | grep -q rollout &&
		ANSIBLE_COLLECTIONS_PATH="$2/usr/share/ansible/collections" ansible-doc btrfs_txn.deploy.status | grep -q lock_holder' \
	sh "$TOP" "$FLEET/dest"

ok "the collection's example playbooks pass ansible-playbook --syntax-check" \
	sh -c 'cd "$1/contrib/ansible/examples" && for p in *.yml; do ansible-playbook --syntax-check -i inventory.ini "$p" || exit 1; done' sh "$TOP"

# jq_true FILE FILTER: FILTER on the JSON document in FILE is exactly true (an empty
# or missing file is not: jq -e would pass on no input at all).
jq_true() {
	local got
	got=$(jq -c "$2" "$1") && [ "$got" = true ] || { echo "jq '$2' on $1: ${got:-no value}"; tail -c 600 "$1.err" 2>/dev/null; return 1; }
}
# same_as FILE HOST: HOST's target holds the tree whose manifest is FILE.
same_as() {
	fleet_manifest "$2" | diff -u "$1" -
}
gen_is() {
	local got
	got=$(fleet_generation "$1") && [ "$got" = "$2" ] || { echo "$1: generation ${got:-?}, expected $2"; return 1; }
}
# gen_and_tree HOST GEN FILE: HOST is on generation GEN and holds the tree of FILE.
gen_and_tree() {
	gen_is "$1" "$2" && same_as "$3" "$1"
}
# holds_release HOST N: HOST's VERSION file says N.
holds_release() {
	[ "$(fleet_in "$1" cat "$FLEET_TARGET/VERSION")" = "$2" ]
}
save_manifests() {
	local host
	for host in $HOSTS; do
		fleet_manifest "$host" >"$OUT/$1.$host" || return 1
	done
}

# --- 1. first deployment: every host changed, identical trees ---
ok "first deployment: the play succeeds" fleet_playbook "$OUT/r1.json" "$PB/deploy.yml" -e release="$REL/r1.json"
for host in $HOSTS; do
	ok "  $host changed once" test "$(jq -r ".stats.$host.changed" "$OUT/r1.json")" = 1
	ok "  $host is on generation 1" gen_is "$host" 1
done
save_manifests r1
ok "  every host holds the same tree" sh -c 'for h in h2 h3 h4; do cmp "$1.h1" "$1.$h" || exit 1; done' sh "$OUT/r1"
ok "  and it is release 1" sh -c 'grep -q "^app.conf regular file 644 0:0 size=24 " "$1" && grep -q "^VERSION " "$1" && grep -q "^conf.d/site.conf " "$1"' sh "$OUT/r1.h1"
ok "  apply returned generation, previous, txid and the plan" \
	jq_true "$OUT/r1.json" '.plays[0].tasks[0].hosts.h2 | .generation == 1 and .previous == 0 and (.txid | length > 0) and .concurrent_writes == [] and (.plan | length == 4)'

# --- 2. second run of the same play: changed=0, no new generation ---
ok "second run: the play succeeds" fleet_playbook "$OUT/r1b.json" "$PB/deploy.yml" -e release="$REL/r1.json"
ok "  changed=0 on every host" jq_true "$OUT/r1b.json" '[.stats[] | .changed] == [0,0,0,0] and (.stats | length) == 4'
for host in $HOSTS; do
	ok "  $host still on generation 1 with the same tree" gen_and_tree "$host" 1 "$OUT/r1.$host"
done

# --- 3. check mode and diff mode: nothing changes anywhere, the diff names the files ---
ok "check + diff: the play succeeds" fleet_playbook "$OUT/r2check.json" "$PB/deploy.yml" -e release="$REL/r2.json" --check --diff
ok "  every host reports changed" jq_true "$OUT/r2check.json" '[.stats[] | .changed] == [1,1,1,1] and (.stats | length) == 4'
ok "  the diff names app.conf, conf.d/cache.conf and VERSION, not conf.d/site.conf" \
	sh -c 'd=$(jq -r ".plays[0].tasks[0].hosts.h3.diff[] | .after_header" "$1") && echo "$d" &&
		echo "$d" | grep -q "app/app.conf (replace)" && echo "$d" | grep -q "app/conf.d/cache.conf (create)" &&
		echo "$d" | grep -q "app/VERSION (replace)" && ! echo "$d" | grep -q site.conf' sh "$OUT/r2check.json"
ok "  the diff shows the new content" \
	jq_true "$OUT/r2check.json" '[.plays[0].tasks[0].hosts.h1.diff[] | .after] | index("release = 2\nworkers = 8\n") != null'
for host in $HOSTS; do
	ok "  $host unchanged: generation 1, release 1" gen_and_tree "$host" 1 "$OUT/r1.$host"
done

# --- 4. rollout of release 2, health check failing on h3 (second batch: h2, h3) ---
expect_exit 2 "rollout with h3 unhealthy: the play fails" \
	fleet_playbook "$OUT/r2roll.json" "$PB/rollout.yml" -e release="$REL/r2.json" -e expect_release=2 -e unhealthy=h3
msg=$(jq -r '[.plays[].tasks[] | select(.task.name | endswith("Fail the rollout, naming the hosts and why")) | .hosts[] | select(.failed) | .msg] | .[]' "$OUT/r2roll.json")
ok "  one message names the batch, h3 and why, and the hosts rolled back" \
	sh -c 'echo "$1"; test "$(printf "%s\n" "$1" | grep -c "btrfs_txn.deploy.rollout failed")" = 1 &&
		echo "$1" | grep -q "batch h2, h3" && echo "$1" | grep -q "h3: health check failed (exit 1): app on h3 answers 503" &&
		echo "$1" | grep -q "Rolled back: h2 to generation 1, h3 to generation 1. Later batches were not started.$"' sh "$msg"
fleet_manifest h1 >"$OUT/r2.h1"
ok "  h1 (first batch) keeps release 2" sh -c 'grep -q "^conf.d/cache.conf " "$1" && grep -q "^VERSION regular file 644 0:0 size=2 " "$1" && ! cmp -s "$1" "$2"' sh "$OUT/r2.h1" "$OUT/r1.h1"
ok "  h1 is on generation 2" gen_is h1 2
for host in h2 h3; do
	ok "  $host (second batch) is back on release 1" same_as "$OUT/r1.$host" "$host"
	ok "  $host: switched and switched back (generation 3 holds gen-1's tree)" gen_is "$host" 3
done
ok "  h4 (third batch) untouched: release 1, generation 1" gen_and_tree h4 1 "$OUT/r1.h4"
ok "  the apply task ran on h1, h2, h3, never on h4" \
	jq_true "$OUT/r2roll.json" '[.plays[].tasks[] | select(.task.name == "btrfs_txn.deploy.rollout : Apply the release") | .hosts | keys[]] | sort == ["h1", "h2", "h3"]'

# --- 5. the rollback module: h1 back to generation 1 ---
ok "rollback module: h1 to generation 1" fleet_playbook "$OUT/rb.json" "$PB/rollback.yml" -e fleet_hosts=h1 -e to=1
ok "  h1 holds release 1 again" same_as "$OUT/r1.h1" h1
ok "  returned generation 3, previous 2" jq_true "$OUT/rb.json" '.plays[0].tasks[0].hosts.h1 | .generation == 3 and .previous == 2 and .changed'

# --- 6. a src spec on the hosts in a directory others can write: btrfs-txn refuses it ---
mkdir -p "$FLEET/open" "$FLEET/specs" && chmod 0777 "$FLEET/open" && chmod 0755 "$FLEET/specs" &&
	cp "$REL/r3.json" "$FLEET/open/r3.json" && cp "$REL/r3.json" "$FLEET/specs/r3.json" &&
	chmod 0644 "$FLEET/open/r3.json" "$FLEET/specs/r3.json"
expect_exit 2 "src in a directory anyone can write: the play fails" \
	fleet_playbook "$OUT/open.json" "$PB/deploy.yml" -e fleet_hosts=h1 -e src="$FLEET/open/r3.json"
ok "  h1 failed with exit 2 and btrfs-txn's refusal naming the directory" \
	jq_true "$OUT/open.json" '.plays[0].tasks[0].hosts.h1 | .failed and .rc == 2 and (.msg | test("refusing spec: .*/open. is writable by others"))'
ok "  h1 unchanged" gen_and_tree h1 3 "$OUT/r1.h1"

# --- 7. a locked host and an unreachable host fail alone ---
fleet_in h2 flock -x "$FLEET_MNT/.btrfs-txn/app/lock" sleep 300 &
locker=$!
at_cleanup "kill $locker"
for _ in $(seq 50); do
	fleet_in h2 /usr/local/sbin/btrfs-txn status --json "$FLEET_TARGET" | jq -e .locked >/dev/null && break
	sleep 0.1
done
ok "status module: h2 locked, lock_holder at the top level" \
	sh -c 'ansible -m btrfs_txn.deploy.status -a "target=$2" h2 >"$1" 2>&1; cat "$1"; grep -q "\"locked\": true" "$1" && grep -q "\"lock_holder\"" "$1"' sh "$OUT/status.txt" "$FLEET_TARGET"
expect_exit 4 "release 3 with h2 locked and h9 unreachable: the play fails (4: a host was unreachable)" \
	fleet_playbook "$OUT/r3.json" "$PB/deploy.yml" -i "$FLEET/inventory.ini" -i "$FLEET/lost.ini" \
	-e fleet_hosts=fleet,h9 -e src="$FLEET/specs/r3.json" -e fleet_wait=false
ok "  h2 failed with exit 3, named as locked" \
	jq_true "$OUT/r3.json" '.plays[0].tasks[0].hosts.h2 | .failed and .rc == 3 and (.msg | test("exit 3, the target is locked by another run"))'
ok "  h9 is unreachable" jq_true "$OUT/r3.json" '.stats.h9.unreachable == 1'
ok "  h1, h3, h4 succeeded with changed=1" jq_true "$OUT/r3.json" '[.stats.h1, .stats.h3, .stats.h4] | all(.changed == 1 and .failures == 0 and .unreachable == 0)'
ok "  h2 still holds release 1" same_as "$OUT/r1.h2" h2
for host in h1 h3 h4; do
	ok "  $host holds release 3" holds_release "$host" 3
done
kill "$locker" 2>/dev/null

# --- 8. a failing verify hook and a failing precondition: btrfs-txn's own message ---
fleet_manifest h1 >"$OUT/r3.h1"
gen_h1=$(fleet_generation h1)
expect_exit 2 "a release whose verify hook fails: the play fails" \
	fleet_playbook "$OUT/verify.json" "$PB/deploy.yml" -e fleet_hosts=h1 -e release="$REL/bad-verify.json"
ok "  exit 1 (aborted, target unchanged) with btrfs-txn's message about the hook" \
	jq_true "$OUT/verify.json" '.plays[0].tasks[0].hosts.h1 | .failed and .rc == 1 and (.msg | test("btrfs-txn apply failed \\(exit 1, aborted: the target is unchanged\\): .*verify"))'
ok "  h1 unchanged" gen_and_tree h1 "$gen_h1" "$OUT/r3.h1"
expect_exit 2 "a release whose precondition fails: the play fails" \
	fleet_playbook "$OUT/precond.json" "$PB/deploy.yml" -e fleet_hosts=h1 -e release="$REL/bad-precondition.json"
ok "  exit 1 with btrfs-txn's message naming the precondition" \
	jq_true "$OUT/precond.json" '.plays[0].tasks[0].hosts.h1 | .failed and .rc == 1 and (.msg | test("VERSION"))'
ok "  h1 unchanged" gen_and_tree h1 "$gen_h1" "$OUT/r3.h1"

# --- 9. the push module: a build host's tree to every host, full then incremental ---
# The build host is this machine (the control node) with a Btrfs of its own; the task
# runs there once (delegate_to localhost) and pushes over the fleet's sshd.
btrfs_fixture 256M
BUILD=$MNT/app
PUSHED=$FLEET_MNT/pushed
push_play() {
	local out=$1
	shift
	fleet_playbook "$out" "$PB/push.yml" -e build_target="$BUILD" -e build_binary="$FLEET_BIN" \
		-e push_path="$PUSHED" -e fleet_port="$FLEET_PORT" -e fleet_key="$FLEET/id_fleet" \
		-e fleet_known_hosts="$FLEET/known_hosts" "$@"
}
# pushed_same FILE HOST: HOST's pushed target holds the tree whose manifest is FILE.
pushed_same() {
	fleet_in "$2" bash -c "$(declare -f manifest); manifest '$PUSHED'" | diff -u "$1" -
}
# The push task's result (run_once: reported under the batch's first host, h1).
push_task='.plays[0].tasks[0].hosts.h1'
ok "build host: its own target holds release 1" \
	sh -c '"$1" init -q "$2" && "$1" apply -q --target "$2" "$3"' sh "$FLEET_BIN" "$BUILD" "$REL/r1.json"
# a target or destination that starts with '-' would be an option of btrfs-txn push
# (--ssh-option runs a command): refused by the module, check mode included
expect_exit 2 "push of a target that starts with '-': the play fails" \
	push_play "$OUT/push-dash.json" --check -e build_target=--force
ok "  the module names it" jq_true "$OUT/push-dash.json" "$push_task"' | .failed and (.msg | test("target .--force. starts with"))'
ok "push in check mode: the play succeeds" push_play "$OUT/push0.json" --check
ok "  skipped with a message naming the destinations" \
	jq_true "$OUT/push0.json" "$push_task"' | .skipped and (.changed | not) and (.msg | test("would push .* to ssh://root@127.0.0.2:'"$FLEET_PORT"'/"))'
for host in $HOSTS; do
	ok "  $host: nothing pushed" fleet_in "$host" test ! -e "$PUSHED"
done
ok "first push: the play succeeds" push_play "$OUT/push1.json"
ok "  changed; all 4 destinations committed a full stream (parent null)" \
	jq_true "$OUT/push1.json" "$push_task"' | .changed and (.destinations | length == 4) and all(.destinations[]; .result == "committed" and .parent == null) and (.committed | length == 4)'
manifest "$BUILD" >"$OUT/build1"
ok "  (the build host's tree is release 1)" grep -q "^VERSION regular file 644 0:0 size=2 " "$OUT/build1"
for host in $HOSTS; do
	ok "  $host holds the build host's tree" pushed_same "$OUT/build1" "$host"
done
ok "build host: release 2 applied" "$FLEET_BIN" apply -q --target "$BUILD" "$REL/r2.json"
ok "second push: the play succeeds" push_play "$OUT/push2.json"
ok "  changed; all 4 destinations committed an incremental stream (parent set)" \
	jq_true "$OUT/push2.json" "$push_task"' | .changed and (.destinations | length == 4) and all(.destinations[]; .result == "committed" and .parent != null)'
manifest "$BUILD" >"$OUT/build2"
ok "  (the build host's tree is release 2 now)" sh -c 'grep -q "^conf.d/cache.conf " "$1" && ! cmp -s "$1" "$2"' sh "$OUT/build2" "$OUT/build1"
for host in $HOSTS; do
	ok "  $host holds the build host's new tree" pushed_same "$OUT/build2" "$host"
done
ok "third push, nothing new: the play succeeds" push_play "$OUT/push3.json"
ok "  not changed: every destination is up to date" \
	jq_true "$OUT/push3.json" "$push_task"' | (.changed | not) and all(.destinations[]; .result == "up-to-date")'
expect_exit 2 "a push that includes h9, where nothing listens: the play fails" \
	push_play "$OUT/push4.json" -i "$FLEET/inventory.ini" -i "$FLEET/lost.ini" -e fleet_hosts=h1,h9
ok "  the message names h9's destination; h1 was up to date, nothing committed" \
	jq_true "$OUT/push4.json" "$push_task"' | .failed and (.msg | test("ssh://root@127.0.0.10:[0-9]+/.*: ssh: .*refused$")) and (.committed | length == 0) and .failed_destinations == ["ssh://root@127.0.0.10:'"$FLEET_PORT$PUSHED"'"]'

echo "# fleetcheck took $(($(date +%s) - started)) s"
done_testing
