# SPDX-License-Identifier: MIT
# lib.sh: fixture and TAP helpers for integration tests on real Btrfs.
#
# Source it from a tNNNN-*.sh test. It gives:
#   require_btrfs            skip (exit 77) unless root with loop devices and Btrfs
#   btrfs_fixture [SIZE]     sparse image -> losetup -> mkfs.btrfs -> mount at $MNT
#   btrfs_fixture2 [SIZE]    a second, separate Btrfs the same way, at $MNT2
#   receive_no_leftovers DIR, receive_record_matches DIR   a receive's state directory
#   at_cleanup CMD           run CMD on exit (last registered runs first)
#   ok DESC CMD...           one TAP test point: CMD must succeed
#   expect_exit N DESC CMD...  one TAP test point: CMD must exit with status N
#   manifest DIR             paths, types, modes, owners, sizes, sha256, link targets
#   done_testing             print the plan, exit 1 if any test point failed
#
# Everything attached or mounted is registered as it is made and undone in a trap on
# EXIT, INT, TERM and HUP, so a failing or interrupted test leaves no loop device,
# mount or image behind.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The test build (make check builds it): the fault points and step hooks
# (with_hook, with_fault) exist only there.
BTRFS_TXN=${BTRFS_TXN:-$TOP/build/test/btrfs-txn}
TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME.XXXXXX")
_cleanups=()
_tests=0
_failed=0

_run_cleanups() {
	local i
	trap - EXIT INT TERM HUP
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[$i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$TEST_TMP"
}
trap '_run_cleanups' EXIT
trap '_run_cleanups; exit 130' INT
trap '_run_cleanups; exit 143' TERM
trap '_run_cleanups; exit 129' HUP

at_cleanup() {
	_cleanups+=("$1")
}

skip_all() {
	echo "1..0 # SKIP $*"
	exit 77
}

require_btrfs() {
	[ "$(id -u)" -eq 0 ] || skip_all "needs root"
	command -v losetup >/dev/null || skip_all "needs losetup (util-linux)"
	command -v mkfs.btrfs >/dev/null || skip_all "needs mkfs.btrfs (btrfs-progs)"
	grep -qw btrfs /proc/filesystems || skip_all "this kernel has no Btrfs"
	[ -x "$BTRFS_TXN" ] || { echo "Bail out! $BTRFS_TXN is not built"; exit 1; }
}

# _btrfs_loop_mount NAME SIZE DIR WHAT: a fresh Btrfs of SIZE on a loop device of
# its own image $TEST_TMP/NAME.img, mounted at DIR; the device in $_btrfs_dev.
# WHAT ("a loop device") names it in a skip.
_btrfs_loop_mount() {
	local name=$1 size=$2 dir=$3 what=$4 image="$TEST_TMP/$1.img"
	mkdir -p "$dir"
	truncate -s "$size" "$image"
	at_cleanup "rm -f '$image'"
	_btrfs_dev=$(losetup --find --show "$image") || skip_all "cannot attach $what"
	at_cleanup "losetup -d '$_btrfs_dev'"
	mkfs.btrfs -q -f "$_btrfs_dev" >/dev/null 2>&1 ||
		{ echo "Bail out! mkfs.btrfs failed on $_btrfs_dev"; exit 1; }
	mount -t btrfs "$_btrfs_dev" "$dir" || skip_all "cannot mount Btrfs from $what"
	at_cleanup "umount '$dir' || umount -l '$dir'"
}

# btrfs_fixture [SIZE]: a fresh Btrfs of SIZE (default 1G) mounted at $MNT.
btrfs_fixture() {
	MNT="$TEST_TMP/mnt"
	_btrfs_loop_mount btrfs "${1:-1G}" "$MNT" "a loop device"
	LOOP_DEV=$_btrfs_dev
}

# btrfs_fixture2 [SIZE]: a second Btrfs (another filesystem, for send, receive and
# push between two) of SIZE (default 1G) mounted at $MNT2, its device $LOOP_DEV2.
btrfs_fixture2() {
	MNT2="$TEST_TMP/mnt-b"
	_btrfs_loop_mount btrfs-b "${1:-1G}" "$MNT2" "a second loop device"
	LOOP_DEV2=$_btrfs_dev
}

ok() {
	local desc=$1
	shift
	_tests=$((_tests + 1))
	if "$@" >"$TEST_TMP/out" 2>&1; then
		echo "ok $_tests - $desc"
	else
		_failed=$((_failed + 1))
		echo "not ok $_tests - $desc"
		sed 's/^/# /' "$TEST_TMP/out"
	fi
}

expect_exit() {
	local want=$1 desc=$2 got
	shift 2
	_tests=$((_tests + 1))
	"$@" >"$TEST_TMP/out" 2>&1
	got=$?
	if [ "$got" -eq "$want" ]; then
		echo "ok $_tests - $desc"
	else
		_failed=$((_failed + 1))
		echo "not ok $_tests - $desc (exit $got, expected $want)"
		sed 's/^/# /' "$TEST_TMP/out"
	fi
}

# The output of the last ok/expect_exit command.
last_output() {
	cat "$TEST_TMP/out"
}

# manifest DIR: one line per entry below DIR, sorted, with everything that makes two
# trees equal for the crash invariant: path, type, mode, owner, size, content hash or
# link target. Names are printed with %q so newlines cannot forge lines.
manifest() {
	local dir=$1 path
	(
		cd "$dir" || exit 1
		find . -mindepth 1 -print0 | sort -z | while IFS= read -r -d '' path; do
			local meta extra=""
			meta=$(stat -c '%F %a %u:%g' -- "$path")
			case $meta in
			"regular file"* | "regular empty file"*)
				extra="size=$(stat -c %s -- "$path") $(sha256sum <"$path" | cut -c1-64)" ;;
			"symbolic link"*)
				extra="-> $(printf %q "$(readlink -- "$path")")" ;;
			esac
			printf '%q %s %s\n' "${path#./}" "$meta" "$extra"
		done
	)
}

