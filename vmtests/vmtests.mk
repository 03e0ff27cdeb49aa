# SPDX-License-Identifier: MIT
# vmtests.mk: the QEMU suite's targets, included by the top Makefile.
#
#   make vmimage           guest kernel + initramfs under build/vm (cached; see mkimage.sh)
#   make vmcheck           run every scenario in vmtests/scenarios (VMTEST_ARGS=... passes
#                          options to build/vmtest, e.g. VMTEST_ARGS=smoke for one scenario)
#   make vmclean           drop build/vm: the kernel download, the image, the run directories
#   make vmcheck-selftest  prove the harness itself: a hanging scenario is killed and
#                          reported as a timeout, failures and skips are reported as such
#
# The image builder hashes its own inputs, so calling it on every run is cheap and
# catches what make cannot see (a new Debian kernel, an upgraded btrfs-progs).

VM_DIR      := $(BUILD)/vm
VM_SRCS     := $(sort $(wildcard vmtests/*.c))
VM_OBJS     := $(VM_SRCS:%.c=$(BUILD)/obj/%.o)
VM_ORCH     := $(BUILD)/vmtest
VM_LIBS     := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
VM_NETTLE   := $(shell pkg-config --libs nettle 2>/dev/null || echo -lnettle)
VMTEST_ARGS ?=
# Reordered crash states per flush epoch that make vmcheck checks besides the log's
# prefixes (vmtests/reorder.h); VMTEST_REORDER=0 checks prefixes only. Small epochs
# run out of distinct subsets long before 512 (the suite: 5,847 states at 64, 8,167 at
# 256, about the same at 512), so the count grows with the workloads' flush epochs
# more than with this setting; with crash-batch's applies in a row the suite passes
# 10,000. The self-test needs far fewer to show each broken protocol
# (VMTEST_SELFTEST_REORDER).
VMTEST_REORDER ?= 512
VMTEST_SELFTEST_REORDER ?= 16
# The dm-log-writes replayer the host-side crash checker drives (vmtests/crashcheck.sh).
# The orchestrator links logreplay.c and reorder.c too; logreplay_cmd.c and manifest.c
# (the host's lw_manifest) are empty there.
VM_LOGREPLAY := $(BUILD)/logreplay

.PHONY: vmimage vmcheck vmcheck-selftest vm-deps

vm-deps:
	@scripts/deps.sh vm

$(VM_ORCH): $(VM_OBJS)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(VM_LIBS)

$(VM_LOGREPLAY): vmtests/logreplay_cmd.c vmtests/logreplay.c vmtests/logreplay.h vmtests/reorder.c \
		vmtests/reorder.h vmtests/manifest.c vmtests/manifest.h $(FLAGS_STAMP)
	$(CC) $(ALL_CFLAGS) -DLOGREPLAY_MAIN $(ALL_LDFLAGS) -o $@ vmtests/logreplay_cmd.c vmtests/logreplay.c \
		vmtests/reorder.c vmtests/manifest.c $(VM_NETTLE)

# The guest and the host-side crash checker run the test build (see the top Makefile:
# the fault points and step hooks the scenarios drive exist only there).
vmimage: vm-deps $(TEST_BIN)
	@vmtests/mkimage.sh image $(VM_DIR) $(TEST_BIN)

# The whole suite (no VMTEST_ARGS) ends with btrfs-txn-crashtest on the example in
# specs/examples/crashtest (vmcheck-crashtest alone).
vmcheck: vmimage $(TEST_BIN) $(VM_ORCH) $(VM_LOGREPLAY)
	@$(VM_ORCH) --image $(VM_DIR) --reorder $(VMTEST_REORDER) $(VMTEST_ARGS)$(if $(strip $(VMTEST_ARGS)),, && \
		vmtests/crashtest-selftest.sh)

.PHONY: vmcheck-crashtest
vmcheck-crashtest: vmimage $(TEST_BIN) $(VM_ORCH) $(VM_LOGREPLAY)
	@vmtests/crashtest-selftest.sh

vmcheck-selftest: vmimage $(VM_ORCH) $(VM_LOGREPLAY)
	@VMTEST_REORDER=$(VMTEST_SELFTEST_REORDER) vmtests/selftest.sh $(VM_ORCH) $(VM_DIR)

# btrfs-txn-crashtest: the command, its helpers beside each other in a directory of
# their own (the guest image is built on first use, into the user's cache), and its
# man page (installed with the others from docs/).
CRASHTEST_LIBEXEC := $(PREFIX)/lib/btrfs-txn-crashtest
CRASHTEST_FILES   := vmtests/crashcheck.sh vmtests/mkimage.sh vmtests/guest-init.sh \
                     vmtests/guest-logwrites.sh vmtests/guest-faults.sh
install: crashtest-install
uninstall: crashtest-uninstall
.PHONY: crashtest-install crashtest-uninstall
crashtest-install: $(VM_ORCH) $(VM_LOGREPLAY)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(CRASHTEST_LIBEXEC)
	sed -e 's|@CRASHTEST_LIBEXEC@|$(CRASHTEST_LIBEXEC)|' -e 's|@CRASHTEST_TXN@|$(PREFIX)/sbin/btrfs-txn|' \
		vmtests/crashtest.sh > $(DESTDIR)$(PREFIX)/bin/btrfs-txn-crashtest
	chmod 0755 $(DESTDIR)$(PREFIX)/bin/btrfs-txn-crashtest
	install -m 0755 $(VM_ORCH) $(VM_LOGREPLAY) $(DESTDIR)$(CRASHTEST_LIBEXEC)/
	install -m 0755 $(CRASHTEST_FILES) $(DESTDIR)$(CRASHTEST_LIBEXEC)/
crashtest-uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/btrfs-txn-crashtest
	rm -rf $(DESTDIR)$(CRASHTEST_LIBEXEC)

help: vm-help
.PHONY: vm-help
vm-help:
	@echo "make vmimage    build the QEMU guest (Debian cloud kernel + initramfs) under $(VM_DIR)"
	@echo "make vmcheck    run the QEMU scenarios (VMTEST_ARGS='smoke' runs one; see vmtests/README.md)"
	@echo "make vmcheck-selftest  check the QEMU harness itself (timeouts, failures, skips)"
	@echo "make vmcheck-crashtest btrfs-txn-crashtest on specs/examples/crashtest (part of make vmcheck)"

# make clean drops the orchestrator with the other binaries; the downloaded kernel and
# the image stay cached until make vmclean.
clean: vm-clean
.PHONY: vm-clean vmclean
vm-clean:
	rm -f $(VM_ORCH) $(VM_LOGREPLAY)
vmclean: vm-clean
	rm -rf $(VM_DIR)
