# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
"""Shared code of the btrfs_txn.deploy modules: run `btrfs-txn ... --json`, read its
one JSON document, and turn a failure into one fail_json carrying btrfs-txn's own
message and exit status. The modules never do what the command does themselves."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

# btrfs-txn(8), EXIT STATUS.
EXIT_MEANINGS = {
    0: "done",
    1: "aborted: the target is unchanged",
    2: "invalid usage or invalid spec: nothing was touched",
    3: "the target is locked by another run",
    4: "unsupported here (not Btrfs, not a subvolume, a mount point, no CAP_SYS_ADMIN)",
    5: "recovery could not bring the target to a consistent state: needs a person",
}

# The options every module shares.
COMMON_ARGS = dict(
    binary=dict(type="str", default="btrfs-txn"),
)


def find_binary(module):
    """The btrfs-txn command to run: a path as given, or a name looked up in PATH
    (and the sbin directories, which a non-login PATH may lack)."""
    binary = module.params["binary"]
    if "/" in binary:
        return binary
    return module.get_bin_path(binary, required=True, opt_dirs=["/usr/local/sbin", "/usr/sbin", "/sbin"])


def positional(module, what, value):
    """VALUE, given to btrfs-txn as a positional argument (a target, a destination),
    or the task fails: one that starts with '-' would be read as an option, and
    push's --ssh-option or --remote-command would run a command of its choosing
    as root. Inventory data is not always the playbook author's."""
    if value.startswith("-"):
        module.fail_json(msg="btrfs_txn.deploy: %s %r starts with '-' and would be read as an "
                         "option; give a path (an absolute one, or ./%s)" % (what, value, value))
    return value


def run_json(module, argv, data=None):
    """Run btrfs-txn with argv (after the binary; --json is added before it, where
    it stays an option of btrfs-txn even when argv ends in a hook's command, as
    push's `--verify -- ARGV` does), return (rc, document or None, stdout, stderr)."""
    cmd = [find_binary(module), "--json"] + list(argv)
    rc, out, err = module.run_command(cmd, data=data, binary_data=data is not None,
                                      environ_update={"LC_ALL": "C"})
    doc = None
    if out.strip():
        try:
            doc = json.loads(out)
        except ValueError:
            doc = None
    return rc, doc, out, err


def run_checked(module, what, argv, data=None, **extra):
    """run_json, failing the task (fail(), with extra) unless btrfs-txn exited 0 with
    a JSON object; return that object."""
    rc, doc, out, err = run_json(module, argv, data)
    if rc != 0 or not isinstance(doc, dict):
        fail(module, what, rc, doc, err, **extra)
    return doc


# What a transaction's --json document says about it (apply, rollback).
TRANSACTION_KEYS = ("generation", "previous", "txid", "concurrent_writes", "pinned_generation")


def copy_keys(doc, keys, result):
    """Copy the keys of doc that are there into result; return result."""
    for key in keys:
        if key in doc:
            result[key] = doc[key]
    return result


def fail(module, what, exit_status, doc, err, **extra):
    """One failure: btrfs-txn's own message (its `error`, else the last line it wrote
    to standard error), its exit status and what that status means."""
    message = None
    if isinstance(doc, dict):
        message = doc.get("error") or doc.get("precondition_error")
    if not message:
        lines = [line for line in (err or "").splitlines() if line.strip()]
        message = lines[-1] if lines else "no output"
    meaning = EXIT_MEANINGS.get(exit_status, "unexpected exit status")
    extra.pop("rc", None)
    extra["changed"] = False
    module.fail_json(msg="btrfs-txn %s failed (exit %d, %s): %s" % (what, exit_status, meaning, message),
                     rc=exit_status, exit_meaning=meaning, error=message, stderr=err,
                     result=doc, **extra)
