#!/usr/bin/env bash
# fleet.sh: `make bench-fleet`: what atomicity costs in an Ansible rollout.
#
# On a fleet of 4, then 8 hosts (tests/fleet/fleet-lib.sh: sshd in its own mount
# namespace with its own loop-backed Btrfs, on 127.0.0.2..9), each holding a tree of
# BENCH_FLEET_TREE (1000) files of 1 KiB, it times one ansible-playbook run that changes the
# same BENCH_FLEET_FILES (20) of them on every host, by:
#   btrfs-txn     btrfs_txn.deploy.apply, the files as write ops of an inline spec:
#                 plan, then one atomic switch per host (a generation kept)
#   copy          ansible.builtin.copy of a directory holding the changed files into a
#                 plain copy of the tree: file by file, in place, not atomic
#   synchronize   ansible.posix.synchronize (rsync over ssh) of the same directory,
#                 when Debian's `ansible` package provides ansible.posix and rsync is
#                 there (make bench-fleet installs both); not atomic either
# Each run flips the files between two contents, so every run changes all of them.
# After one warm-up run per method, BENCH_FLEET_RUNS runs of each, round-robin, timed
# from the start of ansible-playbook to its exit (ssh connections are made afresh:
# ControlPersist masters are stopped between runs).
#
# Writes bench/results-fleet.md (BENCH_OUT to put it elsewhere); raw times stay under
# build/fleet-bench/. Needs root, loop devices, Btrfs, sshd and ansible-core.
set -u
export LC_ALL=C.UTF-8

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../tests/integration/lib.sh
. "$TOP/tests/integration/lib.sh"
FLEET=$TOP/build/fleet-bench/fleet
# Not make fleetcheck's port, so that both can run at once.
FLEET_PORT=${FLEET_PORT:-42122}
# shellcheck source=../tests/fleet/fleet-lib.sh
. "$TOP/tests/fleet/fleet-lib.sh"

RUNS=${BENCH_FLEET_RUNS:-3}
FILES=${BENCH_FLEET_FILES:-20}
TREE=${BENCH_FLEET_TREE:-1000}
SIZES=${BENCH_FLEET_HOSTS:-"4 8"}
OUT=${BENCH_OUT:-$TOP/bench}
RAW=$TOP/build/fleet-bench
fleet_require
mkdir -p "$RAW"
rm -f "$RAW"/times.*

methods="btrfs-txn copy"
if [ -d /usr/lib/python3/dist-packages/ansible_collections/ansible/posix ] && command -v rsync >/dev/null; then
	methods="$methods synchronize"
else
	echo "# synchronize left out: needs ansible.posix (Debian's ansible package) and rsync" >&2
fi

# content FLIP INDEX: the 1 KiB content of file INDEX in flip FLIP.
make_release() {
	local flip=$1 dir=$RAW/release-$1 i
	rm -rf "$dir" && mkdir -p "$dir/files"
	python3 - "$flip" "$FILES" "$TREE" "$dir" <<-'EOF'
		import json, sys
		flip, files, tree, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
		step = max(1, tree // files)
		ops = []
		for n in range(files):
		    name = "f%05d" % (n * step)
		    content = ("%s %s " % (flip, name) * 200)[:1023] + "\n"
		    ops.append({"op": "write", "path": "d%02d/%s" % (n * step % 10, name), "content": content, "mode": "0644"})
		    import os
		    os.makedirs("%s/files/d%02d" % (out, n * step % 10), exist_ok=True)
		    with open("%s/files/d%02d/%s" % (out, n * step % 10, name), "w") as f:
		        f.write(content)
		json.dump({"version": 1, "description": "bench flip " + flip, "ops": ops}, open(out + "/spec.json", "w"))
	EOF
}

# The tree every host starts with: TREE files in 10 directories, the same in the
# managed target and in the plain directories copy and synchronize write to.
seed_hosts() {
	local host
	for host in "${!FLEET_PID[@]}"; do
		fleet_in "$host" python3 - "$FLEET_TARGET" "$TREE" <<-'EOF' || return 1
			import os, sys
			root, tree = sys.argv[1], int(sys.argv[2])
			for n in range(tree):
			    d = "%s/d%02d" % (root, n % 10)
			    os.makedirs(d, exist_ok=True)
			    with open("%s/f%05d" % (d, n), "w") as f:
			        f.write(("seed f%05d " % n * 100)[:1023] + "\n")
		EOF
		fleet_in "$host" sh -c "cp -a '$FLEET_TARGET' '$FLEET_MNT/plain-copy' && cp -a '$FLEET_TARGET' '$FLEET_MNT/plain-sync' && sync" || return 1
	done
}

cat >"$RAW/btrfs-txn.yml" <<EOF
- hosts: fleet
  gather_facts: false
  tasks:
    - btrfs_txn.deploy.apply:
        target: "{{ target }}"
        spec: "{{ lookup('ansible.builtin.file', release ~ '/spec.json') | from_json }}"
EOF
cat >"$RAW/copy.yml" <<EOF
- hosts: fleet
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        src: "{{ release }}/files/"
        dest: "$FLEET_MNT/plain-copy/"
        mode: "0644"
EOF
cat >"$RAW/synchronize.yml" <<EOF
- hosts: fleet
  gather_facts: false
  tasks:
    - ansible.posix.synchronize:
        src: "{{ release }}/files/"
        dest: "$FLEET_MNT/plain-sync/"
        checksum: true
        use_ssh_args: true
EOF

# stop_masters: end the ssh control masters, so every run connects afresh.
stop_masters() {
	local host
	for host in "${!FLEET_PID[@]}"; do
		ssh -F /dev/null -o ControlPath="$FLEET/cp/$(fleet_addr "$host")-$FLEET_PORT" -O exit \
			"$(fleet_addr "$host")" >/dev/null 2>&1
	done
	return 0
}

# timed_run HOSTS METHOD FLIP: one playbook run; appends its seconds to the raw file.
timed_run() {
	local n=$1 method=$2 flip=$3 start end
	stop_masters
	start=$(date +%s.%N)
	ansible-playbook "$RAW/$method.yml" -e release="$RAW/release-$flip" >"$RAW/last-$method.log" 2>&1 ||
		{ echo "Bail out! $method failed:"; tail -20 "$RAW/last-$method.log" | sed 's/^/# /'; exit 1; }
	end=$(date +%s.%N)
	awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }' >>"$RAW/times.$n.$method"
	[ "$(grep -c "changed=1 " "$RAW/last-$method.log")" = "$n" ] ||
		{ echo "Bail out! $method changed nothing:"; tail -20 "$RAW/last-$method.log" | sed 's/^/# /'; exit 1; }
}

