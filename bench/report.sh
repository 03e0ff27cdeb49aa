#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# report.sh: turn the raw samples of bench/run.sh into results.md and latency.png
# (with NAME_SUFFIX=-large: results-large.md, latency-large.png, and the hand-written
# analysis-large.md instead of analysis.md).
#
# Called by run.sh with its scratch files in the environment (SAMPLES, TIMING, NOTES,
# MEMORY, SCRATCH, OUT, ...); can be rerun by hand on an old scratch directory by
# exporting the same names. Medians exclude the warm-up (run 0). Every ratio divides
# two medians of the same run of the benchmark.
set -uo pipefail
export LC_ALL=C
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

MED=$SCRATCH/medians.tsv   # method tree batch median runs
awk -F'\t' '$4 > 0 { key = $1 "\t" $2 "\t" $3; v[key] = v[key] " " $5; n[key]++ }
	END {
		for (k in v) {
			m = split(substr(v[k], 2), a, " ")
			for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
			med = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
			printf "%s\t%.6f\t%d\n", k, med, n[k]
		}
	}' "$SAMPLES" | sort >"$MED"

TMED=$SCRATCH/timing-medians.tsv   # kind tree batch field median
awk -F'\t' '$4 > 0 { key = $1 "\t" $2 "\t" $3 "\t" $5; v[key] = v[key] " " $6 }
	END {
		for (k in v) {
			m = split(substr(v[k], 2), a, " ")
			for (i = 2; i <= m; i++) { x = a[i] + 0; for (j = i - 1; j > 0 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
			med = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
			printf "%s\t%.6f\n", k, med
		}
	}' "$TIMING" | sort >"$TMED"

# med METHOD TREE BATCH: the median in seconds, or nothing.
med() { awk -F'\t' -v m="$1" -v t="$2" -v b="$3" '$1 == m && $2 == t && $3 == b { print $4 }' "$MED"; }
runs() { awk -F'\t' -v m="$1" -v t="$2" -v b="$3" '$1 == m && $2 == t && $3 == b { print $5 }' "$MED"; }
tmed() { awk -F'\t' -v k="$1" -v t="$2" -v b="$3" -v f="$4" \
	'$1 == k && $2 == t && $3 == b && $4 == f { print $5 }' "$TMED"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ms() { [ -n "$1" ] && awk -v s="$1" 'BEGIN { v = s * 1000; printf (v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f"), v }'; }
human() { case $1 in 1000000) echo 1M ;; 100000) echo 100k ;; 10000) echo 10k ;; 1000) echo 1k ;; *) echo "$1" ;; esac; }

declare -A LABEL=(
	[inplace]="in place + syncfs (floor)" [replace]="per-file temp+fsync+rename, syncfs"
	[apply]="btrfs-txn apply" [apply-copy]="btrfs-txn apply, \`copy\` ops" [rollback]="btrfs-txn rollback"
	[apply-history]="btrfs-txn apply, a target with ${HISTORY_LINES:-10000} earlier transactions"
	[reflink]="reflink copy + change + swap + syncfs" [copy]="plain copy + change + swap + syncfs"
	[inplace-shared]="*diagnostic:* in place + syncfs on a just-snapshotted tree"
	[inplace-fixed]="in place + syncfs (floor)" [apply-fixed]="btrfs-txn apply"
	[rollback-floor]="rollback's floor: snapshot + swap + syncfs" [tag]="btrfs-txn snapshot --tag"
	[tag-floor]="snapshot --tag's floor: one read-only snapshot"
)
METHODS="inplace replace apply apply-history apply-copy rollback reflink copy inplace-shared"

# fmed METHOD TREE BATCH: the median for the fixed changed set; in the smallest tree
# that holds the batch that set is the spread one, measured as inplace and apply.
layout_of() {
	local t
	for t in $(printf '%s\n' $TREES | sort -n); do
		[ "$t" -ge "$1" ] && { echo "$t"; return; }
	done
}
fmed() {
	if [ "$2" = "$(layout_of "$3")" ]; then med "${1%-fixed}" "$2" "$3"; else med "$1" "$2" "$3"; fi
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem_gib=$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)

