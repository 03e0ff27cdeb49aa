# btrfs-txn build. `make help` lists the targets.
#
# Sources are found by wildcard, so adding a file to txn/, runner/ or tests/unit/ needs
# no edit here. Areas with their own targets (vmtests/, bench/) keep them in an
# included fragment.

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
SANITIZE  ?= 0
# A sanitizer build lives apart, so it never replaces the plain build/btrfs-txn.
ifeq ($(SANITIZE),1)
BUILD     ?= build/san
else
BUILD     ?= build
endif

CC        ?= cc
PKGS      := jansson libbtrfsutil nettle
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -ljansson -lbtrfsutil -lnettle)

CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
             -D_GNU_SOURCE -DBTRFS_TXN_VERSION='"$(VERSION)"' -Itxn -Irunner $(PKG_CFLAGS) \
             -MMD -MP
LDLIBS    += $(PKG_LIBS)
ifeq ($(SANITIZE),1)
CFLAGS    += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS   += -fsanitize=address,undefined
endif

TXN_SRCS    := $(sort $(wildcard txn/*.c))
RUNNER_SRCS := $(sort $(filter-out runner/main.c,$(wildcard runner/*.c)))
TXN_OBJS    := $(TXN_SRCS:%.c=$(BUILD)/obj/%.o)
RUNNER_OBJS := $(RUNNER_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

LIBTXN      := $(BUILD)/libbtrfs-txn.a
LIBRUNNER   := $(BUILD)/librunner.a
BIN         := $(BUILD)/btrfs-txn

.PHONY: all deps check check-unit check-integration demo install uninstall clean help
all: deps-quiet $(BIN)

help:
	@echo "make            build $(BIN) and $(LIBTXN)"
	@echo "make deps       install the Debian packages needed (only the missing ones)"
	@echo "make check      unit tests, spec tests, integration tests on loop-backed Btrfs (root)"
	@echo "make demo       run the main job on a loop-backed Btrfs image under build/ (root)"
	@echo "make install    install to DESTDIR/PREFIX (PREFIX=$(PREFIX))"
	@echo "make clean      remove build/"
	@echo "SANITIZE=1      build with ASan and UBSan"

deps:
	@scripts/deps.sh all

# Called before building: installs what is missing, silent when nothing is.
.PHONY: deps-quiet
deps-quiet:
	@scripts/deps.sh check

# Rebuild everything when the flags change (e.g. SANITIZE=1 after a plain build).
FLAGS_STAMP := $(BUILD)/.flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@
.PHONY: FORCE
FORCE:

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBTXN): $(TXN_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIBRUNNER): $(RUNNER_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(BUILD)/obj/runner/main.o $(LIBRUNNER) $(LIBTXN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A unit test may wrap functions for mocking: a line " * wrap: ioctl fsync" in its
# header comment turns into -Wl,--wrap=ioctl -Wl,--wrap=fsync.
$(BUILD)/tests/%: tests/unit/%.c $(LIBRUNNER) $(LIBTXN) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CCLD  $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBRUNNER) $(LIBTXN) \
		$$(sed -n 's/^ \* wrap: //p' $< | tr ' ' '\n' | sed -n 's/^\(..*\)$$/-Wl,--wrap=\1/p') \
		$(LDLIBS) -lcmocka

# Tests find the binary under test through BTRFS_TXN.
export BTRFS_TXN = $(abspath $(BIN))

check: deps-quiet $(BIN) $(UNIT_BINS)
	@tests/run-tests.sh $(UNIT_BINS) tests/unit/t-*.sh tests/integration/t[0-9]*.sh

check-unit: deps-quiet $(BIN) $(UNIT_BINS)
	@tests/run-tests.sh $(UNIT_BINS) tests/unit/t-*.sh

check-integration: deps-quiet $(BIN)
	@tests/run-tests.sh tests/integration/t[0-9]*.sh

demo: deps-quiet $(BIN)
	@scripts/demo.sh

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/btrfs-txn
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/btrfs-txn
	install -m 0644 $(LIBTXN) $(DESTDIR)$(PREFIX)/lib/libbtrfs-txn.a
	install -m 0644 txn/*.h $(DESTDIR)$(PREFIX)/include/btrfs-txn/
	$(foreach page,$(wildcard docs/*.[0-9]),install -d $(DESTDIR)$(PREFIX)/share/man/man$(subst .,,$(suffix $(page))) && \
		install -m 0644 $(page) $(DESTDIR)$(PREFIX)/share/man/man$(subst .,,$(suffix $(page)))/;)
	# contrib/: helper scripts, the boot unit (not enabled), the bash completion, and
	# the APT and pacman hook configurations as opt-in copies (README: "Package-manager
	# hooks"); @HOOKDIR@ and @SBINDIR@ become the installed paths.
	install -d $(DESTDIR)$(PREFIX)/lib/btrfs-txn $(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system) \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/btrfs-txn/apt \
		$(DESTDIR)$(PREFIX)/share/btrfs-txn/pacman
	for f in apt/btrfs-txn-apt-hook:lib/btrfs-txn:0755 pacman/btrfs-txn-pacman-hook:lib/btrfs-txn:0755 \
		systemd/btrfs-txn-recover-all:lib/btrfs-txn:0755 apt/80btrfs-txn:share/btrfs-txn/apt:0644 \
		pacman/btrfs-txn-pre.hook:share/btrfs-txn/pacman:0644 pacman/btrfs-txn-post.hook:share/btrfs-txn/pacman:0644; do \
		src=$${f%%:*}; rest=$${f#*:}; dir=$(DESTDIR)$(PREFIX)/$${rest%%:*}; \
		sed -e 's|@HOOKDIR@|$(PREFIX)/lib/btrfs-txn|g' -e 's|@SBINDIR@|$(PREFIX)/sbin|g' contrib/$$src >$$dir/$${src##*/} && \
		chmod $${rest##*:} $$dir/$${src##*/} || exit 1; \
	done
	sed -e 's|@HOOKDIR@|$(PREFIX)/lib/btrfs-txn|g' contrib/systemd/btrfs-txn-recover.service \
		>$(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-recover.service
	chmod 0644 $(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-recover.service
	install -m 0644 contrib/bash-completion/btrfs-txn $(DESTDIR)$(PREFIX)/share/bash-completion/completions/btrfs-txn

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/btrfs-txn $(DESTDIR)$(PREFIX)/lib/libbtrfs-txn.a
	rm -rf $(DESTDIR)$(PREFIX)/include/btrfs-txn
	rm -rf $(DESTDIR)$(PREFIX)/lib/btrfs-txn $(DESTDIR)$(PREFIX)/share/btrfs-txn
	rm -f $(DESTDIR)$(or $(SYSTEMD_UNIT_DIR),$(PREFIX)/lib/systemd/system)/btrfs-txn-recover.service \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/btrfs-txn \
		$(foreach page,$(wildcard docs/*.[0-9]),$(DESTDIR)$(PREFIX)/share/man/man$(subst .,,$(suffix $(page)))/$(notdir $(page)))

clean:
	rm -rf $(BUILD)/obj $(BUILD)/tests $(BUILD)/.flags $(BIN) $(LIBTXN) $(LIBRUNNER)

-include $(wildcard vmtests/*.mk bench/*.mk)
-include $(wildcard fuzz/*.mk)
-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
