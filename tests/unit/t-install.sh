#!/usr/bin/env bash
# t-install.sh: `make install DESTDIR=...` puts every file where it belongs, with the
# installed paths filled into the contrib scripts, the unit and the hook
# configurations; `make uninstall` removes them again; btrfs-txn-recover-all runs
# every listed target and sums up. Needs no root. Prints TAP.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BTRFS_TXN:-$root/build/btrfs-txn}
if [ ! -x "$bin" ]; then
	echo "1..0 # SKIP $bin not built"
	exit 77
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
check() {
	local desc=$1
	shift
	n=$((n + 1))
	if "$@" >"$tmp/out" 2>&1; then
		echo "ok $n - $desc"
	else
		failed=$((failed + 1))
		echo "not ok $n - $desc"
		sed 's/^/# /' "$tmp/out"
	fi
}

dest=$tmp/dest
# Install the binary under test as it is (-o: never rebuild it here).
make_install() {
	make -s -C "$root" "$@" DESTDIR="$dest" PREFIX=/usr BUILD="$(dirname "$bin")" -o "$bin"
}
check "make install DESTDIR=... PREFIX=/usr" make_install install
expected="0755 usr/sbin/btrfs-txn
0644 usr/lib/libbtrfs-txn.a
0644 usr/include/btrfs-txn/txn.h
0644 usr/share/man/man8/btrfs-txn.8
0644 usr/share/man/man5/btrfs-txn-spec.5
0755 usr/lib/btrfs-txn/btrfs-txn-apt-hook
0755 usr/lib/btrfs-txn/btrfs-txn-pacman-hook
0755 usr/lib/btrfs-txn/btrfs-txn-recover-all
0644 usr/lib/systemd/system/btrfs-txn-recover.service
0644 usr/share/bash-completion/completions/btrfs-txn
0644 usr/share/btrfs-txn/apt/80btrfs-txn
0644 usr/share/btrfs-txn/pacman/btrfs-txn-pre.hook
0644 usr/share/btrfs-txn/pacman/btrfs-txn-post.hook"
while read -r mode path; do
	check "$path, mode $mode" test "$(stat -c %a "$dest/$path" 2>&1)" = "${mode#0}"
done <<<"$expected"
check "no @PLACEHOLDER@ left in what was installed" sh -c "! grep -rl '@[A-Z]*DIR@' '$dest'"
check "the unit runs the installed recover-all" grep -qx 'ExecStart=/usr/lib/btrfs-txn/btrfs-txn-recover-all /etc/btrfs-txn/recover-targets' "$dest/usr/lib/systemd/system/btrfs-txn-recover.service"
check "  oneshot, after local-fs.target" sh -c "grep -qx 'Type=oneshot' '$dest/usr/lib/systemd/system/btrfs-txn-recover.service' && grep -qx 'After=local-fs.target' '$dest/usr/lib/systemd/system/btrfs-txn-recover.service'"
if command -v systemd-analyze >/dev/null && systemd-analyze --help 2>/dev/null | grep -q -- --root; then
	check "  systemd-analyze verify accepts it" systemd-analyze verify --man=no --root="$dest" "$dest/usr/lib/systemd/system/btrfs-txn-recover.service"
fi
check "the APT configuration calls the installed hook" grep -q '^DPkg::Pre-Invoke { "/usr/lib/btrfs-txn/btrfs-txn-apt-hook pre' "$dest/usr/share/btrfs-txn/apt/80btrfs-txn"
check "the pacman hooks run the installed script" grep -qx 'Exec = /usr/lib/btrfs-txn/btrfs-txn-pacman-hook post' "$dest/usr/share/btrfs-txn/pacman/btrfs-txn-post.hook"
check "the scripts find the installed btrfs-txn" grep -q 'elif \[ -x /usr/sbin/btrfs-txn \]' "$dest/usr/lib/btrfs-txn/btrfs-txn-apt-hook"
check "every script parses" sh -c "for f in '$dest'/usr/lib/btrfs-txn/*; do sh -n \"\$f\" || exit 1; done"
check "the completion parses and completes commands" bash -c ". '$dest/usr/share/bash-completion/completions/btrfs-txn'; COMP_WORDS=(btrfs-txn sn); COMP_CWORD=1; _btrfs_txn; test \"\${COMPREPLY[*]}\" = snapshot"
check "make uninstall" make_install uninstall
check "  leaves no file behind" sh -c "test -z \"\$(find '$dest' -type f)\""

# btrfs-txn-recover-all with a stand-in btrfs-txn: every target tried, worst status.
cat >"$tmp/fake" <<'FAKE'
#!/bin/sh
echo "$*" >>"$FAKE_LOG"
case $3 in */broken) exit 5 ;; */locked) exit 3 ;; esac
exit 0
FAKE
chmod +x "$tmp/fake"
printf '# boot\n/srv/a\n\n/srv/broken\n/srv/locked\n/srv/b\n' >"$tmp/targets"
FAKE_LOG=$tmp/log BTRFS_TXN=$tmp/fake "$root/contrib/systemd/btrfs-txn-recover-all" "$tmp/targets" >"$tmp/summary" 2>&1
rc=$?
check "recover-all exits with the worst status (5)" test "$rc" = 5
check "  tried every target, with --no-wait" test "$(cat "$tmp/log")" = "recover --no-wait /srv/a
recover --no-wait /srv/broken
recover --no-wait /srv/locked
recover --no-wait /srv/b"
check "  and sums up" grep -q '4 target(s), 2 consistent, 2 failed' "$tmp/summary"
check "recover-all without a list does nothing, exit 0" "$root/contrib/systemd/btrfs-txn-recover-all" "$tmp/none"
echo "1..$n"
[ "$failed" -eq 0 ]
