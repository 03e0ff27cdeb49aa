#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
"""push: the btrfs_txn.deploy module that sends a build host's target to many
destinations with `btrfs-txn push --json`, run once on the build host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: push
short_description: Send a build host's btrfs-txn target to many hosts and swap it in there
description:
  - Runs C(btrfs-txn push TARGET DEST... --json) on the host the task runs on (the build host,
    usually with C(delegate_to) and C(run_once)). btrfs-txn sends each destination a Btrfs
    stream, incremental against the newest generation both sides hold, and the destination
    swaps it in atomically with the apply protocol (btrfs-txn(8), SEND, RECEIVE AND PUSH).
  - Destinations are paths on the build host or C(ssh://[user@]host[:port]/path). To push to the
    hosts of the play, build I(dests) from the inventory, for example
    C("{{ ansible_play_batch | map('extract', hostvars, 'ansible_host') | map('regex_replace', '^(.*)$', 'ssh://root@\\1:22/srv/app') | list }}").
    ssh runs on the build host with its own keys; give it what it needs with I(ssh_options).
  - C(changed) is true when any destination committed a new generation. The task fails when any
    destination failed; its message names each failed destination with btrfs-txn's own message.
    The per-destination results are returned either way.
  - Check mode pushes nothing and runs nothing; the task is skipped with a message naming the
    destinations it would push to.
version_added: "0.1.0"
options:
  target:
    description: The managed subvolume on the build host whose tree is sent.
    type: path
    required: true
  dests:
    description: The destinations, each a path or C(ssh://[user@]host[:port]/path).
    type: list
    elements: str
    required: true
  parent:
    description:
      - C(auto) sends incrementally against the newest generation both sides hold (a full
        stream the first time); C(none) always sends a full stream (C(--parent)).
    type: str
    choices: [auto, none]
    default: auto
  parallel:
    description: How many destinations at once (C(--parallel)).
    type: int
    default: 1
  verify:
    description: A command (argv list) run by each destination's receive on its staging tree; non-zero aborts that destination (C(--verify)).
    type: list
    elements: str
  ssh_options:
    description: ssh options (C(Name=value)) for ssh destinations, each passed as C(--ssh-option); BatchMode=yes is always set.
    type: list
    elements: str
    default: []
  remote_command:
    description: The btrfs-txn command on ssh destinations (C(--remote-command)).
    type: str
  force:
    description: Replace another lineage or a drifted tree on a destination (C(--force)).
    type: bool
    default: false
  binary:
    description: The btrfs-txn command on the build host, a name looked up in PATH or a path.
    type: str
    default: btrfs-txn
notes:
  - Needs root on the build host and on each destination, and btrfs-txn on all of them.
  - Supports check mode (the task is skipped, nothing is pushed).
seealso:
  - module: btrfs_txn.deploy.apply
  - module: btrfs_txn.deploy.status
extends_documentation_fragment:
  - btrfs_txn.deploy.btrfs_txn
"""

EXAMPLES = r"""
- name: Build the release on the build host
  btrfs_txn.deploy.apply:
    src: /etc/btrfs-txn/specs/app.json
  delegate_to: build.example.org
  run_once: true

- name: Push it to every host of the batch over ssh
  btrfs_txn.deploy.push:
    target: /srv/app
    dests: "{{ ansible_play_batch | map('extract', hostvars, 'inventory_hostname')
               | map('regex_replace', '^(.*)$', 'ssh://root@\\1/srv/app') | list }}"
    parallel: 4
    ssh_options:
      - IdentityFile=/root/.ssh/deploy_ed25519
  delegate_to: build.example.org
  run_once: true
  register: pushed

- name: Which hosts got a new generation
  ansible.builtin.debug:
    msg: "{{ pushed.destinations | selectattr('result', 'equalto', 'committed') | map(attribute='destination') | list }}"
"""

