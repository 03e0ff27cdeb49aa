# SPDX-License-Identifier: MIT
# btrfs-txn build. `make help` lists the targets.
#
# Sources are found by wildcard, so adding a file to txn/, runner/ or tests/unit/ needs
# no edit here. Areas with their own targets (vmtests/, bench/) keep them in an
# included fragment.

VERSION   := 0.1.0
# The library's ABI version: its soname is libbtrfs-txn.so.$(SOVERSION), its file
# libbtrfs-txn.so.$(LIB_VERSION) (raise the second number when an ABI-compatible
# release adds to the API, the third for a fix; raise SOVERSION when it breaks).
SOVERSION := 0
LIB_VERSION := $(SOVERSION).1.0
PREFIX    ?= /usr/local
# Multiarch: e.g. make install LIBDIR=/usr/lib/x86_64-linux-gnu
LIBDIR    ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR   ?=
SANITIZE  ?= 0
# -Werror for developers and CI (a git checkout); packagers build a release tarball,
# or say WERROR=0, so a newer compiler's new warning does not break their build.
WERROR    ?= $(if $(wildcard .git),1,0)
# A sanitizer build lives apart, so it never replaces the plain build/btrfs-txn.
ifeq ($(SANITIZE),1)
BUILD     ?= build/san
else
BUILD     ?= build
endif
# The test build: the same sources with -DBTRFS_TXN_TESTING, which compiles in the
# switches the test suites drive (BTRFS_TXN_FAULT, BTRFS_TXN_STEP_HOOK,
# BTRFS_TXN_UNSAFE_SKIP_FLUSH). Only make check and make vmcheck use it; the command
# and library that get installed never contain them.
TEST_BUILD := $(BUILD)/test

CC        ?= cc
PKGS      := jansson libbtrfsutil nettle
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -ljansson -lbtrfsutil -lnettle)

# CPPFLAGS, CFLAGS and LDFLAGS are the caller's (e.g. dpkg-buildflags): they come
# after the project's own flags and are never replaced by them.
CFLAGS    ?= -O2 -g
TXN_CPPFLAGS := -D_GNU_SOURCE -DBTRFS_TXN_VERSION='"$(VERSION)"' -Itxn -Irunner $(PKG_CFLAGS)
TXN_CFLAGS   := -std=gnu11 -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow \
                -Wformat=2 -Wno-format-nonliteral -fPIC -fvisibility=hidden -MMD -MP
