#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
"""rollback: the btrfs_txn.deploy module that swaps a target back to a kept
generation with `btrfs-txn rollback --json`."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: rollback
short_description: Swap a btrfs-txn target back to a kept generation atomically
description:
  - Runs C(btrfs-txn rollback TARGET [--to GEN] --json) on the managed host. The target switches
    to the tree of the kept generation in one step; the tree it replaces is kept as a generation
    too, so a rollback can itself be rolled back. The target's generation number grows; its
    content is that of generation I(to).
  - A rollback always changes the target, so the task is always C(changed). In check mode,
    C(btrfs-txn status) shows whether the generation is kept and nothing changes.
  - A failure fails the task with btrfs-txn's own message and exit status (C(rc)).
version_added: "0.1.0"
options:
  to:
    description:
      - The kept generation to go back to (C(--to)). Default - the generation the last
        transaction replaced.
    type: int
notes:
  - Supports check mode.
seealso:
  - module: btrfs_txn.deploy.apply
  - module: btrfs_txn.deploy.status
extends_documentation_fragment:
  - btrfs_txn.deploy.btrfs_txn
  - btrfs_txn.deploy.btrfs_txn.target
  - btrfs_txn.deploy.btrfs_txn.lock
"""

EXAMPLES = r"""
- name: Deploy
  btrfs_txn.deploy.apply:
    src: /etc/btrfs-txn/specs/app.json
  register: deploy

- name: Go back to the tree the deploy replaced
  btrfs_txn.deploy.rollback:
    target: /srv/app
    to: "{{ deploy.previous }}"
  when: deploy.previous is defined
"""

RETURN = r"""
generation:
  description: The target's generation now (in check mode, the current one).
  returned: success
  type: int
  sample: 9
previous:
  description: The generation the rollback replaced, kept as gen-PREVIOUS.
  returned: success, not in check mode
  type: int
  sample: 8
to:
  description: The generation whose tree the target holds now; null when I(to) was not given (in check mode, the one it would be).
  returned: success
  type: int
  sample: 7
txid:
  description: The transaction id of the rollback.
  returned: success, not in check mode
  type: str
concurrent_writes:
  description: Paths other processes changed that the new tree does not hold.
  returned: success, not in check mode
  type: list
  elements: str
result:
  description: btrfs-txn's whole C(--json) document.
  returned: when there is one
  type: dict
rc:
  description: btrfs-txn's exit status.
  returned: always
  type: int
exit_meaning:
  description: What that exit status means (btrfs-txn(8), EXIT STATUS).
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.btrfs_txn.deploy.plugins.module_utils.btrfs_txn import (
    COMMON_ARGS, TRANSACTION_KEYS, copy_keys, positional, run_checked)


def main():
    argument_spec = dict(
        target=dict(type="path", required=True),
        to=dict(type="int"),
        timeout=dict(type="int"),
        wait=dict(type="bool", default=True),
    )
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    target = positional(module, "target", params["target"])

    if module.check_mode:
        status = run_checked(module, "status", ["status", target])
        kept = [entry.get("generation") for entry in status.get("kept", [])]
        to = params["to"] if params["to"] is not None else (kept[-1] if kept else None)
        if to is None or to not in kept:
            module.fail_json(msg="btrfs-txn rollback: generation %s of %s is not kept (kept: %s)"
                             % (to, target, ", ".join(str(g) for g in kept) or "none"), rc=0)
        module.exit_json(changed=True, generation=status.get("generation"), to=to, rc=0)

    argv = ["rollback", target]
    if params["to"] is not None:
        argv += ["--to", str(params["to"])]
    if params["timeout"] is not None:
        argv += ["--timeout", str(params["timeout"])]
    if not params["wait"]:
        argv.append("--no-wait")
    doc = run_checked(module, "rollback", argv)
    module.exit_json(**copy_keys(doc, TRANSACTION_KEYS, dict(changed=True, rc=0, result=doc, to=params["to"])))


if __name__ == "__main__":
    main()
