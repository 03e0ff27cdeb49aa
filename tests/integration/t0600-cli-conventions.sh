#!/usr/bin/env bash
# t0600: the command-line conventions every command shares. The common options may
# come before the command; -V/--version answer and --help lists them; a getopt
# error is one line prefixed "btrfs-txn: COMMAND:"; -v prints step times where
# --help says it does; TERM=dumb gets no escape sequences and no carriage returns;
# run's errors name "run:" once; the bash completion offers --allow-insecure-spec,
# kept generations for diff and rollback --to, and each command name once after
# "run ... --".
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

B=$BTRFS_TXN
T=$(new_target t)
apply_ops "$T" '[{"op": "write", "path": "a", "content": "1"}]' >/dev/null
apply_ops "$T" '[{"op": "write", "path": "a", "content": "2"}]' >/dev/null

# Common options before the command.
ok "--json before the command: one status document" sh -c "'$B' --json status '$T' | jq -e '.command == \"status\"'"
ok "-q before the command silences the summary" sh -c "test -z \"\$('$B' -q init '$T')\""
ok "-v before the command, --json after it" sh -c "'$B' -v status --json '$T' | jq -e .generation"
expect_exit 2 "an unknown option before the command: exit 2" "$B" --bogus status "$T"
output_has "  one line naming it" "^btrfs-txn: unknown option '--bogus' before the command"
expect_exit 2 "options and no command: exit 2" "$B" --json

# Version and help.
ok "-V prints the version" sh -c "'$B' -V | grep -Eqx 'btrfs-txn [0-9]+[.][0-9]+[.][0-9]+'"
ok "--version before the command too" sh -c "'$B' --version | grep -q '^btrfs-txn '"
ok "-V after a command, as --help lists it there" sh -c "'$B' status -V | grep -Eqx 'btrfs-txn [0-9.]+' && '$B' help status | grep -q -- '-V, --version'"
ok "--help lists -V, --version" sh -c "'$B' --help | grep -q -- '-V, --version'"
ok "  and says where -v does something" sh -c "'$B' --help | grep -q -- '-v, --verbose.*apply, run and rollback'"
ok "the man page lists -V, --version" grep -qF '.BR \-V ", " \-\-version' "$TOP/docs/btrfs-txn.8"

# getopt errors: one line, "btrfs-txn: COMMAND: ...".
expect_exit 2 "an unknown long option: exit 2" "$B" status --bogus "$T"
cp "$TEST_TMP/out" "$TEST_TMP/bogus.out"
ok "  one line, prefixed 'btrfs-txn: status:'" sh -c "test \"\$(wc -l <'$TEST_TMP/bogus.out')\" = 1 && grep -q \"^btrfs-txn: status: unknown or ambiguous option '--bogus'\" '$TEST_TMP/bogus.out'"
expect_exit 2 "a missing value: exit 2" "$B" apply --target
output_has "  named, prefixed 'btrfs-txn: apply:'" "^btrfs-txn: apply: option '--target' needs a value"
expect_exit 2 "an unknown short option: exit 2" "$B" gc -x "$T"
output_has "  named, prefixed 'btrfs-txn: gc:'" "^btrfs-txn: gc: unknown option '-x'"
expect_exit 2 "a value for a flag: exit 2" "$B" status --json=yes "$T"
output_has "  named, prefixed 'btrfs-txn: status:'" "^btrfs-txn: status: option '--json' takes no value"

# -v: step times for apply, run, rollback.
ok "apply -v prints the time of each step" sh -c "'$B' apply -v '$TEST_TMP/none' 2>/dev/null; printf '{\"version\": 1, \"target\": \"%s\", \"ops\": [{\"op\": \"write\", \"path\": \"v\", \"content\": \"v\"}]}' '$T' >'$TEST_TMP/v.json' && '$B' apply -v '$TEST_TMP/v.json' 2>&1 | grep -q 'time per step (s): lock .*total'"
ok "run -v too" sh -c "'$B' run -v '$T' -- true 2>&1 | grep -q 'time per step'"
ok "without -v, not" sh -c "! '$B' run '$T' -- true 2>&1 | grep -q 'time per step'"

# run: "run:" once.
expect_exit 1 "run of a missing command: exit 1" "$B" run "$T" -- /nonexistent/command
output_has "  'btrfs-txn: run: cannot run'" "^btrfs-txn: run: cannot run '/nonexistent/command'"
ok "  and never 'run: run:'" sh -c "! grep -q 'run: run:' '$TEST_TMP/out'"

# TERM=dumb: whole lines only.
if command -v script >/dev/null; then
	{
		printf '{"version": 1, "target": "%s", "ops": [' "$T"
		for ((i = 0; i < 300; i++)); do printf '%s{"op": "write", "path": "f%d", "content": "%d"}' "${i:+,}" "$i" "$i"; done | sed 's/^,//'
		printf ']}\n'
	} >"$TEST_TMP/big.json"
	TERM=dumb script -qec "'$B' apply '$TEST_TMP/big.json'" /dev/null >"$TEST_TMP/dumb.out" 2>&1
	ok "TERM=dumb on a terminal: the count, on a line of its own" grep -q '^applying ops: 300/300 (100%)' "$TEST_TMP/dumb.out"
	ok "  no escape sequence" sh -c "! grep -q \$'\\033' '$TEST_TMP/dumb.out'"
	ok "  no carriage return but the terminal's before a newline" sh -c "! sed 's/\\r\$//' '$TEST_TMP/dumb.out' | grep -q \$'\\r'"
	TERM=xterm script -qec "'$B' apply '$TEST_TMP/big.json'" /dev/null >"$TEST_TMP/xterm.out" 2>&1
	ok "TERM=xterm: in place, as before" grep -q $'\033\\[K' "$TEST_TMP/xterm.out"
fi

# Completion.
complete_words() { # complete_words WORD...: the completions of the last WORD
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _btrfs_txn; printf "%s\n" "${COMPREPLY[@]}"' \
		sh "$TOP/contrib/bash-completion/btrfs-txn" "$@"
}
ok "completion: apply offers --allow-insecure-spec" sh -c "$(declare -f complete_words); TOP='$TOP' complete_words btrfs-txn apply --allow | grep -qx -- --allow-insecure-spec"
ok "completion: plan too" sh -c "$(declare -f complete_words); TOP='$TOP' complete_words btrfs-txn plan --all | grep -qx -- --allow-insecure-spec"
ok "completion: rollback --to offers the kept generations" sh -c "$(declare -f complete_words); test \"\$(TOP='$TOP' complete_words btrfs-txn rollback '$T' --to '' | sort -n | tr '\n' ' ')\" = \"\$(cd '$(state_dir "$T")' && ls -d gen-* | sed 's/gen-//' | sort -n | tr '\n' ' ')\""
G=$(cd "$(state_dir "$T")" && ls -d gen-* | sed 's/gen-//' | sort -n | head -1)
ok "completion: diff offers them and current" sh -c "$(declare -f complete_words); TOP='$TOP' complete_words btrfs-txn diff '$T' '' | grep -qx current && TOP='$TOP' complete_words btrfs-txn diff '$T' '' | grep -qx '$G'"
ok "completion: after global options too" sh -c "$(declare -f complete_words); TOP='$TOP' complete_words btrfs-txn --json rollback '$T' --to '' | grep -qx '$G'"
ok "completion: each command once after run ... --" sh -c "$(declare -f complete_words); out=\$(TOP='$TOP' complete_words btrfs-txn run '$T' -- ls); echo \"\$out\" | grep -qx ls && test -z \"\$(echo \"\$out\" | sort | uniq -d)\""
done_testing
