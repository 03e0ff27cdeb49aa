#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t-install.sh: `make install DESTDIR=...` puts every file where it belongs, with the
# installed paths filled into the contrib scripts, the unit and the hook
# configurations; `make uninstall` removes them again; btrfs-txn-recover-all runs
# every listed target and sums up. The installed command and library hold none of the
# test build's switches; the library exports only the public API with a soname, and
# docs/example/status.c builds against the installed tree with pkg-config and runs.
# Needs no root. Prints TAP.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
# The normal build (make check exports BTRFS_TXN_BUILD), not the test build that
# BTRFS_TXN names: this is what gets installed.
build=${BTRFS_TXN_BUILD:-$root/build}
bin=$build/btrfs-txn
# The library's file: libbtrfs-txn.so.SOVERSION.MINOR.PATCH (the Makefile's LIB_VERSION).
lib_file=$(cd "$build" 2>/dev/null && ls -d libbtrfs-txn.so.[0-9]*.[0-9]*.[0-9]* 2>/dev/null | head -n1)
lib_file=${lib_file:-libbtrfs-txn.so.0.MINOR.PATCH}
for f in "$bin" "$build/libbtrfs-txn.a" "$build/$lib_file"; do
	if [ ! -e "$f" ]; then
		echo "1..0 # SKIP $f not built"
		exit 77
	fi
done
build=$(cd "$build" && pwd)
bin=$build/btrfs-txn
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
	make -s -C "$root" "$@" DESTDIR="$dest" PREFIX=/usr BUILD="$build" -o "$bin" \
		-o "$build/libbtrfs-txn.a" -o "$build/$lib_file"
}
check "make install DESTDIR=... PREFIX=/usr" make_install install
expected="0755 usr/sbin/btrfs-txn
0644 usr/lib/libbtrfs-txn.a
0755 usr/lib/$lib_file
0644 usr/lib/pkgconfig/btrfs-txn.pc
0644 usr/include/btrfs-txn/txn.h
0644 usr/include/btrfs-txn/batch.h
0644 usr/share/man/man8/btrfs-txn.8
0644 usr/share/man/man5/btrfs-txn-spec.5
0644 usr/share/man/man5/btrfs-txn.conf.5
0755 usr/lib/btrfs-txn/btrfs-txn-apt-hook
0755 usr/lib/btrfs-txn/btrfs-txn-pacman-hook
0755 usr/lib/btrfs-txn/btrfs-txn-recover-all
0755 usr/lib/btrfs-txn/btrfs-txn-gc-all
0644 usr/lib/systemd/system/btrfs-txn-recover.service
0644 usr/lib/systemd/system/btrfs-txn-recover@.service
0644 usr/lib/systemd/system/btrfs-txn-gc.service
0644 usr/lib/systemd/system/btrfs-txn-gc.timer
0644 usr/share/bash-completion/completions/btrfs-txn
0644 usr/share/btrfs-txn/apt/80btrfs-txn
0644 usr/share/btrfs-txn/pacman/btrfs-txn-pre.hook
0644 usr/share/btrfs-txn/pacman/btrfs-txn-post.hook"
while read -r mode path; do
	check "$path, mode $mode" test "$(stat -c %a "$dest/$path" 2>&1)" = "${mode#0}"
done <<<"$expected"
check "the library's file is versioned: $lib_file" test "$lib_file" = libbtrfs-txn.so.0.1.0
check "libbtrfs-txn.so.0 (the soname) links to $lib_file" test "$(readlink "$dest/usr/lib/libbtrfs-txn.so.0")" = "$lib_file"
check "libbtrfs-txn.so (for -l) links to libbtrfs-txn.so.0" test "$(readlink "$dest/usr/lib/libbtrfs-txn.so")" = libbtrfs-txn.so.0
check "the .pc names the static link's needs through Requires.private" \
	grep -qx 'Requires.private: jansson libbtrfsutil nettle' "$dest/usr/lib/pkgconfig/btrfs-txn.pc"
