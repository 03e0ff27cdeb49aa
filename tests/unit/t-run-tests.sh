#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# t-run-tests.sh: tests/run-tests.sh reports every test it was given as TAP that
# prove reads: a pass, a skip with its reason, a failure with the test's output, a
# missing test and (with --complete) a test script lying beside the others unlisted,
# each as a failure, never dropped; and it ends with the summary line. Needs no root. Prints TAP.
# The TAP helpers of the integration tests (ok, done_testing, TEST_TMP); no root needed.
. "$(dirname "$0")/../integration/lib.sh"
runner=$TOP/tests/run-tests.sh
tmp=$TEST_TMP

mkdir "$tmp/t"
printf '#!/bin/sh\necho "1..1"\necho "ok 1 - fine"\n' >"$tmp/t/t0001-good.sh"
printf '#!/bin/sh\necho "1..0 # SKIP no Btrfs here"\nexit 77\n' >"$tmp/t/t0002-skip.sh"
printf '#!/bin/sh\necho "not ok 1 - the reason it broke"\nexit 1\n' >"$tmp/t/t0003-bad.sh"
printf '#!/bin/sh\nexit 0\n' >"$tmp/t/t0004-forgotten.sh"
chmod +x "$tmp/t"/*.sh

"$runner" --complete "$tmp/t/t0001-good.sh" "$tmp/t/t0002-skip.sh" "$tmp/t/t0003-bad.sh" \
	"$tmp/t/t0009-gone.sh" >"$tmp/all.tap" 2>&1
rc=$?
ok "a failing run exits non-zero" test "$rc" -ne 0
ok "the pass" grep -qx 'ok 1 - t0001-good.sh ([0-9.]*s)' "$tmp/all.tap"
ok "the skip, with its reason" grep -qx 'ok 2 - t0002-skip.sh # SKIP no Btrfs here' "$tmp/all.tap"
ok "the failure, with its exit status" grep -qx 'not ok 3 - t0003-bad.sh # exit 1' "$tmp/all.tap"
ok "  and its output as a comment" grep -q '^#   | not ok 1 - the reason it broke' "$tmp/all.tap"
ok "a missing test is a failure" grep -q "^not ok 4 - t0009-gone.sh # missing" "$tmp/all.tap"
ok "with --complete, an unlisted test script beside them is a failure" grep -q "^not ok 5 - t0004-forgotten.sh # unlisted" "$tmp/all.tap"
ok "the plan counts them all" grep -qx '1..5' "$tmp/all.tap"
ok "the summary line is last" test "$(tail -n1 "$tmp/all.tap")" = "# 1 passed, 3 failed, 1 skipped"

"$runner" --complete "$tmp/t/t0001-good.sh" "$tmp/t/t0002-skip.sh" "$tmp/t/t0004-forgotten.sh" \
	"$tmp/t/t0003-bad.sh" >/dev/null 2>&1
ok "every test listed, one failing: still non-zero" test "$?" -ne 0
rm "$tmp/t/t0003-bad.sh"
ok "every test listed and passing or skipped: exit 0" \
	"$runner" --complete "$tmp/t/t0001-good.sh" "$tmp/t/t0002-skip.sh" "$tmp/t/t0004-forgotten.sh"
ok "without --complete, the ones given are all that counts" "$runner" "$tmp/t/t0001-good.sh"
if command -v prove >/dev/null; then
	ok "prove reads it" prove --exec "$runner" "$tmp/t/t0001-good.sh" "$tmp/t/t0002-skip.sh" \
		"$tmp/t/t0004-forgotten.sh"
	ok "prove sees a failure" sh -c "! prove --exec '$runner' '$tmp/t/t0009-gone.sh'"
fi
done_testing
