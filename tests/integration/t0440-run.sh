#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0440: `btrfs-txn run TARGET -- COMMAND`: {staging} and BTRFS_TXN_STAGING name the
# staging tree, exit 0 commits a new generation, a non-zero exit or a signal aborts
# with exit 1 naming the command and its status (target unchanged), stdin is
# inherited, --json keeps COMMAND's stdout off stdout, SIGTERM to btrfs-txn aborts.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target t)
SD=$(state_dir "$T")
B=$BTRFS_TXN
gen() { "$B" status --json "$T" | jq -r .generation; }

ok "run with {staging} in the arguments commits" "$B" run "$T" -- sh -c 'printf one >"$1/a"' sh '{staging}'
ok "  the file is in the target" test "$(cat "$T/a")" = one
ok "  generation 1" test "$(gen)" = 1
ok "run with BTRFS_TXN_STAGING commits" "$B" run --description "env var" "$T" -- sh -c 'printf two >"$BTRFS_TXN_STAGING/a"'
ok "  the file changed" test "$(cat "$T/a")" = two
ok "  history: kind run, the description" sh -c "tail -n1 '$SD/history.jsonl' | jq -e '.kind == \"run\" and .description == \"env var\" and .generation == 2'"
ok "options of COMMAND are left to it" "$B" run "$T" -- ls -la '{staging}'
ok "the staging path is inside the state directory" sh -c "'$B' run '$T' -- sh -c 'case \$BTRFS_TXN_STAGING in $SD/staging-*) exit 0;; *) exit 1;; esac'"

expect_abort 1 "a command failing with status 7 aborts" "$T" "$B" run "$T" -- sh -c 'printf bad >"$BTRFS_TXN_STAGING/a"; exit 7'
output_has "  names the command and its status" "command 'sh' failed with exit status 7"
expect_abort 1 "a command killed by a signal aborts" "$T" "$B" run "$T" -- sh -c 'printf bad >"$BTRFS_TXN_STAGING/a"; kill -KILL $$'
output_has "  names the signal" "killed by signal 9"
expect_abort 1 "a command that cannot be run aborts" "$T" "$B" run "$T" -- /nonexistent/tool
output_has "  says it cannot run it" "cannot run '/nonexistent/tool'"
expect_abort 2 "no command is a usage error" "$T" "$B" run "$T" --
expect_abort 2 "no target is a usage error" "$T" "$B" run

ok "stdin is inherited" sh -c "printf 'from stdin' | '$B' run '$T' -- sh -c 'cat >\"\$BTRFS_TXN_STAGING/in\"'"
ok "  the command read it" test "$(cat "$T/in")" = "from stdin"

if command -v script >/dev/null; then
	# On a terminal COMMAND gets the foreground: it reads what is typed, no SIGTTIN.
	(sleep 1; printf 'typed words\n') | script -qec "'$B' run '$T' -- sh -c 'read line; printf %s \"\$line\" >\"\$BTRFS_TXN_STAGING/typed\"'" /dev/null >"$TEST_TMP/tty.out" 2>&1
	ok "on a terminal, COMMAND reads the terminal (interactive tools work)" test "$(cat "$T/typed" 2>&1)" = "typed words"
fi
"$B" run --json "$T" -- sh -c 'echo noise; printf three >"$BTRFS_TXN_STAGING/a"' >"$TEST_TMP/run.json" 2>"$TEST_TMP/run.err"
ok "--json: stdout is one JSON document" jq -e '.command == "run" and .result == "committed" and .command_status == 0' "$TEST_TMP/run.json"
ok "  the command's stdout went to stderr" grep -q noise "$TEST_TMP/run.err"
"$B" run --json "$T" -- false >"$TEST_TMP/fail.json" 2>/dev/null
ok "--json on failure: error, exit 1, command_status 1" jq -e '.exit == 1 and .command_status == 1 and (.error | test("false"))' "$TEST_TMP/fail.json"

# SIGTERM to btrfs-txn while the command runs: passed on, the transaction aborts.
manifest "$T" >"$TEST_TMP/before"
"$B" run "$T" -- sh -c 'printf bad >"$BTRFS_TXN_STAGING/a"; sleep 30 & echo $! >"'"$TEST_TMP"'/sleeper"; touch "'"$TEST_TMP"'/started"; wait' >"$TEST_TMP/term.out" 2>&1 &
pid=$!
# Killed mid-way, this test must not leave the run (and its sleep) holding the mount.
at_cleanup "[ -n \"\${term_waited:-}\" ] || { kill \$(cat '$TEST_TMP/sleeper'); kill -TERM $pid; wait $pid; }"
for _ in $(seq 100); do [ -e "$TEST_TMP/started" ] && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
rc=$?
term_waited=1
ok "SIGTERM during the command aborts with exit 1" test "$rc" = 1
ok "  the target is unchanged" same_manifest "$TEST_TMP/before" "$T"
ok "  no staging left" no_staging "$T"
ok "  nothing COMMAND started is left running" sh -c "! kill -0 \$(cat '$TEST_TMP/sleeper') 2>/dev/null"
ok "--no-wait and --timeout are taken" "$B" run --no-wait --timeout 5 "$T" -- true
done_testing