make_release a && make_release b || exit 1
for n in $SIZES; do
	echo "# $n hosts: starting the fleet" >&2
	fleet_start "$n"
	fleet_install_collection >"$RAW/galaxy.log" 2>&1 || { echo "Bail out! cannot install the collection"; exit 1; }
	seed_hosts || { echo "Bail out! cannot seed the hosts"; exit 1; }
	flip=a
	for run in $(seq 0 "$RUNS"); do
		for method in $methods; do
			timed_run "$n" "$method" "$flip"
		done
		[ "$run" -eq 0 ] && for method in $methods; do : >"$RAW/times.$n.$method"; done
		flip=$([ "$flip" = a ] && echo b || echo a)
		echo "# $n hosts: run $run of $RUNS done" >&2
	done
	# The next size starts a fresh fleet (the trap undoes this one at exit too).
	for host in "${!FLEET_PID[@]}"; do
		_fleet_stop_host "$host" "${FLEET_PID[$host]}"
	done
	for i in $(seq "$n"); do
		for dev in $(losetup -j "$FLEET/h$i/disk.img" -O NAME -n); do
			losetup -d "$dev" 2>/dev/null
		done
	done
	FLEET_PID=()
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
{
	echo "# Fleet rollout: btrfs-txn against Ansible's copy and synchronize"
	echo
	echo "Made by \`make bench-fleet\` (bench/fleet.sh) on $(date -u +%Y-%m-%d), $(nproc) CPUs,"
	echo "kernel $(uname -r), $(ansible --version | head -1 | tr -d '[]'), $(ssh -V 2>&1 | cut -d, -f1)."
	echo "Each host: sshd in its own mount namespace on a loopback address, its own"
	echo "loop-backed Btrfs, a tree of $TREE files of 1 KiB; every run changes the same $FILES of"
	echo "them on every host. Seconds from the start of ansible-playbook to its exit (fresh ssh"
	echo "connections, pipelining on, forks 16), median of $RUNS runs after one warm-up, min-max in"
	echo "brackets. All hosts are on one machine: the times include every host's work on its CPUs,"
	echo "and other jobs' (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))."
	echo
	echo "| hosts | method | seconds | per host | atomic |"
	echo "| ---: | --- | ---: | ---: | --- |"
	for n in $SIZES; do
		for method in $methods; do
			f=$RAW/times.$n.$method
			med=$(median <"$f")
			min=$(sort -g "$f" | head -1)
			max=$(sort -g "$f" | tail -1)
			atomic=no
			[ "$method" = btrfs-txn ] && atomic="yes (all $FILES files switch at once; previous tree kept)"
			printf '| %s | %s | %.2f [%.2f-%.2f] | %.2f | %s |\n' "$n" "$method" "$med" "$min" "$max" \
				"$(awk -v m="$med" -v n="$n" 'BEGIN { print m / n }')" "$atomic"
		done
	done
	echo
	echo "btrfs-txn's run is one module run per host (plan, then apply with its flushes);"
	echo "copy sends and installs each file on its own (one module call per file);"
	echo "synchronize runs one rsync per host from the control node. Only btrfs-txn leaves every"
	echo "host with either the whole old or the whole new tree at every instant, and a generation"
	echo "to roll back to. Raw times: build/fleet-bench/times.HOSTS.METHOD."
} >"$OUT/results-fleet.md"
cat "$OUT/results-fleet.md"
