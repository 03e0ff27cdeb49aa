#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0400: the APT hook (contrib/apt): the commands of 80btrfs-txn run the way APT runs
# them (/bin/sh -c, from /, under the apt-get process, the Pre-Install-Pkgs list in
# protocol version 3 on stdin with APT_HOOK_INFO_FD=0) take a pre and a post
# snapshot of each listed target, paired in the history, the pre described by the
# apt-get command line and the post by the package actions; a failing target never
# fails the hook unless hooks-strict exists.
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G

T=$(new_target etc)
U=$(new_target opt)
HOOKDIR=$TOP/contrib/apt
export BTRFS_TXN_CONF_DIR=$TEST_TMP/conf BTRFS_TXN_RUN_DIR=$TEST_TMP/run BTRFS_TXN
# Without a target list the hooks would protect /: never the host's in a test.
export BTRFS_TXN_HOOK_ROOT=
mkdir -p "$BTRFS_TXN_CONF_DIR"
printf '# targets\n%s\n\n%s\n' "$T" "$U" >"$BTRFS_TXN_CONF_DIR/apt-targets"

# The commands exactly as written in the configuration file, @HOOKDIR@ filled in as
# make install does.
apt_command() {
	sed -n "s|^$1 { \"\(.*\)\"; };\$|\1|p" "$HOOKDIR/80btrfs-txn" | sed "s|@HOOKDIR@|$HOOKDIR|g"
}
PRE_INVOKE=$(apt_command 'DPkg::Pre-Invoke')
PRE_INSTALL_PKGS=$(apt_command 'DPkg::Pre-Install-Pkgs')
POST_INVOKE=$(apt_command 'DPkg::Post-Invoke')
ok "the configuration has the three commands" test -n "$PRE_INVOKE" -a -n "$PRE_INSTALL_PKGS" -a -n "$POST_INVOKE"
# APT looks a command's Tools::Options up by the command's first word: ask APT's own
# parser what version the Pre-Install-Pkgs command gets.
sed "s|@HOOKDIR@|$HOOKDIR|g" "$HOOKDIR/80btrfs-txn" >"$TEST_TMP/80btrfs-txn"
ok "  and asks for version 3 for the hook" test "$(apt-config -c "$TEST_TMP/80btrfs-txn" shell V "DPkg::Tools::Options::${PRE_INSTALL_PKGS%% *}::Version")" = "V='3'"
export PRE_INVOKE PRE_INSTALL_PKGS POST_INVOKE

# What APT 2.x sends with Version 3: VERSION, the configuration space, a blank
# line, then NAME OLD ARCH MA DIRECTION NEW ARCH MA ACTION per package.
cat >"$TEST_TMP/pkgs-v3" <<'PKGS'
VERSION 3
APT::Architecture=amd64
DPkg::Pre-Install-Pkgs::=/usr/share/hook pkgs
Dir::Etc::main=apt.conf

nginx 1.22.1-9 amd64 none < 1.24.0-2 amd64 none /var/cache/apt/archives/nginx_1.24.0-2_amd64.deb
libfoo1 - - none < 2.0-1 amd64 same /var/cache/apt/archives/libfoo1_2.0-1_amd64.deb
oldpkg 3.1-1 amd64 none < - - none **REMOVE**
nginx 1.22.1-9 amd64 none < 1.24.0-2 amd64 none **CONFIGURE**
PKGS

# A stand-in for apt-get: a process named apt-get running the hooks as APT does.
mkdir -p "$TEST_TMP/bin"
cat >"$TEST_TMP/bin/apt-get" <<'APT'
#!/bin/sh
cd / || exit 100
sh -c "$PRE_INVOKE" || exit 100
APT_HOOK_INFO_FD=0 sh -c "$PRE_INSTALL_PKGS" <"$PKGS_FILE" || exit 100
sh -c "$DPKG_STANDIN" || exit 100
sh -c "$POST_INVOKE" || exit 100
APT
chmod +x "$TEST_TMP/bin/apt-get"
history_of() { "$BTRFS_TXN" history --json "$1"; }

manifest "$T" >"$TEST_TMP/before"
ok "apt-get install runs the hooks" env PKGS_FILE="$TEST_TMP/pkgs-v3" DPKG_STANDIN="printf 'worker 4;\n' >'$T/nginx.conf'; rm -rf '$U/old'" \
	"$TEST_TMP/bin/apt-get" install -y nginx
ok "  both targets: gen-0 pre, gen-1 post, generation 2" sh -c "for t in '$T' '$U'; do '$BTRFS_TXN' status --json \"\$t\" | jq -e '.generation == 2 and ([.kept[].generation] == [0, 1])' || exit 1; done"
ok "  gen-0 is the tree before" same_manifest "$TEST_TMP/before" "$(state_dir "$T")/gen-0"
ok "  gen-1 has the change" test "$(cat "$(state_dir "$T")/gen-1/nginx.conf")" = "worker 4;"
history_of "$T" >"$TEST_TMP/h.json"
ok "  history pairs them" jq -e '.pairs | length == 1 and .[0].pre == 0 and .[0].post == 1' "$TEST_TMP/h.json"
ok "  pre and post lines: kind snapshot, same pair" jq -e '[.transactions[] | select(.kind == "snapshot")] | length == 2 and .[0].tag == "pre" and .[1].tag == "post" and .[0].pair == .[1].pair and .[0].pair == .[0].txid' "$TEST_TMP/h.json"
ok "  the pre is described by the apt-get command line" jq -e '.transactions[0].description == "apt-get install -y nginx"' "$TEST_TMP/h.json"
ok "  the post by the package actions (configure lines left out)" jq -e '.transactions[1].description == "nginx 1.22.1-9 -> 1.24.0-2, libfoo1 2.0-1 installed, oldpkg removed"' "$TEST_TMP/h.json"
ok "  the other target got the same pair" sh -c "history_of() { '$BTRFS_TXN' history --json \"\$1\"; }; history_of '$U' | jq -e '.pairs | length == 1 and .[0].post == 1'"
ok "  the package list was not left behind" test ! -e "$BTRFS_TXN_RUN_DIR/apt-packages"
ok "diff 0 1 shows the change" sh -c "'$BTRFS_TXN' diff '$T' 0 1 | grep -q '^A f nginx.conf'"

