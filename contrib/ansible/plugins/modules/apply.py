#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
"""apply: the btrfs_txn.deploy module that applies a spec with `btrfs-txn apply`.

It asks `btrfs-txn plan` first: an empty plan is changed=false and nothing runs;
check mode stops after the plan; otherwise `btrfs-txn apply` does the work. Every
answer is read from the command's --json document (docs/json.md)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: apply
short_description: Apply a btrfs-txn spec to a Btrfs subvolume atomically
description:
  - Runs C(btrfs-txn plan) and, when the plan changes something, C(btrfs-txn apply) on the
    managed host, both with C(--json). The target switches from the whole old tree to the whole
    new tree in one step, or not at all; the replaced tree is kept as a generation for
    M(btrfs_txn.deploy.rollback).
  - The task is C(changed) only when the plan has an op whose action is not C(unchanged), so a
    second run of the same spec reports C(changed=false) and takes no new generation. The plan is
    C(btrfs-txn plan)'s own - every op kind but C(rename) is C(unchanged) when applying it would
    change nothing (btrfs-txn(8), plan), an op after unchanged ones included; a C(rename) cannot be
    applied twice, so a spec with one is not for repeated runs.
  - Check mode runs only the plan and changes nothing. Diff mode shows one entry per path the plan
    changes.
  - A failed precondition, verify hook, lock or any other error fails the task with btrfs-txn's own
    one-line message and its exit status (C(rc)); see btrfs-txn(8), EXIT STATUS.
version_added: "0.1.0"
options:
  spec:
    description:
      - The spec as a dictionary (btrfs-txn-spec(5)). It is handed to btrfs-txn on standard input,
        never written to a file.
      - Exactly one of I(spec) and I(src) is required.
    type: dict
  src:
    description:
      - Path of a spec file on the managed host. btrfs-txn trusts it only as sshd's StrictModes
        would (owned by root, writable by no one else, the same for every directory above it).
    type: path
  target:
    description:
      - The subvolume to change (C(--target)); needed when the spec has no C(target).
    type: path
  keep:
    description: Generations to keep (C(--keep)); default the spec's, else 5.
    type: int
notes:
  - Supports check mode and diff mode.
seealso:
  - module: btrfs_txn.deploy.rollback
  - module: btrfs_txn.deploy.status
extends_documentation_fragment:
  - btrfs_txn.deploy.btrfs_txn
  - btrfs_txn.deploy.btrfs_txn.lock
"""

EXAMPLES = r"""
- name: Deploy the nginx configuration atomically
  btrfs_txn.deploy.apply:
    target: /srv/www/conf
    spec:
      version: 1
      description: "nginx config r42"
      ops:
        - {op: write, path: nginx.conf, content: "worker_processes 4;\n", mode: "0644"}
        - {op: mkdir, path: conf.d, parents: true}
      verify:
        argv: [nginx, -t, -p, "{staging}", -c, "{staging}/nginx.conf"]
        timeout: 30
  register: deploy

- name: Apply a spec file already on the host, failing at once if another run holds the lock
  btrfs_txn.deploy.apply:
    src: /etc/btrfs-txn/specs/app.json
    wait: false

- name: Show what would change, changing nothing
  btrfs_txn.deploy.apply:
    src: /etc/btrfs-txn/specs/app.json
  check_mode: true
  diff: true
"""

