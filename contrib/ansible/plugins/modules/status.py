#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
"""status: the btrfs_txn.deploy module that reports a target's state with
`btrfs-txn status --json`. It never changes anything."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: status
short_description: Report a btrfs-txn target's generation, kept generations, interrupted work and lock
description:
  - Runs C(btrfs-txn status TARGET --json) on the managed host and returns its keys at the top
    level of the result - C(generation), C(kept), C(interrupted), C(locked), C(lock_holder) and,
    while a transaction runs, C(running) and C(journal).
  - Never changes anything; C(changed) is always false.
version_added: "0.1.0"
notes:
  - Supports check mode (it changes nothing in either mode).
seealso:
  - module: btrfs_txn.deploy.apply
  - module: btrfs_txn.deploy.rollback
extends_documentation_fragment:
  - btrfs_txn.deploy.btrfs_txn
  - btrfs_txn.deploy.btrfs_txn.target
"""

EXAMPLES = r"""
- name: Where is the target now?
  btrfs_txn.deploy.status:
    target: /srv/app
  register: app

- name: Stop when a transaction was interrupted (btrfs-txn recover finishes or undoes it)
  ansible.builtin.assert:
    that: not app.interrupted
    fail_msg: "{{ app.target }} has an interrupted transaction {{ app.journal.txid }}"
"""

RETURN = r"""
target:
  description: The target's canonical path.
  returned: success
  type: str
generation:
  description: The target's current generation.
  returned: success
  type: int
  sample: 7
kept:
  description: The kept generations, oldest first (C(generation), C(created), ISO 8601 UTC, C(pinned), C(mounted)).
  returned: success
  type: list
  elements: dict
  sample: [{"generation": 6, "created": "2026-11-30T10:22:07Z", "pinned": false, "mounted": null}]
interrupted:
  description: A journal is present and no live process holds the lock (run M(btrfs_txn.deploy.apply) or C(btrfs-txn recover)).
  returned: success
  type: bool
journal:
  description: The interrupted or running transaction, C({"txid", "kind"}).
  returned: when interrupted or running
  type: dict
locked:
  description: Another run holds the target's lock.
  returned: success
  type: bool
lock_holder:
  description: Who holds the lock, as btrfs-txn names it.
  returned: when locked
  type: str
running:
  description: A transaction runs now.
  returned: when true
  type: bool
running_pid:
  description: The pid of the running transaction.
  returned: when running
  type: int
state_dir:
  description: Where btrfs-txn keeps the target's lock, journal, history and generations.
  returned: success
  type: str
rc:
  description: btrfs-txn's exit status.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.btrfs_txn.deploy.plugins.module_utils.btrfs_txn import (
    COMMON_ARGS, copy_keys, positional, run_checked)

KEYS = ("target", "state_dir", "uuid", "generation", "kept", "interrupted", "locked", "lock_holder",
        "running", "running_pid", "journal", "trans_interrupted")


def main():
    argument_spec = dict(target=dict(type="path", required=True))
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    doc = run_checked(module, "status", ["status", positional(module, "target", module.params["target"])])
    module.exit_json(**copy_keys(doc, KEYS, dict(changed=False, rc=0)))


if __name__ == "__main__":
    main()