done_testing() {
	echo "1..$_tests"
	[ "$_failed" -eq 0 ] || { echo "# $_failed of $_tests failed"; exit 1; }
	exit 0
}

# --- helpers for the btrfs-txn tests (t01xx) ---

# state_dir T: where btrfs-txn keeps T's lock, journal, history and generations.
state_dir() {
	printf '%s/.btrfs-txn/%s\n' "$(dirname "$1")" "$(basename "$1")"
}

# no_staging T: fails (listing them) when a staging-* subvolume is left for T.
no_staging() {
	local left
	left=$(cd "$(state_dir "$1")" 2>/dev/null && ls -d staging-* init-* 2>/dev/null)
	[ -z "$left" ] || { echo "left behind: $left"; return 1; }
}

# same_manifest FILE T: T's manifest equals the one saved in FILE (diff on failure).
same_manifest() {
	manifest "$2" | diff -u "$1" -
}

# new_target NAME: a fresh managed subvolume $MNT/NAME; prints its path.
new_target() {
	"$BTRFS_TXN" init "$MNT/$1" >/dev/null || return 1
	printf '%s\n' "$MNT/$1"
}

# apply_ops T OPS_JSON [EXTRA_TOP_LEVEL_JSON]: apply a spec made of OPS to T.
apply_ops() {
	local target=$1 ops=$2 extra=${3:-} spec
	spec=$(mktemp "$TEST_TMP/spec.XXXXXX.json")
	printf '{"version": 1, "target": "%s", %s"ops": %s}\n' "$target" \
		"${extra:+$extra, }" "$ops" >"$spec"
	"$BTRFS_TXN" apply "$spec"
}

# json_get JQ_FILTER: read JSON on stdin, print the filter's raw value.
json_get() {
	jq -er "$1"
}

# output_has DESC REGEX: a test point: the last ok/expect_exit output matches REGEX.
# receive_no_leftovers STATE_DIR: no staging, nothing half-received, no journal there.
receive_no_leftovers() {
	! ls -d "$1"/staging-* "$1"/receiving-* 2>/dev/null | grep . && [ ! -e "$1/journal" ]
}

# receive_record_matches STATE_DIR: every recv-TXID directory there is one that
# received.json names as received, and the reverse.
receive_record_matches() {
	diff <(ls -d "$1"/recv-* 2>/dev/null | xargs -n1 basename | sort) \
		<(jq -r '.received[].subvolume | split("/")[0]' "$1/received.json" | sort)
}

# That output is kept, so several output_has may follow one command.
output_has() {
	cp "$TEST_TMP/out" "$TEST_TMP/out.prev"
	ok "$1" sh -c 'grep -Eq -- "$1" "$2" || { echo "no line matches: $1"; cat "$2"; exit 1; }' sh "$2" "$TEST_TMP/out.prev"
	cp "$TEST_TMP/out.prev" "$TEST_TMP/out"
}

# expect_abort N DESC T CMD...: CMD exits N, and afterwards T's manifest is
# byte-identical to before and no staging subvolume is left (three test points).
expect_abort() {
	local want=$1 desc=$2 target=$3 saved
	shift 3
	saved=$(mktemp "$TEST_TMP/manifest.XXXXXX")
	manifest "$target" >"$saved"
	expect_exit "$want" "$desc" "$@"
	cp "$TEST_TMP/out" "$TEST_TMP/out.abort"
	ok "  $desc: target unchanged" same_manifest "$saved" "$target"
	ok "  $desc: no staging left" no_staging "$target"
	cp "$TEST_TMP/out.abort" "$TEST_TMP/out"
}

# with_hook HOOK CMD...: run CMD (a command or a shell function) with
# BTRFS_TXN_STEP_HOOK=HOOK; with_fault FAULT CMD... the same for BTRFS_TXN_FAULT.
with_hook() {
	(export BTRFS_TXN_STEP_HOOK="$1" && shift && "$@")
}
with_fault() {
	(export BTRFS_TXN_FAULT="$1" && shift && "$@")
}