# Version 2 (older APT, or another tool asking for it) is read too.
printf 'VERSION 2\nAPT::Architecture=amd64\n\ncurl 7.88-1 < 7.88-2 /var/cache/apt/archives/curl.deb\n' >"$TEST_TMP/pkgs-v2"
ok "version 2 input" env PKGS_FILE="$TEST_TMP/pkgs-v2" DPKG_STANDIN=true "$TEST_TMP/bin/apt-get" upgrade
ok "  post described by it" sh -c "'$BTRFS_TXN' history --json '$T' | jq -e '.transactions[-1].description == \"curl 7.88-1 -> 7.88-2\" and .pairs[-1].post == 3'"

# Failures: a target that is not a subvolume, a missing targets file, strict mode.
printf '%s\n' "$TEST_TMP/not-a-target" >>"$BTRFS_TXN_CONF_DIR/apt-targets"
mkdir -p "$TEST_TMP/not-a-target"
ok "a failing target does not fail the hooks" env PKGS_FILE="$TEST_TMP/pkgs-v3" DPKG_STANDIN=true "$TEST_TMP/bin/apt-get" install nginx
output_has "  but says so" "cannot take the pre snapshot of $TEST_TMP/not-a-target"
ok "  the good targets still got their pair" sh -c "'$BTRFS_TXN' history --json '$T' | jq -e '.pairs | length == 3'"
touch "$BTRFS_TXN_CONF_DIR/hooks-strict"
expect_exit 100 "with hooks-strict, the failure stops apt-get before dpkg" env PKGS_FILE="$TEST_TMP/pkgs-v3" DPKG_STANDIN="touch '$TEST_TMP/dpkg-ran'" "$TEST_TMP/bin/apt-get" install nginx
ok "  dpkg did not run" test ! -e "$TEST_TMP/dpkg-ran"
ok "  the good targets' pre snapshots stay unpaired" sh -c "'$BTRFS_TXN' history --json '$U' | jq -e '.pairs | length == 4 and .[-1].post == null'"
rm -f "$BTRFS_TXN_CONF_DIR/hooks-strict" "$BTRFS_TXN_CONF_DIR/apt-targets"
ok "no targets file: the hooks do nothing and succeed" env PKGS_FILE="$TEST_TMP/pkgs-v3" DPKG_STANDIN=true "$TEST_TMP/bin/apt-get" install nginx
ok "  no new snapshot" sh -c "'$BTRFS_TXN' history --json '$U' | jq -e '.pairs | length == 4'"
# A target list others could edit is refused, not read (StrictModes, as for specs).
printf '%s\n' "$U" >"$BTRFS_TXN_CONF_DIR/apt-targets" && chmod 0664 "$BTRFS_TXN_CONF_DIR/apt-targets"
ok "a group-writable target list does not fail the hooks" env PKGS_FILE="$TEST_TMP/pkgs-v3" DPKG_STANDIN=true "$TEST_TMP/bin/apt-get" install nginx
output_has "  but is refused, saying why" "refusing '$BTRFS_TXN_CONF_DIR/apt-targets': it or a directory above it is not root's alone"
ok "  and nothing was snapshotted" sh -c "'$BTRFS_TXN' history --json '$U' | jq -e '.pairs | length == 4'"
touch "$BTRFS_TXN_CONF_DIR/hooks-strict"
expect_exit 100 "  with hooks-strict it stops apt-get" env PKGS_FILE="$TEST_TMP/pkgs-v3" DPKG_STANDIN=true "$TEST_TMP/bin/apt-get" install nginx
rm -f "$BTRFS_TXN_CONF_DIR/hooks-strict" "$BTRFS_TXN_CONF_DIR/apt-targets"
ok "a hook removed but still configured does not fail APT" sh -c "$(printf '%s' "$PRE_INVOKE" | sed "s|$HOOKDIR|$TEST_TMP/gone|g")"
# output_empty DESC: one test point: the last ok/expect_exit command printed nothing.
output_empty() {
	cp "$TEST_TMP/out" "$TEST_TMP/out.prev"
	ok "$1" sh -c 'test ! -s "$1" || { cat "$1"; exit 1; }' sh "$TEST_TMP/out.prev"
}
output_empty "  and prints nothing (no \"not found\")"
gone_pkgs=$(printf '%s' "$PRE_INSTALL_PKGS" | sed "s|$HOOKDIR|$TEST_TMP/gone|g")
# More than a pipe holds: a command that did not read it all would fail APT's write.
ok "  Pre-Install-Pkgs too, reading all APT sends" bash -o pipefail -c 'seq 100000 | sh -c "$1"' sh "$gone_pkgs"
output_empty "  and prints nothing"
ok "  Post-Invoke too" sh -c "$(printf '%s' "$POST_INVOKE" | sed "s|$HOOKDIR|$TEST_TMP/gone|g")"
output_empty "  and prints nothing"
done_testing
