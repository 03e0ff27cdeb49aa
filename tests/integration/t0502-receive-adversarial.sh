#!/usr/bin/env bash
# t0502: receive against hostile streams and a hostile target owner. A stream whose
# path climbs out of its subvolume ("../../..") is confined by btrfs receive
# --chroot to the receiving directory, refused, and nothing outside is written. A
# non-root owner of the target gains nothing: its local change is drift (refused,
# listed); the state directory, where half-received subvolumes live, is closed to
# it; after --force the tree is exactly the sender's, owners included. A user who
# can change a directory on the way to the state directory could swap a symlink into
# the path btrfs receive resolves: receive refuses to start there, naming it.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v python3 >/dev/null || skip_all "needs python3"
btrfs_fixture 1G
X=$BTRFS_TXN
S=$MNT/s
D=$MNT/d
DD="$MNT/.btrfs-txn/d"
USER_NAME=btxn_t0502

"$X" init "$S" >/dev/null && printf 'v0\n' >"$S/conf"
"$X" send "$S" -f "$TEST_TMP/s0" 2>/dev/null
ok "first receive" "$X" receive "$D" -f "$TEST_TMP/s0"
manifest "$D" >"$TEST_TMP/before"

# a file whose name is as long as the escape path, renamed into place by the stream
name=ESCAPEESCAPEESCAPEESCAPEX
escape=../../../../../../escaped
apply_ops "$S" "[{\"op\": \"write\", \"path\": \"$name\", \"content\": \"out\\n\"}]" >/dev/null
"$X" send "$S" -f "$TEST_TMP/s1" 2>/dev/null
ok "craft a stream whose path climbs out of its subvolume" \
	python3 "$TOP/tests/integration/stream-edit.py" "$TEST_TMP/s1" "$TEST_TMP/hostile" "$name" "$escape"
expect_exit 1 "receive refuses it" "$X" receive "$D" -f "$TEST_TMP/hostile"
output_has "  btrfs receive could not move the file out of the subvolume" "Invalid cross-device link|outside"
ok "  nothing was written outside" sh -c "! ls -d '$MNT/escaped' '$MNT/.btrfs-txn/escaped' '$DD/escaped' /escaped /tmp/escaped 2>/dev/null | grep ."
ok "  the target is unchanged" same_manifest "$TEST_TMP/before" "$D"
ok "  nothing half-received is left" sh -c "! ls -d '$DD'/receiving-* '$DD'/staging-* 2>/dev/null | grep ."
# the same file made and renamed at the top of the receiving directory, beside the
# subvolume: btrfs receive succeeds, receive sees the stray entry and refuses
temp=$(btrfs receive --dump -f "$TEST_TMP/s1" | awk -v n="$name" '$1 == "rename" && index($3, n) { sub(".*/", "", $2); print $2 }')
climb=$(printf '../../%s' "$(printf 'z%.0s' $(seq $((${#temp} - 6))))")
ok "craft a stream that makes a file beside its subvolume" \
	python3 "$TOP/tests/integration/stream-edit.py" "$TEST_TMP/s1" "$TEST_TMP/beside" "$temp" "$climb" "$name" "../../${name:6}"
