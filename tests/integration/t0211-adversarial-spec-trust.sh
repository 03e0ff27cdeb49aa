#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0211: specs, copy sources and executables are trusted only as sshd's StrictModes
# would trust them: the file and every directory from / to it owned by root (or the
# caller) and writable by no one else (a sticky directory passes, its entries do
# not unless they are root's), links followed and their targets judged the same way.
# The attacker is a throw-away unprivileged account that owns or can write an
# ancestor; each refusal names the component and leaves the target unchanged.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v useradd >/dev/null || skip_all "needs useradd (passwd)"
btrfs_fixture 1G

EVIL=btxn_t0211
userdel "$EVIL" >/dev/null 2>&1
useradd -M -N -s /usr/sbin/nologin "$EVIL" || skip_all "cannot create user $EVIL"
at_cleanup "userdel '$EVIL'"
EU=$(id -u "$EVIL") EG=$(id -g "$EVIL")
as_evil() { setpriv --reuid="$EU" --regid="$EG" --clear-groups -- "$@"; }
RULE='\(StrictModes: owned by root, writable by no one else\)'

# The attacker must reach the work tree; it stays root's and closed to writes.
chmod 0755 "$TEST_TMP"
W="$TEST_TMP/w" && mkdir -m 0755 "$W"
T=$(new_target t)
echo old >"$T/conf"
marker="$TEST_TMP/hook-ran"
# spec FILE CONTENT [VERIFY_ARGV_JSON]: a spec writing conf, optionally with a verify hook.
spec() {
	local verify=""
	[ -z "${3:-}" ] || verify=", \"verify\": {\"argv\": $3}"
	printf '{"version": 1, "target": "%s", "ops": [{"op": "write", "path": "conf", "content": "%s"}]%s}\n' \
		"$T" "$2" "$verify" >"$1"
}

# --- an ancestor the attacker owns: rename root's release/ away, put theirs there
mkdir -m 0755 "$W/area" && chown "$EU:$EG" "$W/area"
mkdir -m 0755 "$W/area/release" && spec "$W/area/release/deploy.json" root
expect_abort 2 "a root spec under an attacker-owned ancestor is refused" "$T" \
	"$BTRFS_TXN" apply "$W/area/release/deploy.json"
output_has "  names the ancestor and the rule" \
	"^$W/area/release/deploy.json: refusing spec: '$W/area' is owned by uid $EU $RULE$"
cat >"$TEST_TMP/evil-hook" <<EOF
#!/bin/sh
touch '$marker'
EOF
chmod 0755 "$TEST_TMP/evil-hook"
ok "the attacker swaps release/ for their own" as_evil sh -c \
	"mv '$W/area/release' '$W/area/old' && mkdir '$W/area/release' && cat >'$W/area/release/deploy.json'" \
	< <(spec /dev/stdout evil "[\"$TEST_TMP/evil-hook\"]")
expect_abort 2 "  root's apply of the swapped-in spec is refused" "$T" \
	"$BTRFS_TXN" apply "$W/area/release/deploy.json"
expect_exit 2 "  plan too" "$BTRFS_TXN" plan "$W/area/release/deploy.json"
ok "  its verify hook never ran" test ! -e "$marker"

# --- a directory writable by a group, or by others
mkdir -m 0775 "$W/grp" && chgrp "$EG" "$W/grp" && chmod 0775 "$W/grp" && spec "$W/grp/s.json" g
expect_abort 2 "a spec in a group-writable directory is refused" "$T" "$BTRFS_TXN" apply "$W/grp/s.json"
output_has "  names the group" "^$W/grp/s.json: refusing spec: '$W/grp' is writable by group $EG $RULE$"
mkdir -m 0755 "$W/open" && chmod 0757 "$W/open" && spec "$W/open/s.json" o
expect_abort 2 "a spec in an others-writable directory is refused" "$T" "$BTRFS_TXN" apply "$W/open/s.json"
output_has "  names the mode" "'$W/open' is writable by others \\(mode 0757\\)"
spec "$W/gw.json" g && chmod 0664 "$W/gw.json"
expect_abort 2 "a group-writable spec is refused" "$T" "$BTRFS_TXN" apply "$W/gw.json"
output_has "  names the file" "'$W/gw.json' is writable by group"

# --- an attacker-owned spec in /tmp (sticky, world-writable)
evil_spec=$(mktemp /tmp/t0211-spec.XXXXXX) && at_cleanup "rm -f '$evil_spec'"
spec "$evil_spec" evil && chown "$EU" "$evil_spec" && chmod 0644 "$evil_spec"
expect_abort 2 "an attacker-owned spec in /tmp is refused" "$T" "$BTRFS_TXN" apply "$evil_spec"
output_has "  the sticky bit does not make it trusted" "refusing spec: '$evil_spec' is owned by uid $EU"
ln -s "$evil_spec" "$W/link.json"
expect_abort 2 "  also through a root-owned symlink" "$T" "$BTRFS_TXN" apply "$W/link.json"
output_has "  which names the file it points to" "^$W/link.json: refusing spec: '$evil_spec' is owned by uid $EU"
evil_link=/tmp/t0211-link.$$ && at_cleanup "rm -f '$evil_link'"
spec "$W/root.json" r && ln -s "$W/root.json" "$evil_link" && chown -h "$EU" "$evil_link"
expect_abort 2 "an attacker-owned link in /tmp to a root spec is refused" "$T" "$BTRFS_TXN" apply "$evil_link"
output_has "  names the link" "'$evil_link' is owned by uid $EU"
ln -s loop-b "$W/loop-a" && ln -s loop-a "$W/loop-b"
expect_abort 2 "a link loop is refused" "$T" "$BTRFS_TXN" apply "$W/loop-a"
output_has "  after 40 links" "more than 40 symlinks on the way to '$W/loop-a'"

