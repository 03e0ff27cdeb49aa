#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# btrfs-txn-crashtest: a user's own deployment through the crash matrix.
#
#   btrfs-txn-crashtest --tree DIR|TARBALL --workload FILE [--check SCRIPT]
#       [--kernel debian|PATH] [--modules DIR] [--reorder N] [--seed S] [--jobs N]
#       [--report DIR] [--timeout S] [--cache DIR] [--accel auto|kvm|tcg]
#
# The same engine as make vmcheck: the tree is put on a Btrfs in a QEMU guest (a
# Debian kernel, downloaded once and cached), made a btrfs-txn target, and every step
# of the workload runs recorded through dm-log-writes; on the host every prefix state
# of the log and up to N reordered states per flush epoch are replayed, recovered and
# checked (crashcheck.sh: btrfs check, recover, the old or the new tree, no staging
# left, a fresh apply works), then the user's check script runs on the recovered
# tree. Writes report.json, report.md and junit.xml to the report directory, prints
# one summary line, and exits 0 only when no state violated anything.
#
# Exit status: 0 no violation; 1 violations, or the workload failed in the guest;
# 2 invalid usage or workload; 3 the run itself failed (no image, no QEMU, timeout).
set -uo pipefail

# Where the helpers are: replaced by make install; in a source tree, beside this file.
libexec=@CRASHTEST_LIBEXEC@
sbin_txn=@CRASHTEST_TXN@
here=$(cd "$(dirname "$0")" && pwd)
if [ "${libexec#@}" != "$libexec" ]; then
	libexec=$here
	build=$(cd "$here/.." && pwd)/build
	vmtest=$build/vmtest logreplay=$build/logreplay
	txn=${BTRFS_TXN:-$build/test/btrfs-txn}
	default_cache=$build/vm
else
	vmtest=$libexec/vmtest logreplay=$libexec/logreplay
	txn=${BTRFS_TXN:-$sbin_txn}
	default_cache=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/btrfs-txn-crashtest
fi

usage() {
	cat <<'EOF'
Usage: btrfs-txn-crashtest --tree DIR|TARBALL --workload FILE [OPTIONS]
Run a deployment's workload under btrfs-txn in a QEMU guest, record every write, and
check every crash state a volatile disk cache could leave: btrfs-txn's own
old-or-new check, then your --check script on the recovered tree.

  --tree DIR|TARBALL   the target's starting content
  --workload FILE      one step a line (paths relative to FILE's directory):
                         apply SPEC | run -- COMMAND ARGS... | rollback [--to N]
                         receive STREAM | snapshot --tag pre|post
  --check SCRIPT       run on every recovered state with the tree's path; non-zero
                       is a violation
  --kernel debian|PATH the Debian cloud kernel (default, cached) or a bzImage
  --modules DIR        that kernel's lib/modules/VERSION (unless its drivers are built in)
  --reorder N          reordered states per flush epoch (default 64; 0: prefixes only)
  --seed S             seed of the reordered states (default 1)
  --jobs N             states checked in parallel (default: CPUs, at most 4)
  --report DIR         report.json, report.md, junit.xml (default ./crashtest-report)
  --timeout S          the guest run and the checks together (default 1800)
  --accel auto|kvm|tcg KVM when a probe boot works (default auto), else TCG
  --cache DIR          kernel download and guest image (default ~/.cache/btrfs-txn-crashtest)
  -h, --help           this help

Exit status: 0 no violation, 1 violations or a failed workload, 2 invalid usage,
3 the run could not be done.
EOF
}

die_usage() { echo "btrfs-txn-crashtest: $*" >&2; exit 2; }
die_run() { echo "btrfs-txn-crashtest: $*" >&2; exit 3; }

tree= workload= check= kernel=debian modules= reorder=64 seed=1 jobs= report=./crashtest-report
timeout=1800 accel=auto cache=$default_cache
while [ $# -gt 0 ]; do
	case $1 in
	--tree|--workload|--check|--kernel|--modules|--reorder|--seed|--jobs|--report|--timeout|--accel|--cache)
		[ $# -ge 2 ] || die_usage "$1 needs a value (see --help)"
		value=$2
		case $1 in
		--tree) tree=$value ;; --workload) workload=$value ;; --check) check=$value ;;
		--kernel) kernel=$value ;; --modules) modules=$value ;; --reorder) reorder=$value ;;
		--seed) seed=$value ;; --jobs) jobs=$value ;; --report) report=$value ;;
		--timeout) timeout=$value ;; --accel) accel=$value ;; --cache) cache=$value ;;
		esac
		shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[ -n "$tree" ] || die_usage "--tree is required (see --help)"