expect_exit 1 "receive refuses it" "$X" receive "$D" -f "$TEST_TMP/beside"
output_has "  saying the stream wrote outside its subvolume" "wrote outside the stream's subvolume"
ok "  the target is unchanged" same_manifest "$TEST_TMP/before" "$D"
ok "  nothing half-received is left" sh -c "! ls -d '$DD'/receiving-* '$DD'/staging-* 2>/dev/null | grep ."
ok "the intact stream lands" "$X" receive "$D" -f "$TEST_TMP/s1"
# a directory with a file in it, built beside the subvolume: its removal must not stop
# at a directory that is not empty (it did: every later receive, apply and recover of
# the target then exited 5 on the receiving directory left behind)
H=$MNT/h D3=$MNT/d3 DD3="$MNT/.btrfs-txn/d3"
"$X" init "$H" >/dev/null && mkdir "$H/DDDDDDDDDDDDDDDD" && printf 'x\n' >"$H/DDDDDDDDDDDDDDDD/FFFFFFFFFFFFFFFF"
"$X" send "$H" --no-parent -f "$TEST_TMP/h0" 2>/dev/null
temps=$(btrfs receive --dump -f "$TEST_TMP/h0" | awk '$1 == "mkdir" || $1 == "mkfile" { sub(".*/", "", $2); print $2 }')
dir_temp=$(echo "$temps" | sed -n 1p) file_temp=$(echo "$temps" | sed -n 2p)
ok "craft a stream that builds a directory and a file in it beside its subvolume" \
	python3 "$TOP/tests/integration/stream-edit.py" "$TEST_TMP/h0" "$TEST_TMP/nested" \
	"$dir_temp" "../../$(printf 'z%.0s' $(seq $((${#dir_temp} - 6))))" \
	"$file_temp" "../../$(printf 'y%.0s' $(seq $((${#file_temp} - 6))))" \
	DDDDDDDDDDDDDDDD ../../DDDDDDDDDD
expect_exit 1 "receive refuses it" "$X" receive "$D3" -f "$TEST_TMP/nested"
output_has "  saying the stream wrote outside its subvolume" "wrote outside the stream's subvolume"
ok "  nothing half-received is left, the nested directory included (nor the target it made)" \
	sh -c "! ls -d '$DD3'/receiving-* '$DD3'/staging-* '$DD3'/recv-* 2>/dev/null | grep . && test ! -e '$D3'"
ok "  the intact stream then lands" "$X" receive "$D3" -f "$TEST_TMP/h0"
manifest "$H" >"$TEST_TMP/h-tree"
ok "  and holds the sender's tree" same_manifest "$TEST_TMP/h-tree" "$D3"

# another subvolume on the filesystem that claims to have received the parent: the
# owner of any subvolume can set its received UUID, and btrfs receive builds an
# incremental stream on the first subvolume the UUID tree lists for it. Made before
# the parent lands here, it would be first: its tree (owners, set-uid files) would
# have become the target's. receive refuses, naming it. (A read-only copy root
# received, by plain btrfs receive, is taken as before: t0500.)
set_received() { # SUBVOLUME UUID: give SUBVOLUME that received UUID (as btrfs receive does)
	python3 - "$1" "$2" <<'PY'
import fcntl, os, struct, sys, uuid
fd = os.open(sys.argv[1], os.O_RDONLY)
args = uuid.UUID(sys.argv[2]).bytes + struct.pack("<QQ", 1, 0) + bytes(200 - 32)
fcntl.ioctl(fd, 0xC0C89425, bytearray(args))  # BTRFS_IOC_SET_RECEIVED_SUBVOL
PY
}
P=$MNT/p D4=$MNT/d4
"$X" init "$P" >/dev/null && printf 'real\n' >"$P/conf"
"$X" send "$P" -f "$TEST_TMP/p0" 2>/dev/null
sent_uuid=$(btrfs receive --dump -f "$TEST_TMP/p0" | awk '$1 == "subvol" { sub("uuid=", "", $3); print $3; exit }')
# (made by root here, then given to an unprivileged owner, as if that user had made
# it: a user can make a subvolume in a directory it can write)
btrfs subvolume create "$MNT/claim" >/dev/null && printf 'planted\n' >"$MNT/claim/conf" &&
	chown 65534:65534 "$MNT/claim" "$MNT/claim/conf"
set_received "$MNT/claim" "$sent_uuid" && btrfs property set -ts "$MNT/claim" ro true
ok "a subvolume elsewhere claims the sent UUID" sh -c "btrfs subvolume show '$MNT/claim' | grep -qi 'received uuid:[[:space:]]*$sent_uuid'"
ok "the full stream lands" "$X" receive "$D4" -f "$TEST_TMP/p0"
apply_ops "$P" '[{"op": "write", "path": "conf", "content": "real2\n"}]' >/dev/null
"$X" send "$P" -f "$TEST_TMP/p1" 2>/dev/null
manifest "$D4" >"$TEST_TMP/d4-before"
expect_exit 1 "an incremental stream is refused while another subvolume is listed first" \
	"$X" receive "$D4" -f "$TEST_TMP/p1"
