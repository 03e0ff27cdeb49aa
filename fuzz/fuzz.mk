# SPDX-License-Identifier: MIT
# fuzz.mk: libFuzzer targets (included by the top Makefile).
#
#   make fuzz                 build, then run each target for FUZZ_SECONDS (default 60)
#   make fuzz-build           build build/fuzz/fuzz_spec, fuzz_path, fuzz_trust and fuzz_escape
#   make fuzz FUZZ_SECONDS=1200 FUZZ_JOBS=1   a long session (the corpus is kept)
#
# The targets are built with clang, ASan and UBSan into build/fuzz, apart from the
# normal build. The corpus grows in build/fuzz/corpus-NAME and starts from the specs
# in specs/examples and specs/bad (fuzz_spec), from fuzz/seeds-path (fuzz_path) and
# from fuzz/seeds-trust (fuzz_trust) and fuzz/seeds-escape (fuzz_escape).
# A crash, leak or timeout is saved as build/fuzz/crash-* (or leak-*, timeout-*)
# and fails the run; `build/fuzz/fuzz_spec FILE` replays one.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -g -O1 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
                -DBTRFS_TXN_VERSION='"$(VERSION)"' -Itxn -Irunner $(PKG_CFLAGS) $(FUZZ_SAN)
# Only what spec loading and path checks need: the engine's system calls are not
# reachable from these targets, and leaving them out keeps the build quick.
FUZZ_SRCS    := $(wildcard runner/spec_*.c) txn/batch.c txn/path_check.c txn/trust.c txn/escape.c
FUZZ_OBJS    := $(FUZZ_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BINS    := $(FUZZ_BUILD)/fuzz_spec $(FUZZ_BUILD)/fuzz_path $(FUZZ_BUILD)/fuzz_trust \
                $(FUZZ_BUILD)/fuzz_escape
# Bounded per input: a slow input is a bug (timeout), so is one that eats memory.
FUZZ_RUN_OPTS ?= -timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=2560 -print_final_stats=1

.PHONY: fuzz fuzz-build fuzz-clean
# Keep the objects: make would otherwise delete them as intermediates.
.SECONDARY: $(FUZZ_OBJS)
fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

# fuzz_spec starts from every spec we have; fuzz_path from the committed seeds.
fuzz: $(FUZZ_BINS)
	@mkdir -p $(FUZZ_BUILD)/corpus-spec $(FUZZ_BUILD)/corpus-path $(FUZZ_BUILD)/corpus-trust \
		$(FUZZ_BUILD)/corpus-escape
	@cp -n specs/examples/*.json specs/bad/*.json $(FUZZ_BUILD)/corpus-spec/ 2>/dev/null || true
	cd $(FUZZ_BUILD) && ./fuzz_spec $(FUZZ_RUN_OPTS) -max_total_time=$(FUZZ_SECONDS) \
		-dict=../../fuzz/spec.dict -max_len=65536 corpus-spec
	cd $(FUZZ_BUILD) && ./fuzz_path $(FUZZ_RUN_OPTS) -max_total_time=$(FUZZ_SECONDS) \
		-max_len=8192 corpus-path ../../fuzz/seeds-path
	cd $(FUZZ_BUILD) && ./fuzz_trust $(FUZZ_RUN_OPTS) -max_total_time=$(FUZZ_SECONDS) \
		-max_len=8192 corpus-trust ../../fuzz/seeds-trust
	cd $(FUZZ_BUILD) && ./fuzz_escape $(FUZZ_RUN_OPTS) -max_total_time=$(FUZZ_SECONDS) \
		-max_len=8192 corpus-escape ../../fuzz/seeds-escape

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

# Rebuild an object when a header it includes changes.
-include $(FUZZ_OBJS:.o=.d)