[ -n "$workload" ] || die_usage "--workload is required (see --help)"
for pair in "reorder:$reorder" "seed:$seed" "timeout:$timeout" ${jobs:+"jobs:$jobs"}; do
	case ${pair#*:} in ''|*[!0-9]*) die_usage "--${pair%%:*} takes a number, not '${pair#*:}'" ;; esac
done
[ "$timeout" -ge 60 ] || die_usage "--timeout must be at least 60 seconds"
case $accel in auto|kvm|tcg) ;; *) die_usage "--accel must be auto, kvm or tcg" ;; esac
[ -e "$tree" ] || die_usage "--tree $tree: $(ls "$tree" 2>&1 | sed 's/.*: //')"
[ -r "$workload" ] && [ -f "$workload" ] || die_usage "--workload $workload: not a readable file"
if [ -n "$check" ]; then
	[ -f "$check" ] && [ -x "$check" ] || die_usage "--check $check: not an executable file"
	check=$(cd "$(dirname "$check")" && pwd)/$(basename "$check")
fi
if [ "$kernel" != debian ]; then
	[ -r "$kernel" ] || die_usage "--kernel $kernel: not a readable file (or say 'debian')"
fi
if [ "$(id -u)" != 0 ]; then
	die_usage "must run as root (loop devices and mounts for the host-side checks)"
fi
for f in "$vmtest" "$logreplay" "$txn"; do
	[ -x "$f" ] || die_run "missing $f (make vmcheck builds it; make install installs it)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/btrfs-txn-crashtest.XXXXXX") || die_run "cannot create a work directory"
trap 'rm -rf "$work"' EXIT
trap 'rm -rf "$work"; echo "btrfs-txn-crashtest: interrupted" >&2; exit 130' INT TERM HUP
payload=$work/root/vmtest/crashtest-payload
scenarios=$work/root/vmtest/crashtest
mkdir -p "$payload" "$scenarios" || die_run "cannot create $work"

# The tree, as a tar the guest unpacks (owners and modes kept).
if [ -d "$tree" ]; then
	tar -C "$tree" --numeric-owner -cf "$payload/tree.tar" . || die_usage "--tree $tree: cannot read it"
else
	tar -xOf "$tree" > /dev/null 2>&1 || die_usage "--tree $tree: not a directory or a tar archive"
	mkdir -p "$work/tree" && tar -C "$work/tree" --numeric-owner -xf "$tree" &&
		tar -C "$work/tree" --numeric-owner -cf "$payload/tree.tar" . || die_usage "--tree $tree: cannot unpack it"
fi

