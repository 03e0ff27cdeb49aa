#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0210: an ordinary account owns the target and plants files in it; root deploys
# into it. Root's ops must not hand that account root (set-id bits or capabilities
# carried across a chown, an owner inherited by write or copy), must not let a
# planted symlink redirect an op to another file of the tree, and must still do
# what the spec says explicitly (chown then chmod 4755; a capability root gave a
# file kept across a write). docs/SECURITY.md, "Ops on a tree others can write".
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v runuser >/dev/null || skip_all "needs runuser (util-linux)"
command -v setcap >/dev/null && command -v getcap >/dev/null || skip_all "needs setcap and getcap (libcap2-bin)"
btrfs_fixture 1G

U=btxn_t0210
userdel "$U" >/dev/null 2>&1
useradd -M -N -s /usr/sbin/nologin "$U" || skip_all "cannot create the account $U"
at_cleanup "userdel '$U'"
UID_U=$(id -u "$U")
GID_U=$(id -g "$U")
as_user() { runuser -u "$U" -- "$@"; }
# The account must reach the target: the fixture's directories are root's 0700.
chmod 0711 "$TEST_TMP" && chmod 0755 "$MNT"

T=$(new_target t)
chown "$U" "$T"
mode_owner() { stat -c '%a %u:%g' "$1"; }
no_setid() { test "$(( 0$(stat -c %a "$1") & 06000 ))" -eq 0; }
# euid_as_user FILE ARGS: what the file prints run by the account (id -u style).
euid_as_user() { as_user "$@" 2>&1; }

# --- positive control: this filesystem honours set-uid, so the checks below mean it
ok "root's spec copies id, chowns it to root, then chmods 4755 explicitly" apply_ops "$T" \
	'[{"op": "copy", "path": "id-root", "source": "/usr/bin/id"},
	  {"op": "chown", "path": "id-root", "owner": 0, "group": 0},
	  {"op": "chmod", "path": "id-root", "mode": "4755"}]'
ok "  it is set-uid root" test "$(mode_owner "$T/id-root")" = "4755 0:0"
ok "  and run by the account, its euid is 0" test "$(euid_as_user "$T/id-root" -u)" = 0

# --- attack 1: a set-uid copy of id, chowned to root by the spec
as_user cp /usr/bin/id "$T/id" && as_user chmod 4755 "$T/id"
ok "the account planted id, mode 4755" test "$(mode_owner "$T/id")" = "4755 $UID_U:$GID_U"
ok "root's spec chowns it to root:root" apply_ops "$T" '[{"op": "chown", "path": "id", "owner": 0, "group": 0}]'
ok "  it is root's without set-uid" test "$(mode_owner "$T/id")" = "755 0:0"
ok "  run by the account, its euid is not 0" test "$(euid_as_user "$T/id" -u)" = "$UID_U"

# variant: an empty bin/env of mode 6755, then root's copy of env over it and a chown
as_user mkdir "$T/bin" && as_user touch "$T/bin/env" && as_user chmod 6755 "$T/bin/env"
ok "root's spec copies env over the planted 6755 file and chowns it" apply_ops "$T" \
	'[{"op": "copy", "path": "bin/env", "source": "/usr/bin/env"},
	  {"op": "chown", "path": "bin/env", "owner": "root", "group": "root"}]'
ok "  env is root's without set-id bits" test "$(mode_owner "$T/bin/env")" = "755 0:0"
ok "  env run by the account does not give euid 0" test "$(euid_as_user "$T/bin/env" id -u)" = "$UID_U"
as_user touch "$T/bin/env2" && as_user chmod 6755 "$T/bin/env2"
ok "a copy alone over a planted 6755 file" apply_ops "$T" \
	'[{"op": "copy", "path": "bin/env2", "source": "/usr/bin/env"}]'
ok "  makes it root's, with the source's mode, no set-id bits" test "$(mode_owner "$T/bin/env2")" = "755 0:0"

# variant: a group-only chown (egid 0)
as_user cp /usr/bin/id "$T/gid" && as_user chmod 6755 "$T/gid"
ok "root's spec chowns only the group of a planted 6755 file to 0" apply_ops "$T" \
	'[{"op": "chown", "path": "gid", "group": 0}]'
ok "  no set-id bit is left" no_setid "$T/gid"
ok "  run by the account, its egid is not 0" test "$(euid_as_user "$T/gid" -g)" = "$GID_U"

# capabilities do not survive a chown either
cp /usr/bin/id "$T/capped" && setcap cap_net_raw+ep "$T/capped"
ok "a root file with a capability" sh -c "getcap '$T/capped' | grep -q cap_net_raw"
ok "root's spec chowns it to the account" apply_ops "$T" "[{\"op\": \"chown\", \"path\": \"capped\", \"owner\": $UID_U}]"
ok "  the capability is gone" test -z "$(getcap "$T/capped")"

