#!/usr/bin/env bash
# t0504: send -f FILE in a directory others can write. The stream holds every file
# of the tree (secrets too): FILE must end up root's alone, mode 0600, a new file
# that no other account prepared or still holds open. An existing regular FILE is
# replaced (another account's file, a hard link it kept, its mode: none of them
# gets the stream); a FIFO, a symbolic link or a directory there is refused (exit
# 2) without waiting for a reader; a send that fails leaves FILE as it was.
. "$(dirname "$0")/lib.sh"
require_btrfs
command -v runuser >/dev/null || skip_all "needs runuser (util-linux)"
id nobody >/dev/null 2>&1 || skip_all "needs the account nobody"
btrfs_fixture 1G
X=$BTRFS_TXN
S=$(new_target s)
printf 'password=hunter2\n' >"$S/secret" && chmod 600 "$S/secret"
# a shared directory, as /tmp is: world-writable and sticky
chmod 0711 "$TEST_TMP"
SHARE=$TEST_TMP/share
mkdir -m 1777 "$SHARE"
as_nobody() { runuser -u nobody -- "$@"; }
is_stream() { [ "$(head -c 12 "$1")" = btrfs-stream ]; }
roots_alone() { [ "$(stat -c '%u %a %h' "$1")" = "0 600 1" ]; }

ok "send -f a new file" "$X" send "$S" --no-parent -f "$SHARE/new.stream"
ok "  a stream" is_stream "$SHARE/new.stream"
ok "  root's, mode 0600, one link" roots_alone "$SHARE/new.stream"
ok "  nothing else left in the directory" test "$(ls -A "$SHARE")" = new.stream
ok "  also with umask 000" sh -c "umask 000 && '$X' send '$S' --no-parent -f '$SHARE/umask.stream' &&
	[ \"\$(stat -c %a '$SHARE/umask.stream')\" = 600 ]"

# another account prepared FILE, world-writable, and keeps a hard link to it
as_nobody sh -c ": >'$SHARE/conf.stream' && chmod 666 '$SHARE/conf.stream' && ln '$SHARE/conf.stream' '$SHARE/kept'"
ok "send -f a file another account made" "$X" send "$S" --no-parent -f "$SHARE/conf.stream"
ok "  FILE is now a new file: root's, mode 0600, one link" roots_alone "$SHARE/conf.stream"
ok "  holding the stream" is_stream "$SHARE/conf.stream"
ok "  the account's file got nothing" test ! -s "$SHARE/kept"
ok "  and it cannot read the stream" sh -c "! runuser -u nobody -- cat '$SHARE/conf.stream' >/dev/null 2>&1"

# root's own file, readable by all: replaced by a new 0600 one too
printf old >"$SHARE/mine.stream" && chmod 644 "$SHARE/mine.stream"
ok "send -f an existing file of root's, mode 0644" "$X" send "$S" --no-parent -f "$SHARE/mine.stream"
ok "  now root's alone, mode 0600" roots_alone "$SHARE/mine.stream"
ok "  with the stream" is_stream "$SHARE/mine.stream"

as_nobody mkfifo "$SHARE/fifo.stream"
expect_exit 2 "send -f a FIFO is refused, without waiting for a reader" \
	timeout 20 "$X" send "$S" --no-parent -f "$SHARE/fifo.stream"
output_has "  naming it and why" "send: cannot write '$SHARE/fifo.stream': it exists and is not a regular file"
ok "  the FIFO is left alone" test -p "$SHARE/fifo.stream"
as_nobody ln -s /etc/motd-btrfs-txn-t0504 "$SHARE/link.stream"
expect_exit 2 "send -f a symbolic link is refused" "$X" send "$S" --no-parent -f "$SHARE/link.stream"
ok "  nothing made where it points" test ! -e /etc/motd-btrfs-txn-t0504
expect_exit 2 "send -f a directory is refused" "$X" send "$S" --no-parent -f "$SHARE"
expect_exit 2 "send -f in a directory that does not exist is refused" \
	"$X" send "$S" --no-parent -f "$SHARE/no/such.stream"

# a send that fails leaves FILE as it was and nothing beside it
before=$(ls -A "$SHARE" | sort)
sum=$(sha256sum <"$SHARE/mine.stream")
expect_exit 2 "a send that fails (no such generation)" "$X" send "$S" --generation 99 -f "$SHARE/mine.stream"
ok "  leaves FILE as it was" test "$(sha256sum <"$SHARE/mine.stream")" = "$sum"
ok "  and no file of its own behind" test "$(ls -A "$SHARE" | sort)" = "$before"
done_testing
