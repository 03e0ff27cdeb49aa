# package.mk: make pkgcheck, the Debian packaging tests (tests/package/).
#
# t-man.sh lints the man pages with mandoc; t-deb.sh builds the packages from a copy
# of this tree under build/deb/ with dpkg-buildpackage, lints them with lintian,
# installs them with apt-get, tries them on a loop-backed Btrfs, purges them and
# checks that nothing is left and that APT stays quiet. t-deb.sh needs root and skips
# (exit 77) without it. deps.sh's "package" group has what they need.

.PHONY: pkgcheck
pkgcheck:
	@scripts/deps.sh package
	@tests/run-tests.sh tests/package/t-*.sh
