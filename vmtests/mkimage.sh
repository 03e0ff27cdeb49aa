#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# mkimage.sh: build the QEMU guest (kernel + initramfs) that vmtests boot.
#
#   vmtests/mkimage.sh image OUTDIR BTRFS_TXN_BIN
#       Resolve Debian's current cloud kernel (the package linux-image-cloud-amd64
#       depends on), download it with apt-get into OUTDIR/dl, extract vmlinuz and the
#       modules vmtests need, and pack an initramfs with busybox, btrfs-progs, dmsetup,
#       btrfs-txn, the guest init and every scenario. Products: OUTDIR/vmlinuz and
#       OUTDIR/initramfs.gz. A hash of every input is kept in OUTDIR/image.stamp so a
#       second run with nothing changed costs one apt-cache call and a few sha256sums.
#
#   vmtests/mkimage.sh modules MODDIR OUT.cpio.gz
#       Pack the modules of another kernel (a lib/modules/VERSION directory) into a
#       cpio archive the orchestrator appends to the initramfs for --modules: the
#       kernel unpacks concatenated archives in order, so its module list replaces ours
#       (the modules themselves go to a directory named after their kernel version).
#
# Nothing here needs the network except the one apt-get download per kernel update.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

# Modules the guest loads; their dependencies are added from modules.dep.
wanted_modules=(virtio_pci virtio_blk btrfs dm-mod dm-log-writes dm-flakey dm-delay)

die() { echo "mkimage: $*" >&2; exit 1; }

# resolve_modules MODDIR: print the wanted modules' paths (relative to MODDIR), each
# after its dependencies, once. Missing ones that are built in are skipped quietly.
resolve_modules() {
	local moddir=$1
	[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep is missing (run depmod)"
	awk -v wanted="${wanted_modules[*]}" '
		function norm(s) { gsub(/-/, "_", s); return s }
		function base(p,   n, a) { n = split(p, a, "/"); p = a[n]; sub(/\.ko(\.(xz|zst|gz))?$/, "", p); return norm(p) }
		function visit(p,   n, d, i) {
			if (p in seen) return
			seen[p] = 1
			n = split(deps[p], d, " ")
			# modules.dep lists the closest dependency first: load from the end.
			for (i = n; i >= 1; i--) visit(d[i])
			print p
		}
		FILENAME ~ /modules\.builtin$/ { builtin[base($1)] = 1; next }
		{ p = $1; sub(/:$/, "", p); deps[p] = ""; for (i = 2; i <= NF; i++) deps[p] = deps[p] " " $i
		  byname[base(p)] = p }
		END {
			n = split(wanted, w, " ")
			for (i = 1; i <= n; i++) {
				m = norm(w[i])
				if (m in byname) visit(byname[m])
				else if (!(m in builtin)) { print "mkimage: module " w[i] " not found" > "/dev/stderr"; bad = 1 }
			}
			exit bad
		}' "$moddir/modules.dep" $( [ -f "$moddir/modules.builtin" ] && echo "$moddir/modules.builtin")
}

# stage_modules MODDIR ROOT KVER: copy the resolved modules, uncompressed, under
# ROOT/lib/vmtest-modules/KVER and write their load order (absolute paths in the
# guest) to ROOT/etc/vmtest/modules.list, and KVER to ROOT/etc/vmtest/kernel-version.
stage_modules() {
	local moddir=$1 root=$2 kver=$3 rel name n=0 list dest
	list=$(resolve_modules "$moddir") || die "cannot resolve modules in $moddir"
	dest=/lib/vmtest-modules/$kver
	mkdir -p "$root$dest" "$root/etc/vmtest"
	: > "$root/etc/vmtest/modules.list"
	for rel in $list; do
		n=$((n + 1))
		name=$(printf '%02d-%s' "$n" "$(basename "$rel")")
		case "$rel" in
		*.ko) cp "$moddir/$rel" "$root$dest/$name" ;;
		*.ko.xz) name=${name%.xz}; xz -dc "$moddir/$rel" > "$root$dest/$name" ;;
		*.ko.zst) name=${name%.zst}; zstd -qdc "$moddir/$rel" > "$root$dest/$name" ;;
		*.ko.gz) name=${name%.gz}; gzip -dc "$moddir/$rel" > "$root$dest/$name" ;;
		*) die "unexpected module file $rel" ;;
		esac
		echo "$dest/$name" >> "$root/etc/vmtest/modules.list"
	done
	echo "$kver" > "$root/etc/vmtest/kernel-version"
}

pack() { # pack ROOT OUT: newc cpio, gzip, written atomically
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 > "$2.tmp"
	mv "$2.tmp" "$2"
}

# The package linux-image-cloud-amd64 depends on; apt lists are refreshed once if
# apt-cache does not know it (fresh machine). Prints nothing if it cannot tell.
resolve_kernel_package() {
	local pkg
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
	if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
	fi
	echo "$pkg"
}