RETURN = r"""
generation:
  description: The build host's generation that was sent.
  returned: when btrfs-txn ran
  type: int
  sample: 4
destinations:
  description:
    - One entry per destination, as btrfs-txn push reports it - C(destination), C(result)
      (C(committed), C(up-to-date) or C(failed)), C(parent) (the generation the stream was
      incremental against; null for a full stream), C(generation) (the destination's generation
      now) and, when failed, C(error).
  returned: when btrfs-txn ran
  type: list
  elements: dict
  sample: [{"destination": "ssh://root@web1/srv/app", "result": "committed", "parent": 3, "generation": 7}]
committed:
  description: The destinations that committed a new generation.
  returned: when btrfs-txn ran
  type: list
  elements: str
failed_destinations:
  description: The destinations that failed.
  returned: when btrfs-txn ran
  type: list
  elements: str
result:
  description: btrfs-txn's whole C(--json) document.
  returned: when there is one
  type: dict
rc:
  description: btrfs-txn's exit status.
  returned: when btrfs-txn ran
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.btrfs_txn.deploy.plugins.module_utils.btrfs_txn import (
    COMMON_ARGS, EXIT_MEANINGS, fail, positional, run_json)


def main():
    argument_spec = dict(
        target=dict(type="path", required=True),
        dests=dict(type="list", elements="str", required=True),
        parent=dict(type="str", choices=["auto", "none"], default="auto"),
        parallel=dict(type="int", default=1),
        verify=dict(type="list", elements="str"),
        ssh_options=dict(type="list", elements="str", default=[]),
        remote_command=dict(type="str"),
        force=dict(type="bool", default=False),
    )
    argument_spec.update(COMMON_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    target = params["target"]
    dests = params["dests"]
    if not dests:
        module.fail_json(msg="btrfs_txn.deploy.push: dests is empty: nothing to push %s to" % target)
    positional(module, "target", target)
    for dest in dests:
        positional(module, "destination", dest)
    if params["parallel"] < 1:
        module.fail_json(msg="btrfs_txn.deploy.push: parallel must be 1 or more, not %d" % params["parallel"])

    if module.check_mode:
        module.exit_json(changed=False, skipped=True,
                         msg="check mode: would push %s to %s" % (target, ", ".join(dests)))

    argv = ["push", target] + list(dests)
    argv += ["--parent", params["parent"], "--parallel", str(params["parallel"])]
    for option in params["ssh_options"]:
        argv += ["--ssh-option", option]
    if params["remote_command"]:
        argv += ["--remote-command", params["remote_command"]]
    if params["force"]:
        argv.append("--force")
    # --verify takes the rest of the command line: it comes last.
    if params["verify"]:
        argv += ["--verify", "--"] + list(params["verify"])
    # run_json puts --json before the command: after --verify it would be part of
    # the hook's argv.
    rc, doc, out, err = run_json(module, argv)
    if not isinstance(doc, dict) or not isinstance(doc.get("destinations"), list):
        fail(module, "push", rc, doc, err)

    results = doc["destinations"]
    committed = [d.get("destination") for d in results if d.get("result") == "committed"]
    failed = [d for d in results if d.get("result") == "failed"]
    result = dict(changed=bool(committed), rc=rc, result=doc, generation=doc.get("generation"),
                  destinations=results, committed=committed,
                  failed_destinations=[d.get("destination") for d in failed])
    if failed or rc != 0:
        # ssh's own messages may end in a carriage return: one clean line each.
        lines = ["%s: %s" % (d.get("destination"), (d.get("error") or "failed").strip()) for d in failed]
        if not lines:
            lines = [doc.get("error") or (err or "").strip() or "no output"]
        module.fail_json(msg="btrfs-txn push failed (exit %d, %s) on %d of %d destinations: %s"
                         % (rc, EXIT_MEANINGS.get(rc, "unexpected exit status"), len(failed),
                            len(results), "; ".join(lines)),
                         stderr=err, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