# The workload, one step a line, into the guest scenario. Errors name FILE:LINE.
wdir=$(cd "$(dirname "$workload")" && pwd)
steps=() lineno=0
add_step() { steps+=("$1"); }
quote() { printf '%q' "$1"; }
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	line=${line%%$'\r'}
	case $line in ''|'#'*) continue ;; esac
	read -r -a words <<<"$line"
	n=$(( ${#steps[@]} + 1 ))
	where="$workload:$lineno"
	case ${words[0]} in
	apply)
		[ ${#words[@]} -eq 2 ] || die_usage "$where: apply takes one SPEC"
		spec=${words[1]}; [ "${spec#/}" = "$spec" ] && spec=$wdir/$spec
		[ -r "$spec" ] || die_usage "$where: apply: cannot read $spec"
		# The spec may omit its target: the crashtest supplies it.
		"$txn" validate "$spec" > "$work/validate.log" 2>&1 ||
			die_usage "$where: apply: $(grep -v '^$' "$work/validate.log" | head -n 1)"
		cp "$spec" "$payload/step-$n.json" || die_run "cannot copy $spec"
		add_step "btrfs-txn apply --target \$T /vmtest/crashtest-payload/step-$n.json" ;;
	run)
		[ "${words[1]:-}" = -- ] && [ ${#words[@]} -ge 3 ] || die_usage "$where: run wants '-- COMMAND ARGS...'"
		cmd="btrfs-txn run \$T --"
		for w in "${words[@]:2}"; do cmd="$cmd $(quote "$w")"; done
		add_step "$cmd" ;;
	rollback)
		if [ ${#words[@]} -eq 1 ]; then
			add_step "btrfs-txn rollback \$T"
		elif [ ${#words[@]} -eq 3 ] && [ "${words[1]}" = --to ] && [[ ${words[2]} =~ ^[0-9]+$ ]]; then
			add_step "btrfs-txn rollback \$T --to ${words[2]}"
		else
			die_usage "$where: rollback takes nothing or '--to N'"
		fi ;;
	receive)
		[ ${#words[@]} -eq 2 ] || die_usage "$where: receive takes one STREAM"
		stream=${words[1]}; [ "${stream#/}" = "$stream" ] && stream=$wdir/$stream
		[ -r "$stream" ] || die_usage "$where: receive: cannot read $stream"
		"$txn" help receive > /dev/null 2>&1 ||
			die_usage "$where: receive: this btrfs-txn ($txn) has no 'receive' command"
		cp "$stream" "$payload/step-$n.stream" || die_run "cannot copy $stream"
		add_step "btrfs-txn receive \$T -f /vmtest/crashtest-payload/step-$n.stream" ;;
	snapshot)
		[ ${#words[@]} -eq 3 ] && [ "${words[1]}" = --tag ] && [[ ${words[2]} =~ ^(pre|post)$ ]] ||
			die_usage "$where: snapshot takes '--tag pre' or '--tag post'"
		add_step "btrfs-txn snapshot \$T --tag ${words[2]}" ;;
	*)
		die_usage "$where: unknown step '${words[0]}' (apply, run, rollback, receive, snapshot)" ;;
	esac
done < "$workload"
[ ${#steps[@]} -gt 0 ] || die_usage "$workload: no steps"
# run steps execute in a copy of the workload's directory, so they can call the
# deployment's own scripts (the guest has busybox, btrfs-progs and btrfs-txn).
mkdir -p "$payload/work" && tar -C "$wdir" -cf - . | tar -C "$payload/work" -xf - ||
	die_run "cannot copy $wdir for the guest"

# The guest side: a crash-* scenario of its own (the orchestrator replays those).
name=crash-workload
{
	printf '# vmtest: btrfs-txn-crashtest: %s (%d steps)\n' "$(basename "$workload")" ${#steps[@]}
	printf '# timeout: %d\n# boots: 1\n\n' "$timeout"
	printf '. /vmtest/guest-logwrites.sh\nT=$MNT/target\n\nboot_1() {\n'
	printf '\tlw_start\n\tmkdir -p $T\n\ttar -C $T -xf /vmtest/crashtest-payload/tree.tar\n'
	printf '\tbtrfs-txn init $T\n\tcd /vmtest/crashtest-payload/work\n'
	for i in "${!steps[@]}"; do
		printf '\tlw_run step-%d subvol $T %s\n' $((i + 1)) "${steps[$i]}"
	done
	printf '\tcd /\n\tlw_finish\n}\n'
} > "$scenarios/$name.sh"

# The guest image: built once into the cache; the payload rides along as a second
# archive appended to the initramfs.
mkdir -p "$cache" || die_run "cannot create the cache $cache"
"$libexec/mkimage.sh" image "$cache" "$txn" >&2 || die_run "building the guest image in $cache failed"
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/payload.cpio.gz" ||
	die_run "cannot pack the workload for the guest"

mkdir -p "$report" || die_usage "--report $report: cannot create it"
report=$(cd "$report" && pwd)
args=(--image "$cache" --scenarios "$scenarios" --run-dir "$work/run" --report-dir "$report"
      --payload "$work/payload.cpio.gz" --accel "$accel" --reorder "$reorder" --seed "$seed")
[ -n "$jobs" ] && args+=(--jobs "$jobs")
[ "$kernel" != debian ] && args+=(--kernel "$kernel")
[ -n "$modules" ] && args+=(--modules "$modules")
export VMTEST_CRASHCHECK="$libexec/crashcheck.sh" BTRFS_TXN="$txn" LOGREPLAY="$logreplay"
[ -n "$check" ] && export CRASH_CHECK_SCRIPT="$check"
start=$SECONDS
if [ -t 2 ]; then
	# On a terminal: the orchestrator's progress lines, and the states checked so far.
	(
		while sleep 5; do
			set -- "$work/run/$name/crash"/job*/progress
			[ -f "$1" ] || continue
			cat "$@" 2>/dev/null | awk '{ d += $1; t += $2 } END { printf "\rchecked %d of %d crash states ", d, t }' >&2
		done
	) &
	progress=$!
	"$vmtest" "${args[@]}" 2>&1 | tee "$work/ktap" | grep --line-buffered '^# ' >&2
	status=${PIPESTATUS[0]}
	kill "$progress" 2>/dev/null
	wait "$progress" 2>/dev/null
	printf '\n' >&2
else
	status=0
	"$vmtest" "${args[@]}" > "$work/ktap" 2>&1 || status=$?
fi
seconds=$((SECONDS - start))
cp "$work/ktap" "$report/vmtest.ktap"
log=$work/run/$name/crashcheck.log
[ -f "$log" ] && cp "$log" "$report/crashcheck.log"

# The counts, from the checker's last line.
read -r states violations reordered per_second < <(awk '/^crashcheck: states/ {
	for (i = 2; i < NF; i += 2) v[$i] = $(i + 1)
	print v["states"] + 0, v["violations"] + 0, v["reordered"] + 0, v["per_second"] + 0 }' "$log" 2>/dev/null)
states=${states:-0} violations=${violations:-0} reordered=${reordered:-0} per_second=${per_second:-0}
accel_used=$(sed -n 's/^# accelerator: \([a-z]*\).*/\1/p' "$work/ktap" | head -n1)
result=$(grep -E "^(not )?ok [0-9]+ $name" "$work/ktap" | head -n1)
reason=${result#*# }; [ "$reason" = "$result" ] && reason=

# Rebuild commands with this machine's paths: the log and replayer are kept in the
# report directory, so the command works after this run's temporary files are gone.
if [ "$violations" -gt 0 ] && [ -f "$work/run/$name/log.img" ]; then
	cp --sparse=always "$work/run/$name/log.img" "$report/log.img"
	cp "$logreplay" "$report/logreplay"
fi

# report.md gets the violations and how to rebuild each state; junit.xml one test case
# per workload step.
{
	echo
	echo "## btrfs-txn-crashtest"
	echo
	echo "$states crash states ($reordered reordered, seed $seed), $violations violations, $seconds s, ${accel_used:-?}."
	if [ "$violations" -gt 0 ]; then
		echo
		echo "| state | violation |"
		echo "| --- | --- |"
		grep '^violation: ' "$log" | sed 's/^violation: state \([0-9-]*\) \(([^)]*)\): \(.*\)$/| \1 \2 | \3 |/' | head -n 200
		echo
		echo "Rebuild a state's image to mount and inspect it (IMAGE: any file name):"
		echo
		echo '```'
		grep '^rebuild ' "$log" | head -n 50 | sed "s|logreplay |$report/logreplay |g; s| LOG | $report/log.img |g"
		echo '```'
	fi
} >> "$report/report.md"
awk -v name="$name" -v logfile="$log" -v steps=${#steps[@]} -v seconds="$seconds" -v reason="$reason" '
	function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s); return s }
	BEGIN {
		while ((getline line < logfile) > 0) {
			if (line ~ /^violation: state /) {
				if (match(line, /\(step-[0-9]+,/)) {
					step = substr(line, RSTART + 1, RLENGTH - 2)
					fail[step] = fail[step] esc(line) "\n"; count[step]++
				} else { other = other esc(line) "\n"; others++ }
			}
		}
		total = others
		for (s in count) total += count[s]
		failures = (reason != "" && total == 0) ? 1 : 0
		for (i = 1; i <= steps; i++) failures += ("step-" i in count)
		printf "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		printf "<testsuite name=\"btrfs-txn-crashtest\" tests=\"%d\" failures=\"%d\" time=\"%d\">\n", steps + 1, failures + (others > 0), seconds
		for (i = 1; i <= steps; i++) {
			s = "step-" i
			printf "  <testcase classname=\"crashtest\" name=\"%s\">", s
			if (s in count) printf "\n    <failure message=\"%d violations\">%s</failure>\n  ", count[s], fail[s]
			printf "</testcase>\n"
		}
		printf "  <testcase classname=\"crashtest\" name=\"guest and checker\">"
		if (others > 0) printf "\n    <failure message=\"%d violations\">%s</failure>\n  ", others, other
		else if (reason != "" && total == 0) printf "\n    <failure message=\"%s\"/>\n  ", esc(reason)
		printf "</testcase>\n</testsuite>\n"
	}' > "$report/junit.xml"

verdict=ok
if [ "$violations" -gt 0 ]; then
	verdict=FAIL
elif [ "$status" -ne 0 ] || [ "${result#not ok}" != "$result" ] || [ -z "$result" ]; then
	verdict=ERROR
fi
echo "btrfs-txn-crashtest: $verdict: $states crash states ($reordered reordered), $violations violations," \
	"${#steps[@]} steps, $seconds s ($per_second states/s, ${accel_used:-?})${reason:+: $reason}; report $report/report.md"
case $verdict in
ok) exit 0 ;;
FAIL) exit 1 ;;
*) [ -n "$result" ] && exit 1; exit 3 ;;
esac