# --- a root-owned chain is accepted, however it is named
mkdir -m 0755 "$W/good" "$W/good/real" && spec "$W/good/real/deploy.json" new
ln -s real "$W/good/rel" && ln -s "$W/good/real" "$W/good/abs"
ok "a root-owned chain is accepted" "$BTRFS_TXN" apply "$W/good/real/deploy.json"
ok "  and applied" grep -qx new "$T/conf"
ok "  through root-owned links (relative and absolute)" "$BTRFS_TXN" plan "$W/good/rel/../abs/deploy.json"
ok "  by a relative path" sh -c "cd '$W/good/rel' && '$BTRFS_TXN' plan ./deploy.json"
shared=$(mktemp -d /tmp/t0211-sticky.XXXXXX) && at_cleanup "rm -rf '$shared'"
chmod 1777 "$shared" && spec "$shared/s.json" sticky
ok "a root spec in a sticky world-writable directory is accepted" "$BTRFS_TXN" plan "$shared/s.json"
ok "standard input is not judged" sh -c "'$BTRFS_TXN' plan - <'$evil_spec'"
ok "--allow-insecure-spec still lets a spec through" "$BTRFS_TXN" plan --allow-insecure-spec "$W/grp/s.json"

# --- a copy source under an attacker-controlled symlinked ancestor
mkdir -m 0755 "$W/ws" && chown "$EU:$EG" "$W/ws"
ok "the attacker points ws/build at /etc" as_evil ln -s /etc "$W/ws/build"
printf '{"version": 1, "target": "%s", "ops": [{"op": "copy", "path": "stolen", "source": "%s"}]}\n' \
	"$T" "$W/ws/build/shadow" >"$W/copy.json"
expect_abort 1 "a copy source under it is refused" "$T" "$BTRFS_TXN" apply "$W/copy.json"
output_has "  names the source and the untrusted directory" "source '$W/ws/build/shadow' is not trusted: '$W/ws' is owned by uid"
ok "  nothing was copied" test ! -e "$T/stolen"
echo payload >"$W/good/real/src"
printf '{"version": 1, "target": "%s", "ops": [{"op": "copy", "path": "copied", "source": "%s"}]}\n' \
	"$T" "$W/good/abs/src" >"$W/copy-good.json"
ok "a copy source on a root-owned chain (through a link) is copied" "$BTRFS_TXN" apply "$W/copy-good.json"
ok "  with its content" grep -qx payload "$T/copied"

# --- executables: the verify hook and run's COMMAND
mkdir -m 0755 "$W/hooks" && chmod 0777 "$W/hooks"
printf '#!/bin/sh\ntouch %s\n' "$marker" >"$W/hooks/check" && chmod 0755 "$W/hooks/check"
spec "$W/verify.json" v "[\"$W/hooks/check\"]"
expect_abort 1 "a verify hook in an attacker-writable directory is refused" "$T" "$BTRFS_TXN" apply "$W/verify.json"
output_has "  names the directory" "verify hook: refusing to run '$W/hooks/check': '$W/hooks' is writable by others \\(mode 0777\\) $RULE"
ok "  it never ran" test ! -e "$marker"
spec "$W/verify-path.json" v '["check"]'
expect_abort 1 "  also when found through PATH" "$T" env PATH="$W/hooks:$PATH" "$BTRFS_TXN" apply "$W/verify-path.json"
output_has "  names the file PATH found" "refusing to run 'check': '$W/hooks' is writable by others"
ok "  it never ran" test ! -e "$marker"
expect_abort 1 "run of a command in an attacker-writable directory is refused" "$T" "$BTRFS_TXN" run "$T" -- "$W/hooks/check"
output_has "  names the directory" "run: refusing to run '$W/hooks/check': '$W/hooks' is writable by others"
ok "  it never ran" test ! -e "$marker"
chmod 0755 "$W/hooks"
ok "the same hook in a root-owned directory runs" "$BTRFS_TXN" apply "$W/verify.json"
ok "  it ran" test -e "$marker"
rm -f "$marker"
printf 'touch %s\n' "$marker" >"$W/hooks/plain" && chmod 0755 "$W/hooks/plain"
spec "$W/verify-plain.json" p "[\"$W/hooks/plain\", \"x\"]"
ok "a hook without #! runs with /bin/sh, as execvp would" "$BTRFS_TXN" apply "$W/verify-plain.json"
ok "  it ran" test -e "$marker"
rm -f "$marker"
ok "a bare name from a root-owned PATH runs" "$BTRFS_TXN" run "$T" -- sh -c 'echo run >{staging}/ran'
ok "  it ran" grep -qx run "$T/ran"

# --- an unprivileged caller trusts root and itself, nobody else
mkdir -m 0755 "$W/mine" && chown "$EU:$EG" "$W/mine" && spec "$W/mine/s.json" m && chown "$EU" "$W/mine/s.json"
as_evil "$BTRFS_TXN" plan "$W/mine/s.json" >"$TEST_TMP/out" 2>&1
ok "a caller's own spec is not refused as untrusted" sh -c "! grep -q 'refusing spec' '$TEST_TMP/out'"
chown 4242 "$W/mine/s.json"
expect_exit 2 "  one owned by another user is" as_evil "$BTRFS_TXN" plan "$W/mine/s.json"
output_has "  with the caller in the rule" "'$W/mine/s.json' is owned by uid 4242 \\(StrictModes: owned by root or uid $EU, writable by no one else\\)"

done_testing