TXN_LDFLAGS  :=
ifeq ($(SANITIZE),1)
TXN_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
TXN_LDFLAGS += -fsanitize=address,undefined
endif
ALL_CFLAGS  = $(TXN_CPPFLAGS) $(CPPFLAGS) $(TXN_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(TXN_LDFLAGS) $(LDFLAGS)
LDLIBS    += $(PKG_LIBS)

TXN_SRCS    := $(sort $(wildcard txn/*.c))
RUNNER_SRCS := $(sort $(filter-out runner/main.c,$(wildcard runner/*.c)))
TXN_OBJS    := $(TXN_SRCS:%.c=$(BUILD)/obj/%.o)
RUNNER_OBJS := $(RUNNER_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

LIBTXN      := $(BUILD)/libbtrfs-txn.a
LIBTXN_SO   := $(BUILD)/libbtrfs-txn.so.$(LIB_VERSION)
LIBRUNNER   := $(BUILD)/librunner.a
BIN         := $(BUILD)/btrfs-txn
TEST_TXN_OBJS := $(TXN_SRCS:%.c=$(TEST_BUILD)/obj/%.o)
TEST_LIBTXN := $(TEST_BUILD)/libbtrfs-txn.a
TEST_BIN    := $(TEST_BUILD)/btrfs-txn
# What make install puts in include/btrfs-txn: the public API, nothing internal.
PUBLIC_HEADERS := txn/txn.h txn/batch.h

.PHONY: all deps check check-unit check-integration demo install uninstall clean help
# Plain make only builds: it never installs packages (a package build runs it as a
# user with the build dependencies present). The test and demo targets do.
all: $(BIN) $(LIBTXN) $(LIBTXN_SO)

help:
	@echo "make            build $(BIN), $(LIBTXN) and $(LIBTXN_SO)"
	@echo "make deps       install the Debian packages needed (only the missing ones)"
	@echo "make check      unit tests, spec tests, integration tests on loop-backed Btrfs (root)"
	@echo "make demo       run the main job on a loop-backed Btrfs image under build/ (root)"
	@echo "make pkgcheck   build, lint, install, try and purge the Debian packages (root)"
	@echo "make install    install to DESTDIR/PREFIX (PREFIX=$(PREFIX), LIBDIR=$(LIBDIR))"
	@echo "make clean      remove build/"
	@echo "SANITIZE=1      build with ASan and UBSan"
	@echo "WERROR=0        warnings are not errors (default: 1 in a git checkout)"

deps:
	@scripts/deps.sh all

# Called before testing: installs what is missing, silent when nothing is.
.PHONY: deps-quiet
deps-quiet:
	@scripts/deps.sh check

# Rebuild everything when the flags change (e.g. SANITIZE=1 after a plain build).
FLAGS_STAMP := $(BUILD)/.flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' > $@
.PHONY: FORCE
FORCE:

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(TEST_BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DBTRFS_TXN_TESTING -c -o $@ $<

$(LIBTXN): $(TXN_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(TEST_LIBTXN): $(TEST_TXN_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

# The shared library exports only what txn.h and batch.h declare (visibility).
$(LIBTXN_SO): $(TXN_OBJS)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -shared -Wl,-soname,libbtrfs-txn.so.$(SOVERSION) \
		-Wl,--no-undefined -o $@ $^ $(LDLIBS)
	ln -sf $(notdir $@) $(BUILD)/libbtrfs-txn.so.$(SOVERSION)
	ln -sf libbtrfs-txn.so.$(SOVERSION) $(BUILD)/libbtrfs-txn.so

$(LIBRUNNER): $(RUNNER_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

# The command links the static archive: one file to install, no library path.
$(BIN): $(BUILD)/obj/runner/main.o $(LIBRUNNER) $(LIBTXN)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(TEST_BIN): $(BUILD)/obj/runner/main.o $(LIBRUNNER) $(TEST_LIBTXN)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# A unit test may wrap functions for mocking: a line " * wrap: ioctl fsync" in its
# header comment turns into -Wl,--wrap=ioctl -Wl,--wrap=fsync.
# They link the test build of the engine, whose fault points some of them use.
$(BUILD)/tests/%: tests/unit/%.c $(LIBRUNNER) $(TEST_LIBTXN) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CCLD  $@"
	@$(CC) $(ALL_CFLAGS) -DBTRFS_TXN_TESTING $(ALL_LDFLAGS) -o $@ $< $(LIBRUNNER) $(TEST_LIBTXN) \
		$$(sed -n 's/^ \* wrap: //p' $< | tr ' ' '\n' | sed -n 's/^\(..*\)$$/-Wl,--wrap=\1/p') \
		$(LDLIBS) -lcmocka

# Tests find the binary under test through BTRFS_TXN: the test build. t-install.sh
# installs and inspects the normal build, found through BTRFS_TXN_BUILD.
export BTRFS_TXN = $(abspath $(TEST_BIN))
export BTRFS_TXN_BUILD = $(abspath $(BUILD))

check: deps-quiet all $(TEST_BIN) $(UNIT_BINS)
	@tests/run-tests.sh --complete $(UNIT_BINS) tests/unit/t-*.sh tests/integration/t[0-9]*.sh

check-unit: deps-quiet all $(TEST_BIN) $(UNIT_BINS)
	@tests/run-tests.sh --complete $(UNIT_BINS) tests/unit/t-*.sh

check-integration: deps-quiet $(TEST_BIN)
	@tests/run-tests.sh --complete tests/integration/t[0-9]*.sh

demo: deps-quiet $(BIN)
	@scripts/demo.sh

install: $(BIN) $(LIBTXN) $(LIBTXN_SO)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/btrfs-txn
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/btrfs-txn
	install -m 0644 $(LIBTXN) $(DESTDIR)$(LIBDIR)/libbtrfs-txn.a
	# The file, the soname link the loader follows, the link the linker (-l) follows.
	install -m 0755 $(LIBTXN_SO) $(DESTDIR)$(LIBDIR)/libbtrfs-txn.so.$(LIB_VERSION)
	ln -sf libbtrfs-txn.so.$(LIB_VERSION) $(DESTDIR)$(LIBDIR)/libbtrfs-txn.so.$(SOVERSION)
	ln -sf libbtrfs-txn.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libbtrfs-txn.so
	# The .pc is written here, not built: it holds the paths of this install.
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
		-e 's|@VERSION@|$(VERSION)|g' btrfs-txn.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/btrfs-txn.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/btrfs-txn.pc
	install -m 0644 $(PUBLIC_HEADERS) $(DESTDIR)$(INCLUDEDIR)/btrfs-txn/
	$(foreach page,$(wildcard docs/*.[0-9]),install -d $(DESTDIR)$(PREFIX)/share/man/man$(subst .,,$(suffix $(page))) && \
		install -m 0644 $(page) $(DESTDIR)$(PREFIX)/share/man/man$(subst .,,$(suffix $(page)))/;)
	# contrib/: helper scripts, the boot unit (not enabled), the bash completion, and
	# the APT and pacman hook configurations as opt-in copies (README: "Package-manager
	# hooks"); @HOOKDIR@ and @SBINDIR@ become the installed paths.
	install -d $(DESTDIR)$(PREFIX)/lib/btrfs-txn $(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system) \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/btrfs-txn/apt \
		$(DESTDIR)$(PREFIX)/share/btrfs-txn/pacman
	for f in apt/btrfs-txn-apt-hook:lib/btrfs-txn:0755 pacman/btrfs-txn-pacman-hook:lib/btrfs-txn:0755 \
		systemd/btrfs-txn-recover-all:lib/btrfs-txn:0755 systemd/btrfs-txn-gc-all:lib/btrfs-txn:0755 \
		apt/80btrfs-txn:share/btrfs-txn/apt:0644 \
		pacman/btrfs-txn-pre.hook:share/btrfs-txn/pacman:0644 pacman/btrfs-txn-post.hook:share/btrfs-txn/pacman:0644; do \
		src=$${f%%:*}; rest=$${f#*:}; dir=$(DESTDIR)$(PREFIX)/$${rest%%:*}; \
		sed -e 's|@HOOKDIR@|$(PREFIX)/lib/btrfs-txn|g' -e 's|@SBINDIR@|$(PREFIX)/sbin|g' contrib/$$src >$$dir/$${src##*/} && \
		chmod $${rest##*:} $$dir/$${src##*/} || exit 1; \
	done
	sed -e 's|@HOOKDIR@|$(PREFIX)/lib/btrfs-txn|g' contrib/systemd/btrfs-txn-recover.service \
		>$(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-recover.service
	chmod 0644 $(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-recover.service
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' 'contrib/systemd/btrfs-txn-recover@.service' \
		>'$(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-recover@.service'
	chmod 0644 '$(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-recover@.service'
	for unit in btrfs-txn-gc.service btrfs-txn-gc.timer; do \
		sed -e 's|@HOOKDIR@|$(PREFIX)/lib/btrfs-txn|g' contrib/systemd/$$unit \
			>$(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/$$unit && \
		chmod 0644 $(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/$$unit || exit 1; \
	done
	install -m 0644 contrib/bash-completion/btrfs-txn $(DESTDIR)$(PREFIX)/share/bash-completion/completions/btrfs-txn

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/btrfs-txn $(DESTDIR)$(LIBDIR)/libbtrfs-txn.a \
		$(DESTDIR)$(LIBDIR)/libbtrfs-txn.so.$(LIB_VERSION) \
		$(DESTDIR)$(LIBDIR)/libbtrfs-txn.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libbtrfs-txn.so \
		$(DESTDIR)$(LIBDIR)/pkgconfig/btrfs-txn.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/btrfs-txn
	rm -rf $(DESTDIR)$(PREFIX)/lib/btrfs-txn $(DESTDIR)$(PREFIX)/share/btrfs-txn
	rm -f $(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-recover.service \
		'$(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-recover@.service' \
		$(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-gc.service \
		$(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-gc.timer \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/btrfs-txn \
		$(foreach page,$(wildcard docs/*.[0-9]),$(DESTDIR)$(PREFIX)/share/man/man$(subst .,,$(suffix $(page)))/$(notdir $(page)))

clean:
	rm -rf $(BUILD)/obj $(BUILD)/tests $(BUILD)/.flags $(BIN) $(LIBTXN) $(LIBRUNNER) \
		$(LIBTXN_SO) $(BUILD)/libbtrfs-txn.so.$(SOVERSION) $(BUILD)/libbtrfs-txn.so $(TEST_BUILD)

-include $(wildcard vmtests/*.mk bench/*.mk)
-include $(wildcard fuzz/*.mk)
include tests/package/package.mk
-include $(shell find $(BUILD)/obj $(BUILD)/tests $(TEST_BUILD)/obj -name '*.d' 2>/dev/null)
-include $(wildcard tests/fleet/*.mk)