check "only the public headers are installed" test "$(ls "$dest/usr/include/btrfs-txn" | tr '\n' ' ')" = "batch.h txn.h "
check "btrfs-txn-crashtest finds its installed helpers" sh -c "test -x '$dest/usr/bin/btrfs-txn-crashtest' && grep -qx 'libexec=/usr/lib/btrfs-txn-crashtest' '$dest/usr/bin/btrfs-txn-crashtest' && test -x '$dest/usr/lib/btrfs-txn-crashtest/vmtest' && test -f '$dest/usr/share/man/man1/btrfs-txn-crashtest.1'"
# The test build's switches run commands and skip flushes: never in what is installed.
check "the installed command, .so and .a hold no test switch" \
	sh -c "! strings '$dest/usr/sbin/btrfs-txn' '$dest/usr/lib/$lib_file' '$dest/usr/lib/libbtrfs-txn.a' | grep -E 'BTRFS_TXN_(FAULT|STEP_HOOK|UNSAFE_SKIP_FLUSH|CP)'"
check "  while the test build does (so the check above can fail)" \
	sh -c "test ! -x '$build/test/btrfs-txn' || strings '$build/test/btrfs-txn' | grep -q BTRFS_TXN_FAULT"
check "the library's soname is libbtrfs-txn.so.0" \
	sh -c "readelf -d '$dest/usr/lib/$lib_file' | grep -q 'SONAME.*\[libbtrfs-txn.so.0\]'"
nm -D --defined-only "$dest/usr/lib/$lib_file" 2>/dev/null | awk '{print $NF}' >"$tmp/exports"
check "  it exports txn_apply and txn_state_read" sh -c "grep -qx txn_apply '$tmp/exports' && grep -qx txn_state_read '$tmp/exports'"
check "  and only txn_* names" sh -c "! grep -v '^txn_' '$tmp/exports'"
check "  but not the engine's internals (txn_fail, txn_step)" sh -c "! grep -Ex 'txn_fail|txn_step' '$tmp/exports'"
# The example program, built against the staged install with pkg-config.
# The staged .pc first; the system's for what it requires.
pc() {
	PKG_CONFIG_LIBDIR="$dest/usr/lib/pkgconfig:$(pkg-config --variable pc_path pkg-config)" PKG_CONFIG_PATH= PKG_CONFIG_SYSROOT_DIR="$dest" \
		PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 pkg-config "$@"
}
check "pkg-config knows btrfs-txn $(sed -n 's/^VERSION *:= *//p' "$root/Makefile")" \
	test "$(pc --modversion btrfs-txn)" = "$(sed -n 's/^VERSION *:= *//p' "$root/Makefile")"
check "docs/example/status.c builds with pkg-config --cflags --libs btrfs-txn" \
	sh -c "\${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -o '$tmp/status' '$root/docs/example/status.c' $(pc --cflags --libs btrfs-txn)"
check "  and links the shared library" sh -c "readelf -d '$tmp/status' | grep -q 'NEEDED.*\[libbtrfs-txn.so.0\]'"
static_link() {
	local libs
	libs=$(pc --static --libs btrfs-txn) || return 1
	echo "pkg-config --static --libs: $libs"
	for lib in jansson btrfsutil nettle; do
		case " $libs " in *" -l$lib "*) ;; *) return 1 ;; esac
	done
	${CC:-cc} -std=gnu11 -o "$tmp/status-static" "$root/docs/example/status.c" $(pc --cflags btrfs-txn) \
		"$dest/usr/lib/libbtrfs-txn.a" ${libs//-lbtrfs-txn/} || return 1
	! readelf -d "$tmp/status-static" | grep -q 'libbtrfs-txn'
}
check "  and statically against the archive, with pkg-config --static (Requires.private)" static_link
LD_LIBRARY_PATH="$dest/usr/lib" "$tmp/status" "$tmp" >"$tmp/status.out" 2>&1
rc=$?
check "  runs: a target not on Btrfs is the library's error, exit 1" \
	sh -c "test $rc = 1 && grep -q \"'$tmp' is not on a Btrfs filesystem\" '$tmp/status.out'"
