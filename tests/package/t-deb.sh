#!/usr/bin/env bash
# t-deb.sh: the Debian packages, end to end, as an administrator meets them.
#
#   1. Build: a copy of this tree (what a clean clone holds, plus uncommitted work)
#      under build/deb/, dpkg-source -b and dpkg-buildpackage -us -uc -b; lintian
#      reports no error and no warning (debian/*.lintian-overrides say why for any).
#   2. Install with apt-get install ./*.deb: btrfs-txn --version, man pages, nothing
#      enabled (no APT hook configuration, no systemd unit link); a tiny apply on a
#      loop-backed Btrfs; docs/example/status.c built with pkg-config against
#      libbtrfs-txn-dev runs on that target.
#   3. The APT hook enabled as the docs say (80btrfs-txn copied to apt.conf.d): a real
#      apt-get run takes a pre/post pair described by the package actions.
#   4. Purge with the hook still configured: APT prints no "not found", works for a
#      later install and purge, and nothing the packages installed is left (files,
#      directories, /etc/btrfs-txn, dpkg's and deb-systemd-helper's records).
# Needs root, apt and Btrfs (exit 77 without); refuses to run where btrfs-txn is
# installed already. Prints TAP; times each stage in a comment.
BTRFS_TXN=/usr/sbin/btrfs-txn
. "$(dirname "$0")/../integration/lib.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root (apt-get install, loop devices)"
for tool in dpkg-buildpackage dpkg-source lintian apt-get losetup mkfs.btrfs jq; do
	command -v "$tool" >/dev/null || skip_all "needs $tool (scripts/deps.sh package)"
done
grep -qw btrfs /proc/filesystems || skip_all "this kernel has no Btrfs"
PACKAGES="btrfs-txn libbtrfs-txn0 libbtrfs-txn-dev"
for pkg in $PACKAGES; do
	case $(dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null) in
	"" | not-installed) ;;
	*) skip_all "$pkg is installed here; this test would purge it" ;;
	esac
done
APT_CONF=/etc/apt/apt.conf.d/80btrfs-txn
[ ! -e "$APT_CONF" ] || skip_all "$APT_CONF exists: an administrator's; not touching it"
[ ! -e /etc/btrfs-txn ] || skip_all "/etc/btrfs-txn exists: an administrator's; not touching it"

# The outer make's job server and variables are not for the package build.
unset MAKEFLAGS MFLAGS MAKELEVEL BTRFS_TXN_BUILD
export DEBIAN_FRONTEND=noninteractive
APT_GET=(apt-get -y -q --no-install-recommends -o DPkg::Lock::Timeout=300)
stage_start=$SECONDS
stage_done() {
	echo "# $1: $((SECONDS - stage_start)) s"
	stage_start=$SECONDS
}

# --- 1. build ---------------------------------------------------------------------
work=$TOP/build/deb
version=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
src=$work/btrfs-txn-$version
rm -rf "$work" && mkdir -p "$src"
copy_tree() {
	if git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$TOP" && git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
			tar --null -T - -cf -) | tar -C "$src" -xf -
	else
		(cd "$TOP" && tar --exclude=./build --exclude=./.git -cf - .) | tar -C "$src" -xf -
	fi
}
ok "a copy of the tree under build/deb/" copy_tree
ok "  without build output" test ! -e "$src/build"
ok "dpkg-source -b makes the source package" sh -c "cd '$work' && dpkg-source -b '${src##*/}'"
# noautodbgsym: the -dbgsym packages are not what this test installs.
ok "dpkg-buildpackage -us -uc -b builds the packages" sh -c \
	"cd '$src' && DEB_BUILD_OPTIONS='parallel=2 noautodbgsym' dpkg-buildpackage -us -uc -b"
cp "$TEST_TMP/out" "$TEST_TMP/out.build"
ok "  exactly btrfs-txn, libbtrfs-txn0 and libbtrfs-txn-dev" test "$(cd "$work" && ls ./*.deb | sed 's|^\./||; s|_.*||' | sort | tr '\n' ' ')" = "btrfs-txn libbtrfs-txn-dev libbtrfs-txn0 "
ok "  the build ran the unit tests" grep -qx 'build/tests/test_resolve' "$TEST_TMP/out.build"
stage_done "build"
# Lintian on the source and the binary packages: no error, no warning; overrides in
# debian/ give the reason for each. (Pedantic and info tags are left to judgement.)
ok "lintian: no error, no warning" sh -c "cd '$work' && lintian --fail-on error,warning --no-tag-display-limit *.dsc *.changes"
stage_done "lint"

