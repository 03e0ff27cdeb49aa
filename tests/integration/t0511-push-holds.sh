#!/usr/bin/env bash
# t0511: when push counts a destination as already holding the tree, and the
# arguments it passes on. Local destinations only (t0510 has ssh). A destination
# holds the tree only when its live tree is the one it received last and that is
# our live tree as sent: a transaction on the destination since, a change in place
# there (once committed there), or a change of ours in place since the send, gets a
# stream (and the destination's receive decides), never "already holds" with exit 0. A verify command gets all its
# arguments, however many; any number of --ssh-option is taken.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G
A=$MNT
btrfs_fixture2 1G
B=$MNT2
X=$BTRFS_TXN
S=$A/s
D=$B/d
D2=$B/d2

"$X" init "$S" >/dev/null && apply_ops "$S" '[{"op": "write", "path": "conf", "content": "one\n"}]' >/dev/null
ok "push to two new destinations" "$X" push "$S" "$D" "$D2"
ok "a second push finds both up to date" "$X" push "$S" "$D" "$D2"
output_has "  saying so" "$D2: already holds generation 1"

# a transaction on the destination since its receive: it no longer holds our tree
apply_ops "$D" '[{"op": "write", "path": "conf", "content": "LOCAL\n"}]' >/dev/null
expect_exit 1 "push to a destination changed by an apply there is refused, not up to date" \
	"$X" push "$S" "$D"
output_has "  by the destination's receive, naming it" "push: $D: receive: .*changed locally since its last receive"
ok "  the destination keeps its own tree" grep -qx LOCAL "$D/conf"
"$X" push --json "$S" "$D" >"$TEST_TMP/local.json" 2>/dev/null
ok "  --json: failed, exit 1" jq -e '.exit == 1 and .destinations[0].result == "failed"' "$TEST_TMP/local.json"
ok "--force replaces it with our tree" "$X" push --force "$S" "$D"
ok "  which it then holds" grep -qx one "$D/conf"
ok "  and push finds it up to date" "$X" push "$S" "$D"
output_has "  saying so" "$D: already holds generation 1"

# the destination's tree changed in place since its receive (no transaction there):
# once its filesystem has committed the change, its status says so and push sends;
# the destination's receive refuses the drift
printf 'EDITED\n' >"$D/conf" && sync -f "$D/conf" && btrfs filesystem sync "$D" >/dev/null
ok "status --json on the destination counts the change in place" \
	sh -c "'$X' status --json '$D' | jq -e '.transfers.changed_in_place > 0'"
expect_exit 1 "push to a destination changed in place is refused, not up to date" "$X" push "$S" "$D"
output_has "  by the destination's receive, naming it" "push: $D: receive: .*changed locally since its last receive"
ok "  the destination keeps its change" grep -qx EDITED "$D/conf"
ok "--force replaces it again" "$X" push --force "$S" "$D"
ok "  status --json: no change in place" sh -c "'$X' status --json '$D' | jq -e '.transfers.changed_in_place == 0'"

# our tree changed in place at the same generation: a new snapshot, sent
printf 'INPLACE\n' >"$S/conf"
ok "push after a change in place on the sender" "$X" push "$S" "$D2"
output_has "  sends it" "$D2: committed generation"
ok "  and the destination holds it" grep -qx INPLACE "$D2/conf"
ok "  up to date then" "$X" push "$S" "$D2"
output_has "  saying so" "$D2: already holds generation 1"
# a verify command with many arguments gets every one of them; 40 --ssh-option
# are taken (a local destination does not use them; t0510 passes them to ssh)
apply_ops "$S" '[{"op": "write", "path": "conf", "content": "two\n"}]' >/dev/null
ok "push --verify passes 70 arguments to the verify command" \
	"$X" push "$S" "$D2" --verify -- /bin/sh -c '[ "$#" -eq 70 ] && [ "${70}" = 70 ]' x $(seq 1 70)
ok "  which committed" grep -qx two "$D2/conf"
ok "push takes 40 --ssh-option" "$X" push "$S" "$D2" $(printf -- '--ssh-option ServerAliveInterval=60 %.0s' $(seq 40))
output_has "  and finds the destination up to date" "$D2: already holds generation 2"
# push sends the generation it read at its start (and records as held): an apply on
# the sender meanwhile must not make the stream one of a newer tree
if command -v strace >/dev/null; then
	apply_ops "$S" '[{"op": "write", "path": "conf", "content": "three\n"}]' >/dev/null
	gen=$("$X" status --json "$S" | jq -r .generation)
	ok "push under strace" strace -f -qq -e trace=execve -o "$TEST_TMP/push.strace" "$X" push "$S" "$D2"
	ok "  its send is asked for that generation" grep -q "\"send\", \"-q\", \"--generation\", \"$gen\"" "$TEST_TMP/push.strace"
fi
done_testing