check "no @PLACEHOLDER@ left in what was installed" sh -c "! grep -rl '@[A-Z]*DIR@' '$dest'"
check "the unit runs the installed recover-all" grep -qx 'ExecStart=/usr/lib/btrfs-txn/btrfs-txn-recover-all' "$dest/usr/lib/systemd/system/btrfs-txn-recover.service"
check "  oneshot, after local-fs.target" sh -c "grep -qx 'Type=oneshot' '$dest/usr/lib/systemd/system/btrfs-txn-recover.service' && grep -qx 'After=local-fs.target' '$dest/usr/lib/systemd/system/btrfs-txn-recover.service'"
if command -v systemd-analyze >/dev/null && systemd-analyze --help 2>/dev/null | grep -q -- --root; then
	check "  systemd-analyze verify accepts it" systemd-analyze verify --man=no --root="$dest" "$dest/usr/lib/systemd/system/btrfs-txn-recover.service"
fi
unit=$dest/usr/lib/systemd/system/btrfs-txn-recover@.service
check "the template unit recovers its instance's path, after the mounts on the way" \
	sh -c "grep -qx 'ExecStart=/usr/sbin/btrfs-txn recover --no-wait %f' '$unit' && grep -qx 'RequiresMountsFor=%f' '$unit'"
if command -v systemd-analyze >/dev/null && systemd-analyze --help 2>/dev/null | grep -q -- --root; then
	check "  systemd-analyze verify accepts an instance" \
		systemd-analyze verify --man=no --root="$dest" btrfs-txn-recover@srv-www-conf.service
fi
check "the APT configuration calls the installed hook" grep -qF 'DPkg::Pre-Invoke { "[ ! -x /usr/lib/btrfs-txn/btrfs-txn-apt-hook ] || /usr/lib/btrfs-txn/btrfs-txn-apt-hook pre' "$dest/usr/share/btrfs-txn/apt/80btrfs-txn"
check "the pacman hooks run the installed script" grep -qx 'Exec = /usr/lib/btrfs-txn/btrfs-txn-pacman-hook post' "$dest/usr/share/btrfs-txn/pacman/btrfs-txn-post.hook"
check "the scripts find the installed btrfs-txn" grep -q 'elif \[ -x /usr/sbin/btrfs-txn \]' "$dest/usr/lib/btrfs-txn/btrfs-txn-apt-hook"
check "every script parses" sh -c "for f in '$dest'/usr/lib/btrfs-txn/*; do sh -n \"\$f\" || exit 1; done"
check "the completion parses and completes commands" bash -c ". '$dest/usr/share/bash-completion/completions/btrfs-txn'; COMP_WORDS=(btrfs-txn sn); COMP_CWORD=1; _btrfs_txn; test \"\${COMPREPLY[*]}\" = snapshot"
check "LIBDIR=... puts the library and the .pc there (multiarch)" \
	make_install install LIBDIR=/usr/lib/multiarch-test
check "  with libdir in the .pc" grep -qx 'libdir=/usr/lib/multiarch-test' "$dest/usr/lib/multiarch-test/pkgconfig/btrfs-txn.pc"
check "  and uninstall removes it there" sh -c "make -s -C '$root' uninstall DESTDIR='$dest' PREFIX=/usr LIBDIR=/usr/lib/multiarch-test BUILD='$build' -o '$bin' -o '$build/libbtrfs-txn.a' -o '$build/$lib_file' && test -z \"\$(find '$dest/usr/lib/multiarch-test' -type f -o -type l)\""
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