{
	echo "# btrfs-txn benchmark results"
	echo
	echo "Made by \`make bench\` (bench/run.sh); bench/README.md says what each method does."
	echo
	echo "| | |"
	echo "| --- | --- |"
	echo "| date | $STARTED |"
	echo "| CPU | $cpu, $(nproc) cores |"
	echo "| memory | $mem_gib GiB |"
	echo "| kernel | $(uname -sr) |"
	echo "| btrfs-progs | $(btrfs --version | awk '{ print $2 }') |"
	echo "| btrfs-txn | ${BUILD_ID:-unknown} |"
	echo "| coreutils | $(cp --version | awk 'NR == 1 { print $NF }') |"
	echo "| filesystem | Btrfs (mkfs.btrfs defaults) on a $IMAGE_SIZE sparse image on a loop device |"
	echo "| files | ${FILE_SIZE} bytes each, 1,000 per directory; a batch of B changes every (N/B)-th file (the growth table: the same files in every tree) |"
	echo "| runs | one warm-up, then up to $RUNS timed runs per method and cell, methods round-robin; medians |"
	echo "| load average | $LOAD_START at start, $LOAD_END at the end |"
	echo "| duration | $((ELAPSED / 60)) min $((ELAPSED % 60)) s |"
	echo
	echo "**Noise.** Absolute times move with whatever else runs on the machine (the load"
	echo "average above says how busy it was); the ratios compare medians taken in the same"
	echo "run, with the methods interleaved run by run, so noise falls on all of them alike."
	echo
	echo "## Latency per batch size"
	echo
	echo "Median wall time in milliseconds (process start to exit, everything durable), and in"
	echo "brackets the ratio to the in-place floor of the same cell. Lower is better."
	for b in $BATCHES; do
		echo
		echo "### Batch of $b changed file$([ "$b" = 1 ] || echo s)"
		echo
		header="| method |" sep="| --- |"
		for n in $TREES; do
			[ "$b" -le "$n" ] || continue
			header="$header $(human "$n") files |" sep="$sep ---: |"
		done
		echo "$header"
		echo "$sep"
		for m in $METHODS; do
			row="| ${LABEL[$m]} |" any=
			for n in $TREES; do
				[ "$b" -le "$n" ] || continue
				v=$(med "$m" "$n" "$b") floor=$(med inplace "$n" "$b")
				if [ -z "$v" ]; then
					row="$row skipped |"
				else
					any=1
					r=$(runs "$m" "$n" "$b")
					row="$row $(ms "$v") ($(ratio "$v" "$floor")x)$([ "$r" -lt "$RUNS" ] && echo " [$r run$([ "$r" = 1 ] || echo s)]") |"
				fi
			done
			# A method measured at some batch sizes only (apply-history) has no row
			# at the others.
			[ -n "$any" ] || [ "$m" != apply-history ] && echo "$row"
		done
	done
	echo
	if [ -s "$NOTES" ]; then
		echo "Shortened or skipped measurements (a cell marked [n runs] has fewer timed runs):"
		echo
		awk -F'\t' '{ printf "- %s, tree %s, batch %s: %s\n", $1, $2, $3, $4 }' "$NOTES"
		echo
	fi

	echo "## The same changed files in every tree"
	echo
	echo "Above, a batch of B changes every (N/B)-th file, so the 100 changes fall in one"
	echo "directory of the 1k tree and in 100 directories of the 100k tree. Here the batch"
	echo "changes the same files in every tree (those it changes in the smallest tree that holds"
	echo "it), so only the tree grows. Median ms (ratio to this table's floor); *growth* is the"
	echo "largest tree against the smallest."
	for b in $BATCHES; do
		trees=$(for n in $TREES; do [ "$b" -le "$n" ] && echo "$n"; done)
		[ "$(echo "$trees" | wc -w)" -ge 2 ] || continue
		first=$(echo "$trees" | head -1) last=$(echo "$trees" | tail -1)
		echo
		echo "### Batch of $b changed file$([ "$b" = 1 ] || echo s), the same in every tree"
		echo
		header="| method |" sep="| --- |"
		for n in $trees; do header="$header $(human "$n") files |" sep="$sep ---: |"; done
		echo "$header growth |"
		echo "$sep ---: |"
		for m in inplace-fixed apply-fixed; do
			row="| ${LABEL[$m]} |"
			for n in $trees; do
				v=$(fmed "$m" "$n" "$b") floor=$(fmed inplace-fixed "$n" "$b")
				row="$row $([ -n "$v" ] && echo "$(ms "$v") ($(ratio "$v" "$floor")x)" || echo skipped) |"
			done
			a=$(fmed "$m" "$first" "$b") z=$(fmed "$m" "$last" "$b")
			g=$([ -n "$a" ] && [ -n "$z" ] && awk -v a="$a" -v z="$z" 'BEGIN { printf "%+.0f%%", (z / a - 1) * 100 }')
			echo "$row ${g:-?} |"
		done
	done
	echo

	echo "## Where apply spends its time"
	echo
	echo "Medians of the \`timing\` object of \`btrfs-txn apply --json\` over the same runs, in"
	echo "milliseconds. *wall* is the process as timed from outside; *outside engine* is wall"
	echo "minus the engine's total: process start, reading and validating the spec, exit;"
	echo "*validate alone* times \`btrfs-txn validate\` of the same spec, which does just that."
	echo "*check after* is the search for writers to the old tree after the exchange (holders in"
	echo "\`/proc\`, then the tree search; issue 13), which grows with the processes on the machine."
	echo "*other* is lock + recover + preconditions + journal + verify + check. *contents* says"
	echo "where the contents came from: \`write\` (inline in the spec) or \`copy\` (source files)."
	echo
	echo "| tree | batch | contents | snapshot | ops | flush | swap | sync | archive | check after | other | engine total | outside engine | validate alone | wall |"
	echo "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for n in $TREES; do
		for b in $BATCHES; do
			[ "$b" -le "$n" ] || continue
			for k in apply apply-history apply-copy; do
				total=$(tmed "$k" "$n" "$b" total)
				[ -n "$total" ] || continue
				other=$(for f in lock recover preconditions journal verify check; do tmed "$k" "$n" "$b" "$f"; done |
					awk '{ s += $1 } END { printf "%.6f", s }')
				wall=$(med "$k" "$n" "$b")
				outside=$(awk -v w="$wall" -v t="$total" 'BEGIN { printf "%.6f", w - t }')
				echo "| $(human "$n") | $b | $(case $k in apply) echo write ;; apply-history) echo "write, ${HISTORY_LINES:-10000} earlier transactions" ;; *) echo copy ;; esac) |" \
					"$(ms "$(tmed "$k" "$n" "$b" snapshot)") | $(ms "$(tmed "$k" "$n" "$b" ops)") |" \
					"$(ms "$(tmed "$k" "$n" "$b" flush)") | $(ms "$(tmed "$k" "$n" "$b" swap)") |" \
					"$(ms "$(tmed "$k" "$n" "$b" sync)") | $(ms "$(tmed "$k" "$n" "$b" archive)") |" \
					"$(ms "$(tmed "$k" "$n" "$b" check_after)") |" \
					"$(ms "$other") | $(ms "$total") | $(ms "$outside") |" \
					"$([ "$k" = apply ] && ms "$(med validate "$n" "$b")") | $(ms "$wall") |"
			done
		done
	done
	echo
	echo "Rollback, same fields (its staging is a snapshot of the kept generation; no ops):"
	echo
	echo "| tree | snapshot | flush | swap | sync | archive | check after | engine total | wall |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for n in $TREES; do
		b=$(for x in $BATCHES; do [ "$x" -le "$n" ] && echo "$x"; done | sort -n | head -1)
		[ -n "$(tmed rollback "$n" "$b" total)" ] || continue
		echo "| $(human "$n") | $(ms "$(tmed rollback "$n" "$b" snapshot)") | $(ms "$(tmed rollback "$n" "$b" flush)") |" \
			"$(ms "$(tmed rollback "$n" "$b" swap)") | $(ms "$(tmed rollback "$n" "$b" sync)") |" \
			"$(ms "$(tmed rollback "$n" "$b" archive)") | $(ms "$(tmed rollback "$n" "$b" check_after)") |" \
			"$(ms "$(tmed rollback "$n" "$b" total)") | $(ms "$(med rollback "$n" "$b")") |"
	done
	echo "(after the batch-$(echo "$BATCHES" | tr ' ' '\n' | sort -n | head -1) apply)"
	echo

	echo "## Rollback and \`snapshot --tag\` against their own floors"
	echo
	echo "Neither changes files, so the in-place floor is not theirs. Rollback's floor is the"
	echo "swap alone: a writable snapshot of a read-only tree, \`RENAME_EXCHANGE\` with the live"
	echo "one, \`syncfs\` (no journal, no checks for other writers, no read-only old tree)."
	echo "\`snapshot --tag\` (pre, then post: apt runs one of each) is priced against one"
	echo "read-only snapshot, which Btrfs commits by itself. Median ms over every batch of the"
	echo "tree (neither depends on the batch), ratio in brackets."
	echo
	echo "| tree | rollback | its floor | snapshot --tag | its floor |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	for n in $TREES; do
		rb=$(awk -F'\t' -v t="$n" '$1 == "rollback" && $2 == t && $4 > 0 { print $5 }' "$SAMPLES" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		rf=$(awk -F'\t' -v t="$n" '$1 == "rollback-floor" && $2 == t && $4 > 0 { print $5 }' "$SAMPLES" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		tg=$(awk -F'\t' -v t="$n" '$1 == "tag" && $2 == t && $4 > 0 { print $5 }' "$SAMPLES" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		tf=$(awk -F'\t' -v t="$n" '$1 == "tag-floor" && $2 == t && $4 > 0 { print $5 }' "$SAMPLES" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		[ -n "$rb$tg" ] || continue
		echo "| $(human "$n") | $(ms "$rb") ($(ratio "$rb" "$rf")x) | $(ms "$rf") | $(ms "$tg") ($(ratio "$tg" "$tf")x) | $(ms "$tf") |"
	done
	echo

	echo "## Btrfs commits per command"
	echo
	if [ -s "${COMMITS:-}" ]; then
		echo "Transaction commits during each timed run (\`commits\` of"
		echo "\`/sys/fs/btrfs/UUID/commit_stats\`), median over the runs of the 1-file batch of"
		echo "each tree; the number does not depend on the load, the time does. A commit by the"
		echo "periodic transaction thread may fall into a run now and then, hence the median."
		echo
		echo "| method |$(for n in $TREES; do printf ' %s |' "$(human "$n")"; done)"
		echo "| --- |$(for n in $TREES; do printf ' ---: |'; done)"
		for m in inplace apply rollback rollback-floor tag tag-floor; do
			row="| ${LABEL[$m]:-$m} |"
			for n in $TREES; do
				c=$(awk -F'\t' -v m="$m" -v t="$n" '$1 == m && $2 == t && $3 == 1 && $4 > 0 { print $5 }' "$COMMITS" |
					sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
				row="$row ${c:-} |"
			done
			echo "$row"
		done
	else
		echo "Not counted (no \`commit_stats\` in sysfs: a kernel before 6.0)."
	fi
	echo

	echo "## Targets of issue 16 (the commit floor)"
	echo
	for n in $TREES; do
		a=$(med apply "$n" 1) f=$(med inplace "$n" 1)
		[ -n "$a" ] && [ -n "$f" ] || continue
		v=$(ratio "$a" "$f")
		echo "- 1-file apply on the $(human "$n") tree within 2.0x of the floor: ${v}x ($(ms "$a") ms vs $(ms "$f") ms): $(awk -v v="$v" 'BEGIN { if (v <= 2.0) print "**met**"; else printf "**missed** by %.0f%%", (v / 2.0 - 1) * 100 }')."
	done
	for n in 1000 10000; do
		a=$(med apply "$n" 100) f=$(med inplace "$n" 100)
		[ -n "$a" ] && [ -n "$f" ] || continue
		v=$(ratio "$a" "$f")
		echo "- 100-file batch on the $(human "$n") tree within 1.1x of the floor: ${v}x ($(ms "$a") ms vs $(ms "$f") ms): $(awk -v v="$v" 'BEGIN { if (v <= 1.1) print "**met**"; else printf "**missed** by %.0f%%", (v / 1.1 - 1) * 100 }')."
	done
	echo

	echo "## Peak memory of apply"
	echo
	if [ -s "$MEMORY" ]; then
		echo "Maximum resident set size (\`/usr/bin/time -v\`) of \`btrfs-txn apply\` with 10,000 ops"
		echo "on the tree of $(human "$mem_tree") files, 3 runs each:"
		echo
		echo "| ops | spec size | max RSS (median) | max RSS (highest) |"
		echo "| --- | ---: | ---: | ---: |"
		for kind in copy write; do
			awk -F'\t' -v k="$kind" '$1 == k { print $3, $4 }' "$MEMORY" | sort -n | awk -v k="$kind" '
				{ r[NR] = $1; s = $2 }
				END { printf "| 10,000 `%s` ops%s | %.1f MiB | %.1f MiB | %.1f MiB |\n", k,
					k == "copy" ? " (contents from source files)" : " (contents inline, 1 KiB each)",
					s / 1048576, r[int((NR + 1) / 2)] / 1024, r[NR] / 1024 }'
		done
	else
		echo "Not measured (no tree of 10k to 100k files in this run)."
	fi
	echo

	echo "## Targets of issue 7"
	echo
	a100=$(med apply 100000 100) f100=$(med inplace 100000 100) r100=$(med reflink 100000 100)
	s100=$(med inplace-shared 100000 100)
	verdict() { awk -v v="$1" -v lim="$2" -v dir="$3" 'BEGIN {
		ok = dir == "le" ? v <= lim : v >= lim
		if (ok) print "**met**"; else if (dir == "le") printf "**missed** by %.0f%%", (v / lim - 1) * 100
		else printf "**missed** by %.0f%%", (1 - v / lim) * 100 }'; }
	if [ -n "$a100" ] && [ -n "$f100" ]; then
		v=$(ratio "$a100" "$f100")
		echo "- 100-file batch on the 100k tree, apply within 2.5x of the floor: ${v}x ($(ms "$a100") ms vs $(ms "$f100") ms): $(verdict "$v" 2.5 le)."
		if [ -n "$s100" ]; then
			echo "  For scale: the same in-place writes on a just-snapshotted tree (the diagnostic row)"
			echo "  take $(ms "$s100") ms, $(ratio "$s100" "$f100")x the floor, with no btrfs-txn involved."
		fi
	fi
	if [ -n "$a100" ] && [ -n "$r100" ]; then
		v=$(ratio "$r100" "$a100")
		echo "- same cell, apply at least 50x faster than the reflink copy: ${v}x ($(ms "$r100") ms vs $(ms "$a100") ms): $(verdict "$v" 50 ge)."
	fi
	for b in 1 100; do
		a=$(fmed apply-fixed 1000 "$b") z=$(fmed apply-fixed 100000 "$b")
		[ -n "$a" ] && [ -n "$z" ] || continue
		v=$(awk -v a="$z" -v b="$a" 'BEGIN { printf "%.0f", (a / b - 1) * 100 }')
		sa=$(med apply 1000 "$b") sz=$(med apply 100000 "$b")
		echo "- apply grows by less than 20% from the 1k to the 100k tree, batch of $b (the same files in every tree): ${v}% ($(ms "$a") -> $(ms "$z") ms): $(verdict "$v" 20 le)."
		if [ "$b" != 1 ] && [ -n "$sa" ] && [ -n "$sz" ]; then
			echo "  With the batch spread over the tree instead (first tables) it is $(awk -v a="$sz" -v b="$sa" 'BEGIN { printf "%+.0f", (a / b - 1) * 100 }')% ($(ms "$sa") -> $(ms "$sz") ms), and the floor $(awk -v a="$(med inplace 100000 "$b")" -v b="$(med inplace 1000 "$b")" 'BEGIN { printf "%+.0f", (a / b - 1) * 100 }')%: a spread batch changes more directories."
		fi
	done
	for n in $TREES; do
		f=$(med inplace "$n" 10000)
		for k in apply apply-copy; do
			a=$(med "$k" "$n" 10000)
			[ -n "$a" ] && [ -n "$f" ] || continue
			v=$(ratio "$a" "$f")
			echo "- 10,000-file batch on the $(human "$n") tree within 1.5x of the floor, $([ "$k" = apply ] && echo "contents inline (\`write\`)" || echo "contents from \`copy\` sources"): ${v}x ($(ms "$a") ms vs $(ms "$f") ms): $(verdict "$v" 1.5 le)."
		done
	done
	if [ -s "$MEMORY" ]; then
		rss=$(awk -F'\t' '$1 == "copy" && $3 > m { m = $3 } END { printf "%.1f", m / 1024 }' "$MEMORY")
		echo "- peak memory of a 10,000-op apply from copy sources under 32 MiB: ${rss} MiB (highest of 3): $(verdict "$rss" 32 le)."
	fi
	echo
	if [ -f "$TOP/bench/analysis${NAME_SUFFIX:-}.md" ]; then
		cat "$TOP/bench/analysis${NAME_SUFFIX:-}.md"
		echo
	fi
	echo "## Plot"
	echo
	echo "![latency against tree size](latency${NAME_SUFFIX:-}.png)"
} >"$OUT/results${NAME_SUFFIX:-}.md"

# One data file per batch size: tree, then each method's median in ms ("?" = none).
plot_cmds=
i=0
nb=$(echo $BATCHES | wc -w)
for b in $BATCHES; do
	data=$SCRATCH/plot-$b.dat
	for n in $TREES; do
		[ "$b" -le "$n" ] || continue
		line=$n
		for m in inplace replace apply rollback reflink copy apply-copy; do
			v=$(med "$m" "$n" "$b")
			line="$line $([ -n "$v" ] && awk -v s="$v" 'BEGIN { printf "%.3f", s * 1000 }' || echo '?')"
		done
		echo "$line"
	done >"$data"
	i=$((i + 1))
	plot_cmds="$plot_cmds
set title 'batch of $b changed file$([ "$b" = 1 ] || echo s)'
plot '$data' using 1:2 with linespoints lw 2 pt 7 title 'in place + syncfs (floor)', \\
     '' using 1:3 with linespoints lw 2 pt 5 title 'per-file replace + fsync', \\
     '' using 1:4 with linespoints lw 3 pt 9 title 'btrfs-txn apply', \\
     '' using 1:5 with linespoints lw 2 pt 11 dt 2 title 'btrfs-txn rollback', \\
     '' using 1:6 with linespoints lw 2 pt 13 title 'reflink copy + swap', \\
     '' using 1:7 with linespoints lw 2 pt 15 title 'plain copy + swap', \\
     '' using 1:8 with linespoints lw 2 pt 9 dt 3 title 'btrfs-txn apply, copy ops'"
done
gnuplot <<EOF
set terminal pngcairo size $((560 * nb)),520 noenhanced font ',10'
set output '$OUT/latency${NAME_SUFFIX:-}.png'
set datafile missing '?'
set logscale xy
set xlabel 'files in the tree'
set ylabel 'median latency (ms, log scale)'
set format x '%.0s%c'
set grid
set key top left font ',9'
set xrange [500:$(( $(echo $TREES | tr ' ' '\n' | sort -n | tail -1) * 2 ))]
set multiplot layout 1,$nb title "btrfs-txn vs alternatives on loop-backed Btrfs (${FILE_SIZE}-byte files, medians)\\n$(uname -sr), ${cpu//\"/}, $(nproc) cores, $STARTED"
$plot_cmds
unset multiplot
EOF
