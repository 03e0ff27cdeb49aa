#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t0212: hostile trees and sources cost bounded work, and names from the tree are
# shown escaped. diff of 4 TiB sparse files is quick (same extents: unchanged; other
# extents: the first --max-compare bytes, reported as unverified); a 20,000-level
# directory chain neither crashes diff nor needs more than a few fds; a fifo is never
# opened. copy refuses a source over max_size (100 GiB sparse) before writing, checks
# free space, keeps the holes of a sparse source from another filesystem, and reads a
# /proc file whose size says 0 to its end. A name with ESC, with a bidi override and
# with invalid UTF-8 appear escaped in diff's text, in diff --json (flagged, never
# dropped) and in error messages. docs/SECURITY.md, "Hostile trees".
. "$(dirname "$0")/lib.sh"
require_btrfs
btrfs_fixture 1G
command -v python3 >/dev/null || skip_all "needs python3"

B=$BTRFS_TXN
export TEST_TMP BTRFS_TXN && export -f apply_ops
# bounded CMD...: killed after 60 s, so a blocked open or an endless read fails.
bounded() { timeout -s KILL 60 bash -c '"$@"' bounded "$@"; }

# --- diff: 4 TiB sparse files of equal size
T=$(new_target t)
truncate -s 4T "$T/big-same" "$T/big-late" "$T/big-early"
mkfifo "$T/fifo" && printf x >"$T/was-file"
ok "snapshot --tag pre" "$B" snapshot "$T" --tag pre
printf x | dd of="$T/big-late" bs=1 seek=$((4 * 2 ** 40 - 1)) conv=notrunc status=none
printf x | dd of="$T/big-early" bs=1 seek=1000 conv=notrunc status=none
chmod 600 "$T/fifo" && rm "$T/was-file" && mkfifo "$T/was-file"
start=$SECONDS
ok "diff of 4 TiB sparse files, --max-compare 1M" bounded "$B" diff --max-compare 1M "$T" 0
cp "$TEST_TMP/out" "$TEST_TMP/diff.txt"
ok "  quick: under 20 s" test $((SECONDS - start)) -lt 20
ok "  exactly the expected lines (same extents: big-same not listed)" diff -u - "$TEST_TMP/diff.txt" <<'LINES'
M f big-early  content
M f big-late  content unverified (compared first 1048576 bytes only)
M p fifo  mode 0644 -> 0600
M p was-file  type file -> fifo
LINES
ok "diff --json: big-late unverified, compared_bytes" sh -c "'$B' diff --json --max-compare 1M '$T' 0 |
	jq -e '[.changes[] | select(.path == \"big-late\")][0] | .what == [\"unverified\"] and .compared_bytes == 1048576'"
start=$SECONDS
ok "default bound (64 MiB) is quick too" bounded "$B" diff "$T" 0
output_has "  says so" "^M f big-late  content unverified \(compared first 67108864 bytes only\)$"
ok "  under 20 s" test $((SECONDS - start)) -lt 20
expect_exit 2 "--max-compare nonsense" "$B" diff --max-compare 12Q "$T" 0
output_has "  says what it expected" "--max-compare: expected a byte count"

# --- diff: a 20,000-level chain, with an entry left at level 5 after the deep walk
D=$(new_target deep)
python3 - "$D" <<'PY'
import os, sys
os.chdir(sys.argv[1])
for level in range(20000):
    os.mkdir("d")
    os.chdir("d")
    if level == 4:
        open("../zz", "w").write("1")
open("bottom", "w").write("1")
PY
ok "snapshot of the chain" "$B" snapshot "$D" --tag pre
python3 - "$D" <<'PY'
import os, sys
os.chdir(sys.argv[1])
for level in range(20000):
    os.chdir("d")
    if level == 4:
        open("../zz", "w").write("2")