output_has "  naming it and the way out" "another subvolume \(id [0-9]+\).*claims to have received.*--no-parent"
ok "  the target is unchanged" same_manifest "$TEST_TMP/d4-before" "$D4"
ok "  nothing half-received is left" sh -c "! ls -d '$MNT/.btrfs-txn/d4'/receiving-* '$MNT/.btrfs-txn/d4'/staging-* 2>/dev/null | grep ."
btrfs subvolume delete "$MNT/claim" >/dev/null
ok "once it is gone, the stream lands" "$X" receive "$D4" -f "$TEST_TMP/p1"
ok "  with the sender's content" grep -qx real2 "$D4/conf"

# a non-root owner of the target
useradd -M -N -s /usr/sbin/nologin "$USER_NAME" >/dev/null 2>&1 || skip_all "cannot create a user"
at_cleanup "userdel '$USER_NAME'"
chmod 755 "$TEST_TMP" "$MNT" && chown "$USER_NAME" "$D" && chmod 755 "$D"
manifest "$S" >"$TEST_TMP/sender"
ok "the owner changes the tree" setpriv --reuid="$USER_NAME" --regid=nogroup --clear-groups sh -c "printf mine >'$D/planted' && chmod 4755 '$D/planted'"
apply_ops "$S" '[{"op": "write", "path": "two", "content": "2\n"}]' >/dev/null
"$X" send "$S" -f "$TEST_TMP/s2" 2>/dev/null
manifest "$D" >"$TEST_TMP/owned"
expect_exit 1 "receive refuses the drift" "$X" receive "$D" -f "$TEST_TMP/s2"
output_has "  listing what would be discarded" "would discard: changed in place: (planted|\.)"
ok "  target unchanged" same_manifest "$TEST_TMP/owned" "$D"
ok "the owner cannot reach the state directory" sh -c "! setpriv --reuid='$USER_NAME' --regid=nogroup --clear-groups ls '$DD' 2>/dev/null"
ok "receive --force lands the sender's tree" "$X" receive --force "$D" -f "$TEST_TMP/s2"
manifest "$S" >"$TEST_TMP/sender"
ok "  exactly the sender's tree, owners included (the planted file is gone)" same_manifest "$TEST_TMP/sender" "$D"
ok "  the root is the sender's root's, not the owner's" test "$(stat -c %u "$D")" = 0

# a directory on the way to the state directory that another user can change
apply_ops "$S" '[{"op": "write", "path": "three", "content": "3\n"}]' >/dev/null
"$X" send "$S" -f "$TEST_TMP/s3" 2>/dev/null
manifest "$D" >"$TEST_TMP/landed"
chmod 0777 "$MNT"
expect_exit 1 "receive refuses when the state directory's parent is writable by others" \
	"$X" receive "$D" -f "$TEST_TMP/s3"
output_has "  naming the directory and the reason" "refusing to receive into '$D': '$MNT' is writable by others"
ok "  target unchanged" same_manifest "$TEST_TMP/landed" "$D"
ok "  nothing half-received is left" sh -c "! ls -d '$DD'/receiving-* '$DD'/staging-* '$DD'/recv-*-partial 2>/dev/null | grep ."
chmod 0775 "$MNT" && chown "root:$(id -gn nobody 2>/dev/null || echo nogroup)" "$MNT"
expect_exit 1 "receive refuses a group-writable one" "$X" receive "$D" -f "$TEST_TMP/s3"
output_has "  naming the group" "'$MNT' is writable by group"
chown "$USER_NAME" "$MNT" && chmod 0755 "$MNT"
expect_exit 1 "receive refuses one owned by another user" "$X" receive "$D" -f "$TEST_TMP/s3"
output_has "  naming the owner" "'$MNT' is owned by uid"
chown root:root "$MNT"
ok "once only root can change it, the stream lands" "$X" receive "$D" -f "$TEST_TMP/s3"
manifest "$S" >"$TEST_TMP/sender"
ok "  exactly the sender's tree" same_manifest "$TEST_TMP/sender" "$D"
done_testing
