# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
"""The documentation the btrfs_txn.deploy modules share, as Ansible's doc fragments:
`extends_documentation_fragment: btrfs_txn.deploy.btrfs_txn` for the options of every
module (module_utils/btrfs_txn.py's COMMON_ARGS), `btrfs_txn.deploy.btrfs_txn.lock`
for those of the modules that take the target's lock, `btrfs_txn.deploy.btrfs_txn.target`
for a target named as it is."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  binary:
    description: The btrfs-txn command, a name looked up in PATH or a path.
    type: str
    default: btrfs-txn
author:
  - btrfs-txn developers
"""

    # The modules that change a managed host's target (apply, rollback).
    LOCK = r"""
notes:
  - Needs root on the managed host (C(become)) and btrfs-txn installed there.
options:
  timeout:
    description: Seconds to wait for the target's lock, then the stall watchdog (C(--timeout)).
    type: int
  wait:
    description: Wait for a locked target; C(false) fails at once with exit 3 (C(--no-wait)).
    type: bool
    default: true
"""

    # The modules that only name a managed target (rollback, status).
    TARGET = r"""
options:
  target:
    description: The managed subvolume.
    type: path
    required: true
"""
