#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deps.sh: install the Debian packages btrfs-txn needs, only those missing.
# Usage: scripts/deps.sh [build|check|fuzz|vm|bench|package|fleet|fleet-bench|all]...   (default: all)
# Quick when everything is present: one dpkg-query, no apt.
set -euo pipefail

build=(gcc make pkg-config libjansson-dev libbtrfsutil-dev nettle-dev)
check=(libcmocka-dev btrfs-progs util-linux e2fsprogs perl jq python3 python3-jsonschema libcap2-bin attr strace clang libclang-rt-14-dev)
# libFuzzer targets (fuzz/): clang and its runtime, which holds libFuzzer.
fuzz=(clang libclang-rt-14-dev)
vm=(qemu-system-x86 busybox-static dmsetup kmod cpio btrfs-progs)
bench=(gnuplot-nox time jq btrfs-progs util-linux coreutils rsync)
# make pkgcheck: build the Debian packages (debian/control's Build-Depends, cmocka for
# the unit tests the build runs), lint them and their man pages, install them with apt
# and try them on a loop-backed Btrfs.
package=(debhelper dpkg-dev fakeroot lintian mandoc libcmocka-dev apt btrfs-progs util-linux jq)
# make fleetcheck and make bench-fleet: Ansible against sshd hosts on loopback addresses.
fleet=(ansible-core openssh-server openssh-client jq btrfs-progs util-linux python3)
# make bench-fleet also times ansible.posix.synchronize: Debian's ansible has ansible.posix.
fleet_bench=(ansible rsync)

wanted=()
[ $# -eq 0 ] && set -- all
for group in "$@"; do
	case "$group" in
	build) wanted+=("${build[@]}") ;;
	check) wanted+=("${build[@]}" "${check[@]}") ;;
	fuzz) wanted+=("${build[@]}" "${fuzz[@]}") ;;
	vm) wanted+=("${build[@]}" "${vm[@]}") ;;
	bench) wanted+=("${build[@]}" "${bench[@]}") ;;
	package) wanted+=("${build[@]}" "${package[@]}") ;;
	fleet) wanted+=("${build[@]}" "${fleet[@]}") ;;
	fleet-bench) wanted+=("${build[@]}" "${fleet[@]}" "${fleet_bench[@]}") ;;
	all) wanted+=("${build[@]}" "${check[@]}" "${fuzz[@]}" "${vm[@]}" "${bench[@]}" "${package[@]}" "${fleet[@]}") ;;
	*) echo "deps.sh: unknown group '$group' (build, check, fuzz, vm, bench, package, fleet, fleet-bench, all)" >&2; exit 2 ;;
	esac
done

missing=()
for pkg in $(printf '%s\n' "${wanted[@]}" | sort -u); do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}; run 'make deps' as root" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
