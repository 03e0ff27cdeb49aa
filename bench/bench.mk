# SPDX-License-Identifier: MIT
# bench.mk: `make bench`, included by the top Makefile. See bench/README.md.
#
#   make bench                 trees of 1k, 10k, 100k files (about 5-6 minutes)
#   make bench BENCH_LARGE=1   adds a tree of 1M files (about 20 minutes; results-large.md)
#   make bench BENCH_RUNS=7    timed runs per method and cell (after one warm-up)
#   make bench BENCH_FLEET=1   adds the Ansible rollout table (make bench-fleet, about
#                              25 minutes; results-fleet.md)
#   make bench-transfer        send/receive/push against rsync (bench/transfer.sh;
#                              TRANSFER_FILES, TRANSFER_ROUNDS; results-transfer.md)

BENCH_LARGE ?= 0
BENCH_RUNS  ?= 5
BENCH_FLEET ?= 0
BENCH_UTIL  := $(BUILD)/bench/bench-util

.PHONY: bench bench-transfer
bench: deps-quiet $(BIN) $(BENCH_UTIL)
	@scripts/deps.sh bench
	@BTRFS_TXN=$(abspath $(BIN)) BENCH_UTIL=$(abspath $(BENCH_UTIL)) \
		BENCH_LARGE=$(BENCH_LARGE) BENCH_RUNS=$(BENCH_RUNS) bench/run.sh
	@BTRFS_TXN=$(abspath $(BIN)) BENCH_UTIL=$(abspath $(BENCH_UTIL)) bench/transfer.sh
	@if [ "$(BENCH_FLEET)" = 1 ]; then $(MAKE) --no-print-directory bench-fleet; fi

bench-transfer: deps-quiet $(BIN) $(BENCH_UTIL)
	@scripts/deps.sh bench
	@BTRFS_TXN=$(abspath $(BIN)) BENCH_UTIL=$(abspath $(BENCH_UTIL)) bench/transfer.sh

# Built with fixed flags, never sanitized: it is part of what is being timed.
$(BENCH_UTIL): bench/bench-util.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $< -lbtrfsutil