RETURN = r"""
target:
  description: The target, as the plan named it.
  returned: always
  type: str
  sample: /srv/www/conf
plan:
  description: The plan's ops (C(btrfs-txn plan --json)), one per op of the spec.
  returned: always
  type: list
  elements: dict
  sample: [{"index": 0, "op": "write", "path": "nginx.conf", "action": "replace", "detail": "20 -> 21 bytes"}]
changed_paths:
  description: The paths of the ops whose action is not C(unchanged).
  returned: always
  type: list
  elements: str
  sample: ["nginx.conf"]
generation:
  description: The target's generation after the task (unchanged when nothing was applied).
  returned: success, not in check mode
  type: int
  sample: 7
previous:
  description: The generation the apply replaced, kept as gen-PREVIOUS; roll back to it with M(btrfs_txn.deploy.rollback).
  returned: when applied
  type: int
  sample: 6
txid:
  description: The transaction id of the apply.
  returned: when applied
  type: str
  sample: 20261130T170207Z-22d04f
concurrent_writes:
  description: Paths other processes changed during the apply that the new tree does not hold (kept in C(pinned_generation)).
  returned: when applied
  type: list
  elements: str
  sample: []
pinned_generation:
  description: The kept generation that holds those writes.
  returned: when concurrent_writes is not empty
  type: int
result:
  description: btrfs-txn's whole C(--json) document of the apply (or of the plan on failure).
  returned: when applied, and on failure when there is one
  type: dict
rc:
  description: btrfs-txn's exit status.
  returned: always
  type: int
exit_meaning:
  description: What that exit status means (btrfs-txn(8), EXIT STATUS).
  returned: failure
  type: str
  sample: the target is locked by another run
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.btrfs_txn.deploy.plugins.module_utils.btrfs_txn import (
    COMMON_ARGS, TRANSACTION_KEYS, copy_keys, fail, positional, run_checked, run_json)


def diff_entries(target, changes, spec):
    """One diff entry per changed path: what is there now, what the op makes of it.
    A write op's new text is shown when the spec holds it inline."""
    contents = {}
    for op in (spec or {}).get("ops", []) if isinstance(spec, dict) else []:
        if isinstance(op, dict) and op.get("op") == "write" and isinstance(op.get("content"), str):
            contents[op.get("path")] = op["content"]
    entries = []
    for change in changes:
        path = change.get("path", "")
        action = change.get("action", "")
        detail = change.get("detail", "")
        name = "%s/%s" % (target.rstrip("/"), path)
        before = "" if action == "create" else "(%s present)\n" % path
        after = "(%s %s%s)\n" % (change.get("op", ""), action, ": " + detail if detail else "")
        if action in ("create", "replace") and path in contents:
            after = contents[path]
        if action == "remove":
            after = ""
        entries.append({"before_header": "%s (before)" % name, "after_header": "%s (%s)" % (name, action),
                        "before": before, "after": after})
    return entries


def main():
    argument_spec = dict(
        spec=dict(type="dict"),
        src=dict(type="path"),
        target=dict(type="path"),
        keep=dict(type="int"),
        timeout=dict(type="int"),
        wait=dict(type="bool", default=True),
    )
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("spec", "src")], required_one_of=[("spec", "src")])
    params = module.params

    if params["spec"] is not None:
        spec_arg, data = "-", json.dumps(params["spec"]).encode("utf-8")
    else:
        spec_arg, data = positional(module, "src", params["src"]), None
    target_args = ["--target", params["target"]] if params["target"] else []

    rc, plan, out, err = run_json(module, ["plan"] + target_args + [spec_arg], data)
    if rc != 0 or not isinstance(plan, dict):
        fail(module, "plan", rc, plan, err, plan=(plan or {}).get("ops", []))
    target = plan.get("target", params["target"] or "")
    ops = plan.get("ops", [])
    changes = [op for op in ops if op.get("action") != "unchanged"]
    result = dict(changed=bool(changes), target=target, plan=ops,
                  changed_paths=[op.get("path") for op in changes], rc=0)
    if module._diff and changes:
        result["diff"] = diff_entries(target, changes, params["spec"])

    if module.check_mode:
        failing = [op for op in ops if op.get("action") == "fails"]
        if failing:
            module.fail_json(msg="btrfs-txn plan: apply would fail: %s" % "; ".join(
                "op %s (%s %s): %s" % (op.get("index"), op.get("op"), op.get("path"), op.get("detail"))
                for op in failing), **result)
        module.exit_json(**result)

    if not changes:
        status = run_checked(module, "status", ["status", positional(module, "target", target)], **result)
        result["generation"] = status.get("generation")
        module.exit_json(**result)

    apply_args = ["apply"] + target_args
    if params["keep"] is not None:
        apply_args += ["--keep", str(params["keep"])]
    if params["timeout"] is not None:
        apply_args += ["--timeout", str(params["timeout"])]
    if not params["wait"]:
        apply_args.append("--no-wait")
    doc = run_checked(module, "apply", apply_args + [spec_arg], data, **result)
    copy_keys(doc, TRANSACTION_KEYS, result)
    result["result"] = doc
    module.exit_json(**result)


if __name__ == "__main__":
    main()