# --- 2. install -------------------------------------------------------------------
(cd "$work" && for deb in ./*.deb; do dpkg-deb -c "$deb"; done) | awk '{ print $6 }' |
	sed 's|^\./|/|; s|/$||' | grep -v '^$' | sort -u >"$TEST_TMP/shipped"
# What exists before: after the purge, only that may be left.
while IFS= read -r path; do
	[ -e "$path" ] || [ -L "$path" ] && echo "$path"
done <"$TEST_TMP/shipped" >"$TEST_TMP/existed"
at_cleanup "${APT_GET[*]} purge $PACKAGES"
ok "apt-get install ./*.deb" sh -c "cd '$work' && ${APT_GET[*]} install ./*.deb"
ok "  all three are installed" sh -c "for p in $PACKAGES; do dpkg-query -W -f '\${db:Status-Status}\n' \$p | grep -qx installed || exit 1; done"
ok "btrfs-txn --version names the version" sh -c "btrfs-txn --version | grep -qF '$version'"
ok "  and it is the packaged command" test "$(command -v btrfs-txn)" = /usr/sbin/btrfs-txn
ok "  built with dpkg-buildflags' hardening (PIE, BIND_NOW, fortify)" \
	sh -c "readelf -d /usr/sbin/btrfs-txn | grep -q 'FLAGS_1.*NOW.*PIE' && nm -D /usr/sbin/btrfs-txn | grep -q '_chk@'"
ok "man btrfs-txn and btrfs-txn-spec are found" sh -c "man -w 8 btrfs-txn && man -w 5 btrfs-txn-spec"
ok "the APT hook is installed, not enabled" sh -c "test -x /usr/lib/btrfs-txn/btrfs-txn-apt-hook && test -f /usr/share/btrfs-txn/apt/80btrfs-txn && ! grep -rl btrfs-txn /etc/apt/apt.conf.d"
ok "the units are installed, not enabled" sh -c "test -f /lib/systemd/system/btrfs-txn-recover.service && test -f '/lib/systemd/system/btrfs-txn-recover@.service' && test -z \"\$(find /etc/systemd/system -name 'btrfs-txn*')\""
ok "  and the template runs the packaged command" grep -qx 'ExecStart=/usr/sbin/btrfs-txn recover --no-wait %f' '/lib/systemd/system/btrfs-txn-recover@.service'
ok "no pacman hook in a Debian package" test -z "$(dpkg -L btrfs-txn | grep pacman)"
dpkg -L $PACKAGES >"$TEST_TMP/listed" 2>&1
ok "dpkg -L lists what the .debs hold" sh -c "sort -u '$TEST_TMP/listed' | grep -v '^/\.\$' | comm -13 - '$TEST_TMP/shipped' | grep -v '^/\.\$' | grep . && exit 1 || exit 0"
stage_done "install"

btrfs_fixture 1G
T=$MNT/conf
mkdir -p "$T" && printf 'worker_processes 1;\n' >"$T/nginx.conf"
ok "btrfs-txn init on a loop-backed Btrfs" btrfs-txn init "$T"
cat >"$TEST_TMP/spec.json" <<SPEC
{"version": 1, "target": "$T", "description": "packaged apply",
 "ops": [{"op": "write", "path": "nginx.conf", "content": "worker_processes 4;\\n", "mode": "0644"}]}
SPEC
ok "btrfs-txn apply: a tiny spec" btrfs-txn apply "$TEST_TMP/spec.json"
ok "  the change is live" test "$(cat "$T/nginx.conf")" = "worker_processes 4;"
ok "  and in the history" sh -c "btrfs-txn history --json '$T' | jq -e '[.transactions[].description] | index(\"packaged apply\") != null'"
example=/usr/share/doc/libbtrfs-txn-dev/examples/status.c
ok "libbtrfs-txn-dev: the example builds with pkg-config" sh -c "cc -o '$TEST_TMP/status' '$example' \$(pkg-config --cflags --libs btrfs-txn)"
ok "  against the packaged shared library" sh -c "readelf -d '$TEST_TMP/status' | grep -q 'NEEDED.*libbtrfs-txn.so.0' && ldd '$TEST_TMP/status' | grep -q 'libbtrfs-txn.so.0 => /'"
ok "  and reads the target's generation" sh -c "'$TEST_TMP/status' '$T' | grep -qx '$T: generation 1, 1 kept'"
stage_done "apply"

# --- 3. the APT hook, enabled as README.Debian says ----------------------------------
# The target list lives in a directory of the test's own (BTRFS_TXN_CONF_DIR), so that
# /etc/btrfs-txn stays untouched; the configuration goes where an admin puts it.
conf=$TEST_TMP/conf
mkdir -p "$conf" && printf '%s\n' "$T" >"$conf/apt-targets"
at_cleanup "rm -f '$APT_CONF'"
ok "the admin enables the APT hook" cp /usr/share/btrfs-txn/apt/80btrfs-txn "$APT_CONF"
apt_get() {
	(cd "$work" && env -u BTRFS_TXN BTRFS_TXN_CONF_DIR="$conf" BTRFS_TXN_RUN_DIR="$TEST_TMP/run" \
		"${APT_GET[@]}" "$@")
}
ok "apt-get install --reinstall runs the hook" apt_get install --reinstall "$work"/libbtrfs-txn0_*.deb
btrfs-txn history --json "$T" >"$TEST_TMP/history.json" 2>&1
ok "  a pre/post pair of the target" jq -e '.pairs | length == 1 and .[0].post != null' "$TEST_TMP/history.json"
ok "  the pre described by the apt-get command line" jq -e '[.transactions[] | select(.tag == "pre")][0].description | startswith("apt-get")' "$TEST_TMP/history.json"
ok "  the post by the package actions (Pre-Install-Pkgs, version 3)" jq -e --arg v "$version" '[.transactions[] | select(.tag == "post")][0].description == "libbtrfs-txn0 \($v) reinstalled"' "$TEST_TMP/history.json"
stage_done "hook"

# --- 4. purge -------------------------------------------------------------------
# dpkg removes the hook between Pre-Invoke and Post-Invoke: this very run is the one
# that printed "btrfs-txn-apt-hook: not found" before the [ -x ] check.
ok "apt-get purge, the hook still configured" apt_get purge $PACKAGES
no_noise() {
	cp "$TEST_TMP/out" "$TEST_TMP/out.prev"
	ok "$1" sh -c '! grep -E "not found|btrfs-txn-apt-hook" "$1"' sh "$TEST_TMP/out.prev"
}
no_noise "  no \"not found\", nothing from the hook"
ok "apt-get install with the hook gone" apt_get install "$work"/libbtrfs-txn0_*.deb
no_noise "  no noise"
ok "apt-get purge with the hook gone" apt_get purge libbtrfs-txn0
no_noise "  no noise"
ok "the packages are gone" sh -c "for p in $PACKAGES; do case \$(dpkg-query -W -f '\${db:Status-Status}' \$p 2>/dev/null) in ''|not-installed) ;; *) exit 1;; esac; done"
# nothing_left: every path the .debs held that did not exist before is gone.
nothing_left() {
	local path left=0
	while IFS= read -r path; do
		[ -e "$path" ] || [ -L "$path" ] || continue
		grep -qxF -- "$path" "$TEST_TMP/existed" && continue
		echo "left: $path"
		left=1
	done <"$TEST_TMP/shipped"
	return "$left"
}
ok "nothing they installed is left" nothing_left
ok "  no /etc/btrfs-txn, /usr/share/doc/btrfs-txn, /usr/lib/btrfs-txn" \
	sh -c "test ! -e /etc/btrfs-txn -a ! -e /usr/share/doc/btrfs-txn -a ! -e /usr/lib/btrfs-txn -a ! -e /usr/share/btrfs-txn"
ok "  no record in dpkg's database or deb-systemd-helper's" \
	sh -c "test -z \"\$(ls /var/lib/dpkg/info | grep -E '^(btrfs-txn|libbtrfs-txn)'; find /var/lib/systemd -name '*btrfs-txn*' 2>/dev/null)\""
stage_done "purge"
done_testing