open("bottom", "w").write("2")
PY
deep_bottom="$(printf 'd/%.0s' $(seq 20000))bottom"
ok "diff of a 20,000-level chain with a high fd limit" bounded bash -c "ulimit -n \$(ulimit -Hn); exec '$B' diff '$D' 0"
cp "$TEST_TMP/out" "$TEST_TMP/deep.txt"
ok "  both changes, the deep one and the one after the way back up" diff -u - "$TEST_TMP/deep.txt" <<LINES
M f $deep_bottom  content
M f d/d/d/d/zz  content
LINES
ok "  the same with 100 fds (bounded fd use)" bounded bash -c "ulimit -n 100; exec '$B' diff '$D' 0 | cmp - '$TEST_TMP/deep.txt'"

# --- copy: a 100 GiB sparse source is refused by the bound, before anything is written
truncate -s 100G "$TEST_TMP/huge"
C=$(new_target c)
used_before=$(df --output=used -B1 "$MNT" | tail -n1)
start=$SECONDS
expect_abort 1 "copy of a 100 GiB sparse source" "$C" bounded apply_ops "$C" \
	"[{\"op\": \"copy\", \"path\": \"huge\", \"source\": \"$TEST_TMP/huge\"}]"
output_has "  names the op, the source and both sizes" "copy 'huge': source '.*/huge' is 107374182400 bytes, more than max_size 1073741824"
ok "  refused in seconds" test $((SECONDS - start)) -lt 10
used_after=$(df --output=used -B1 "$MNT" | tail -n1)
ok "  the disk did not fill (used grew by less than 64 MiB)" test $((used_after - used_before)) -lt $((64 << 20))
expect_exit 2 "max_size 0 is invalid" apply_ops "$C" \
	"[{\"op\": \"copy\", \"path\": \"huge\", \"source\": \"$TEST_TMP/huge\", \"max_size\": 0}]"
output_has "  with a pointer to it" "/ops/0/max_size: expected a positive number of bytes"

# --- copy: free space is checked first (a dense 300 MiB source, less free than that)
head -c $((300 << 20)) /dev/urandom >"$TEST_TMP/dense"
btrfs subvolume create "$MNT/filler" >/dev/null && fallocate -l 700M "$MNT/filler/f" && sync
expect_abort 1 "copy larger than the free space" "$C" bounded apply_ops "$C" \
	"[{\"op\": \"copy\", \"path\": \"dense\", \"source\": \"$TEST_TMP/dense\"}]"
output_has "  says how much it needs and how much is free" "copy 'dense': source '.*/dense' needs 314572800 bytes, the target filesystem has [0-9]+ free"
btrfs subvolume delete "$MNT/filler" >/dev/null && rm -f "$TEST_TMP/dense" && btrfs filesystem sync "$MNT"

# --- copy: a sparse 512 MiB source from another filesystem stays sparse
truncate -s 512M "$TEST_TMP/sparse"
printf head | dd of="$TEST_TMP/sparse" conv=notrunc status=none
printf middle | dd of="$TEST_TMP/sparse" bs=1M seek=256 conv=notrunc status=none
ok "the source is on another filesystem" test "$(stat -c %d "$TEST_TMP/sparse")" != "$(stat -c %d "$C")"
ok "copy of a sparse 512 MiB source" bounded apply_ops "$C" \
	"[{\"op\": \"copy\", \"path\": \"sparse\", \"source\": \"$TEST_TMP/sparse\"}]"
ok "  same bytes" cmp "$TEST_TMP/sparse" "$C/sparse"
ok "  still sparse: du under 4 MiB" test "$(du -k "$C/sparse" | cut -f1)" -lt 4096
# (in a target of its own: the manifest of expect_abort would hash all 100 GiB)
H=$(new_target h)
ok "a sparse source over max_size with a larger max_size: holes only" bounded apply_ops "$H" \
	"[{\"op\": \"copy\", \"path\": \"huge\", \"source\": \"$TEST_TMP/huge\", \"max_size\": 200000000000}]"