# copy_binary ROOT PATH DEST: a program and the shared libraries it needs, at the
# paths the dynamic loader will look for them.
copy_binary() {
	local root=$1 bin=$2 dest=$3 lib
	install -D -m 0755 "$bin" "$root/$dest"
	for lib in $(ldd "$bin" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }'); do
		[ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	done
}

cmd_image() {
	local out=$1 txn_bin=$2
	[ -x "$txn_bin" ] || die "$txn_bin is not built"
	mkdir -p "$out/dl"
	out=$(cd "$out" && pwd)

	local pkg deb
	pkg=${VMTEST_KERNEL_PACKAGE:-$(resolve_kernel_package)}
	if [ -z "$pkg" ]; then
		# Offline with a cached download: use the newest one rather than fail.
		deb=$(ls -t "$out"/dl/linux-image-*.deb 2>/dev/null | head -n1 || true)
		[ -n "$deb" ] || die "cannot resolve linux-image-cloud-amd64 (run apt-get update as root)"
		echo "mkimage: apt-cache cannot resolve the kernel; using cached $(basename "$deb")" >&2
	else
		deb=$(ls "$out"/dl/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
		if [ -z "$deb" ]; then
			echo "mkimage: downloading $pkg" >&2
			# apt-get download writes into the current directory; _apt cannot always
			# write there, which only costs a warning.
			(cd "$out/dl" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
			deb=$(ls "$out"/dl/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
			[ -n "$deb" ] || die "apt-get download $pkg failed"
		fi
	fi

	local busybox mkfs btrfs dmsetup
	busybox=$(command -v busybox) || die "busybox-static is not installed"
	mkfs=$(command -v mkfs.btrfs) || die "btrfs-progs is not installed"
	btrfs=$(command -v btrfs) || die "btrfs-progs is not installed"
	dmsetup=$(command -v dmsetup) || die "dmsetup is not installed"

	# Everything that ends up in the image; the stamp is their hash. (An installed
	# btrfs-txn-crashtest has no scenario directories: its scenario comes as a payload.)
	shopt -s nullglob
	local stamp
	stamp=$( {
		echo "$deb"
		sha256sum "$busybox" "$mkfs" "$btrfs" "$dmsetup" | awk '{ print $1 }'
		sha256sum "$txn_bin" | awk '{ print $1 }'
		# Named from here, so make (vmtests/mkimage.sh) and btrfs-txn-crashtest (an
		# absolute path) find the same image current instead of rebuilding it in turn.
		(cd "$here" && sha256sum mkimage.sh guest-init.sh guest-faults.sh guest-logwrites.sh scenarios*/*.sh)
		for b in "$mkfs" "$btrfs" "$dmsetup" "$txn_bin"; do
			ldd "$b" | awk '/=> \// { print $3 }' | xargs -r readlink -f | xargs -r sha256sum
		done
	} | sha256sum | cut -d' ' -f1)
	if [ -f "$out/image.stamp" ] && [ "$(cat "$out/image.stamp")" = "$stamp" ] &&
	   [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.gz" ]; then
		exit 0
	fi
	echo "mkimage: building guest image from $(basename "$deb")" >&2

	local kdir="$out/kernel"
	rm -rf "$kdir" "$out/root"
	mkdir -p "$kdir"
	dpkg-deb -x "$deb" "$kdir"
	local kver
	kver=$(ls "$kdir/lib/modules" | head -n1)
	[ -n "$kver" ] || die "no modules in $deb"
	# The package ships no modules.dep (postinst makes it): compute it here.
	depmod -b "$kdir" "$kver"
	cp "$kdir/boot/vmlinuz-$kver" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"

	local root="$out/root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,mnt,run,etc/vmtest,vmtest}
	install -m 0755 "$busybox" "$root/bin/busybox"
	copy_binary "$root" "$mkfs" bin/mkfs.btrfs
	copy_binary "$root" "$btrfs" bin/btrfs
	copy_binary "$root" "$dmsetup" bin/dmsetup
	copy_binary "$root" "$txn_bin" bin/btrfs-txn
	install -m 0755 "$here/guest-init.sh" "$root/init"
	# Helpers the fault scenarios source (power-*, kill-*, fault-*, ...).
	install -m 0644 "$here/guest-faults.sh" "$root/vmtest/guest-faults.sh"
	# Helpers the crash-* scenarios source (dm-log-writes recording).
	install -m 0644 "$here/guest-logwrites.sh" "$root/vmtest/guest-logwrites.sh"
	local dir
	for dir in "$here"/scenarios*/; do
		mkdir -p "$root/vmtest/$(basename "$dir")"
		cp "$dir"*.sh "$root/vmtest/$(basename "$dir")/" 2>/dev/null || true
	done
	stage_modules "$kdir/lib/modules/$kver" "$root" "$kver"
	pack "$root" "$out/initramfs.gz"
	rm -rf "$root"
	echo "$stamp" > "$out/image.stamp"
	echo "mkimage: $out/vmlinuz ($kver), $out/initramfs.gz ($(du -h "$out/initramfs.gz" | cut -f1))" >&2
}

cmd_modules() {
	local moddir=$1 outfile=$2
	[ -d "$moddir" ] || die "$moddir is not a directory"
	if [ ! -f "$moddir/modules.dep" ]; then
		# A bare lib/modules/VERSION tree: let depmod compute modules.dep in a copy.
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		local kver
		kver=$(basename "$moddir")
		mkdir -p "$tmp/lib/modules"
		cp -a "$moddir" "$tmp/lib/modules/$kver"
		depmod -b "$tmp" "$kver"
		moddir="$tmp/lib/modules/$kver"
	fi
	local root
	root=$(mktemp -d)
	stage_modules "$moddir" "$root" "$(basename "$moddir")"
	pack "$root" "$outfile"
	rm -rf "$root"
}

case "${1:-}" in
image) [ $# -eq 3 ] || die "usage: $0 image OUTDIR BTRFS_TXN_BIN"; cmd_image "$2" "$3" ;;
modules) [ $# -eq 3 ] || die "usage: $0 modules MODDIR OUT.cpio.gz"; cmd_modules "$2" "$3" ;;
*) die "usage: $0 image OUTDIR BTRFS_TXN_BIN | modules MODDIR OUT.cpio.gz" ;;
esac
