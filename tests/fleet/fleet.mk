# fleet.mk: `make fleetcheck` and the Ansible collection's install, included by the
# top Makefile. See tests/fleet/README.md and contrib/ansible/README.md.
#
#   make fleetcheck     the btrfs_txn.deploy collection against 4 sshd hosts on loopback
#                       addresses, each in its own mount namespace with its own Btrfs (root)
#   make bench-fleet    rollout time for 4 and 8 hosts against Ansible's copy and
#                       synchronize (bench/fleet.sh; results in bench/results-fleet.md)

# Where `make install` puts the collection: Ansible looks in
# /usr/share/ansible/collections by default, so with PREFIX=/usr it is found as it is.
ANSIBLE_COLLECTIONS_DIR ?= $(PREFIX)/share/ansible/collections
ANSIBLE_COLLECTION_DEST := $(DESTDIR)$(ANSIBLE_COLLECTIONS_DIR)/ansible_collections/btrfs_txn/deploy
ANSIBLE_COLLECTION_FILES := $(shell cd contrib/ansible 2>/dev/null && find . -type f \
	! -name '*.pyc' ! -path '*/__pycache__/*' ! -name '*.tar.gz' | sort)

.PHONY: fleetcheck bench-fleet install-ansible-collection uninstall-ansible-collection
fleetcheck: $(BIN)
	@scripts/deps.sh fleet
	@FLEET_BIN=$(abspath $(BIN)) BTRFS_TXN=$(abspath $(BIN)) tests/fleet/run.sh

bench-fleet: $(BIN)
	@scripts/deps.sh fleet-bench
	@FLEET_BIN=$(abspath $(BIN)) bench/fleet.sh

install: install-ansible-collection
install-ansible-collection:
	for f in $(ANSIBLE_COLLECTION_FILES); do \
		install -D -m 0644 contrib/ansible/$$f $(ANSIBLE_COLLECTION_DEST)/$$f || exit 1; \
	done

uninstall: uninstall-ansible-collection
uninstall-ansible-collection:
	rm -rf $(ANSIBLE_COLLECTION_DEST)
	# The directories above it, while empty, up to ANSIBLE_COLLECTIONS_DIR's parent.
	-for d in $(DESTDIR)$(ANSIBLE_COLLECTIONS_DIR)/ansible_collections/btrfs_txn \
		$(DESTDIR)$(ANSIBLE_COLLECTIONS_DIR)/ansible_collections $(DESTDIR)$(ANSIBLE_COLLECTIONS_DIR) \
		$(patsubst %/,%,$(dir $(DESTDIR)$(ANSIBLE_COLLECTIONS_DIR))); do rmdir $$d 2>/dev/null || true; done

help: fleet-help
.PHONY: fleet-help
fleet-help:
	@echo "make fleetcheck  the Ansible collection against 4 sshd hosts on loopback addresses (root)"
	@echo "make bench-fleet rollout time for 4 and 8 hosts against Ansible's copy and synchronize"