ok "  100 GiB apparent, under 4 MiB allocated" test "$(stat -c %s "$H/huge")" = 107374182400 -a "$(du -k "$H/huge" | cut -f1)" -lt 4096

# --- copy: a /proc file whose size says 0 is read to its end, within max_size
ok "/proc/cpuinfo says size 0" test "$(stat -c %s /proc/cpuinfo)" = 0
ok "copy of /proc/cpuinfo" bounded apply_ops "$C" '[{"op": "copy", "path": "cpuinfo", "source": "/proc/cpuinfo"}]'
ok "  has its content" grep -q '^processor' "$C/cpuinfo"
expect_abort 1 "copy of /proc/cpuinfo with max_size 10" "$C" bounded apply_ops "$C" \
	'[{"op": "copy", "path": "cpuinfo", "source": "/proc/cpuinfo", "max_size": 10}]'
output_has "  says it holds more than max_size" "copy 'cpuinfo': source '/proc/cpuinfo' holds more than max_size 10 bytes \(its size said 0\)"

# --- names from the tree are escaped: diff text, diff --json, errors
E=$(new_target e)
ok "snapshot --tag pre of e" "$B" snapshot "$E" --tag pre
touch "$E/"$'esc\e[31mred' "$E/"$'bad\xff\xfename' "$E/"$'bidi\u202etxt.exe' "$E/"$'c1\u009bx' "$E/back\\slash"
ln -s $'\e]0;title\a' "$E/link"
ok "diff lists the names escaped" "$B" diff "$E" 0
cp "$TEST_TMP/out" "$TEST_TMP/esc.txt"
ok "  exactly, in sorted order" diff -u - "$TEST_TMP/esc.txt" <<'LINES'
A f back\\slash
A f bad\xff\xfename
A f bidi\u202etxt.exe
A f c1\u009bx
A f esc\x1b[31mred
A l link
LINES
ok "  no ESC, C1 or bidi byte reaches the output" sh -c "! LC_ALL=C grep -qP '\\x1b|\\xc2\\x9b|\\xe2\\x80\\xae|\\xff' '$TEST_TMP/esc.txt'"
"$B" diff --json "$E" 0 >"$TEST_TMP/esc.json"
ok "diff --json: none dropped (6 changes, 6 added)" jq -e '(.changes | length) == 6 and .added == 6' "$TEST_TMP/esc.json"
ok "  invalid UTF-8 escaped and flagged" jq -e '[.changes[] | select(.path == "bad\\xff\\xfename")][0].path_escaped == true' "$TEST_TMP/esc.json"
ok "  ESC escaped and flagged" jq -e '[.changes[] | select(.path == "esc\\x1b[31mred")][0].path_escaped == true' "$TEST_TMP/esc.json"
ok "  a plain name is as is, unflagged (backslash kept single)" jq -e '[.changes[] | select(.path == "back\\slash")][0] | has("path_escaped") | not' "$TEST_TMP/esc.json"
ok "  a link target escaped and flagged" jq -e '[.changes[] | select(.path == "link")][0].to | .target == "\\x1b]0;title\\x07" and .target_escaped == true' "$TEST_TMP/esc.json"
mkdir "$E/"$'dir\xff\e[2J'
expect_exit 4 "an error naming a path from the tree" "$B" diff "$E/"$'dir\xff\e[2J' 0
output_has "  shows it escaped" "dir\\\\xff\\\\x1b\[2J"
ok "  no raw ESC or invalid byte in it" sh -c "! LC_ALL=C grep -qP '\\x1b|\\xff' '$TEST_TMP/out'"
"$B" diff --json "$E/"$'dir\xff\e[2J' 0 >"$TEST_TMP/err.json" 2>/dev/null
ok "  with --json the error and the target are there, escaped" jq -e '(.error | test("dir\\\\xff\\\\x1b\\[2J")) and .target_escaped' "$TEST_TMP/err.json"

done_testing