# --- attack 4: write and copy over a file the account created
as_user sh -c "echo planted >'$T/secret' && chmod 0666 '$T/secret'"
as_user sh -c "echo planted >'$T/secret2'"
echo copied >"$TEST_TMP/src" && chmod 0600 "$TEST_TMP/src"
ok "root writes a secret, mode 0600, and copies another over files of the account" apply_ops "$T" \
	"[{\"op\": \"write\", \"path\": \"secret\", \"content\": \"s3cret\\n\", \"mode\": \"0600\"},
	  {\"op\": \"copy\", \"path\": \"secret2\", \"source\": \"$TEST_TMP/src\", \"mode\": \"0600\"}]"
ok "  both are root's, mode 0600" test "$(mode_owner "$T/secret") $(mode_owner "$T/secret2")" = "600 0:0 600 0:0"
ok "  the account cannot read the written one" sh -c "! runuser -u '$U' -- cat '$T/secret'"
ok "  nor the copied one" sh -c "! runuser -u '$U' -- cat '$T/secret2'"
as_user sh -c "echo planted >'$T/open' && chmod 0666 '$T/open'"
ok "a write without mode over a 0666 file of the account" apply_ops "$T" '[{"op": "write", "path": "open", "content": "x\n"}]'
ok "  makes it root's, 0644" test "$(mode_owner "$T/open")" = "644 0:0"
# a set-group-ID directory of the account's group must not hand its group down
as_user mkdir "$T/sgid" && as_user chmod 2777 "$T/sgid"
ok "root writes a 0640 file and makes a directory in the account's set-gid directory" apply_ops "$T" \
	'[{"op": "write", "path": "sgid/conf", "content": "x\n", "mode": "0640"},
	  {"op": "mkdir", "path": "sgid/sub", "mode": "0750"}]'
ok "  both have group 0 and exactly the spec's mode" \
	test "$(mode_owner "$T/sgid/conf") $(mode_owner "$T/sgid/sub")" = "640 0:0 750 0:0"

# --- root's own files keep what root gave them
mkdir "$T/own" && printf 'old\n' >"$T/own/conf" && chgrp "$GID_U" "$T/own/conf" && chmod 0640 "$T/own/conf"
cp /usr/bin/id "$T/own/tool" && setcap cap_net_raw+ep "$T/own/tool"
cp /usr/bin/id "$T/own/linked" && setcap cap_net_raw+ep "$T/own/linked" && ln "$T/own/linked" "$T/own/linked2"
ok "write over root files: one with a group, one with a capability, one hardlinked" apply_ops "$T" \
	'[{"op": "write", "path": "own/conf", "content": "new\n"},
	  {"op": "write", "path": "own/tool", "content": "new tool\n"},
	  {"op": "copy", "path": "own/linked", "source": "/usr/bin/id"}]'
ok "  the group and mode stay" test "$(mode_owner "$T/own/conf") $(cat "$T/own/conf")" = "640 0:$GID_U new"
ok "  the capability stays across the in-place write" sh -c "getcap '$T/own/tool' | grep -q cap_net_raw"
ok "  and across the replacement of a hardlinked file" sh -c "getcap '$T/own/linked' | grep -q cap_net_raw"
ok "  whose other name is unchanged" test "$(stat -c %h "$T/own/linked2")" = 1

# --- attack 3: symlinks planted in the tree redirect no op
mkdir -m 0700 "$T/private" && echo key >"$T/private/key" && chmod 0600 "$T/private/key"
mkdir "$T/private/sub"
as_user ln -s private "$T/htdocs"
as_user ln -s private "$T/pub"
for spec in \
	'chmod|[{"op": "chmod", "path": "htdocs/key", "mode": "0644"}]' \
	'chown|[{"op": "chown", "path": "htdocs/key", "owner": '"$UID_U"'}]' \
	'write|[{"op": "write", "path": "htdocs/key", "content": "x"}]' \
	'copy|[{"op": "copy", "path": "htdocs/key", "source": "/usr/bin/id"}]' \
	'delete|[{"op": "delete", "path": "htdocs/key"}]' \
	'rename (from)|[{"op": "rename", "path": "htdocs/key", "to": "stolen"}]' \
	'rename (to)|[{"op": "rename", "path": "open", "to": "htdocs/key"}]' \
	'symlink|[{"op": "symlink", "path": "htdocs/key", "target": "x"}]' \
	'mkdir below the link|[{"op": "mkdir", "path": "htdocs/new", "mode": "0777"}]' \
	'mkdir with mode on the link|[{"op": "mkdir", "path": "pub", "mode": "0777"}]' \
	'mkdir with parents through the link|[{"op": "mkdir", "path": "pub/sub/x", "parents": true}]'; do
	what=${spec%%|*}
	expect_abort 1 "$what through a planted symlink is refused" "$T" apply_ops "$T" "${spec#*|}"
	output_has "  $what: the error names the link" "'(htdocs|pub)' is a symlink"
done
printf '{"version": 1, "target": "%s", "ops": [{"op": "chmod", "path": "htdocs/key", "mode": "0644"}]}\n' "$T" >"$TEST_TMP/plan-link.json"
ok "plan shows the op through the link as failing, as apply would" \
	sh -c "'$BTRFS_TXN' plan '$TEST_TMP/plan-link.json' | grep -q \"fails: 'htdocs' is a symlink\""
ok "private/ and its key keep owner and mode" \
	test "$(mode_owner "$T/private") $(mode_owner "$T/private/key")" = "700 0:0 600 0:0"
ok "the account cannot read the key" sh -c "! runuser -u '$U' -- cat '$T/private/key'"
ok "a chown of the link itself changes the link, not private/" apply_ops "$T" '[{"op": "chown", "path": "pub", "owner": 0}]'
ok "  the link is root's, private/ unchanged" test "$(stat -c %u "$T/pub") $(mode_owner "$T/private")" = "0 700 0:0"
expect_abort 1 "chmod of the link itself is refused" "$T" apply_ops "$T" '[{"op": "chmod", "path": "pub", "mode": "0755"}]'

ok "no staging left" no_staging "$T"
done_testing
