#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0001: the loop-device fixture gives a real, writable Btrfs and leaves nothing behind,
# also when the test using it fails or is killed.
. "$(dirname "$0")/lib.sh"
require_btrfs

btrfs_fixture 256M

ok "the fixture is mounted as btrfs" test "$(stat -f -c %T "$MNT")" = btrfs
ok "a subvolume can be made on it" btrfs subvolume create "$MNT/sub"
ok "the subvolume is one" btrfs subvolume show "$MNT/sub"
ok "files written there read back" sh -c "echo hello > '$MNT/sub/f' && test \"\$(cat '$MNT/sub/f')\" = hello"
line=$(manifest "$MNT/sub")
ok "manifest line is complete" test "$line" = "f regular file 644 0:0 size=6 $(printf 'hello\n' | sha256sum | cut -c1-64)"

# A child test that fails after attaching, and one killed by SIGTERM: both must clean up.
for how in fail term; do
	child="$TEST_TMP/child-$how.sh"
	cat >"$child" <<CHILD
. "$TOP/tests/integration/lib.sh"
btrfs_fixture 128M
echo "\$LOOP_DEV \$MNT \$TEST_TMP" > "$TEST_TMP/child-$how.state"
if [ $how = term ]; then kill -TERM \$\$; sleep 5; fi
exit 1
CHILD
	bash "$child" >/dev/null 2>&1
	read -r dev mnt tmp <"$TEST_TMP/child-$how.state"
	# A detach while the device is still busy (the unmount's last references go
	# asynchronously) is deferred by the kernel (autoclear): give it 5 seconds.
	ok "child ($how): loop device detached" sh -c "for i in \$(seq 50); do
		losetup '$dev' 2>/dev/null | grep -qF '$tmp' || exit 0; sleep 0.1; done; exit 1"
	ok "child ($how): not mounted" sh -c "! grep -q ' $mnt ' /proc/mounts"
	ok "child ($how): temporary directory removed" test ! -e "$tmp"
done

done_testing
