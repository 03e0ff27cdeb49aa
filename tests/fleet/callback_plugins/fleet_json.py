# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
"""fleet_json: a stdout callback for make fleetcheck that prints one JSON document
per playbook run: {"plays": [{"play": {"name"}, "tasks": [{"task": {"name"},
"hosts": {HOST: RESULT}}]}], "stats": {HOST: {"ok", "changed", "failures",
"unreachable", "skipped", "rescued", "ignored"}}}. RESULT is what the module
returned, with "changed", "failed", "skipped" and "unreachable" as the run saw them.

Debian's ansible-core has no JSON callback of its own (its 'json' is a redirect to
the ansible.posix collection, which only the larger 'ansible' package ships), and
the fleet test needs nothing but ansible-core."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
name: fleet_json
type: stdout
short_description: one JSON document of every task's result per host, for the fleet test
description: the plays, their tasks with each host's result, and the per-host stats.
"""

import json

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "fleet_json"

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def _task(self, task):
        if not self.plays:
            self.plays.append({"play": {"name": ""}, "tasks": []})
        tasks = self.plays[-1]["tasks"]
        if not tasks or tasks[-1]["_uuid"] != task._uuid:
            tasks.append({"task": {"name": task.get_name()}, "hosts": {}, "_uuid": task._uuid})
        return tasks[-1]

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task(task)

    def _record(self, result, **flags):
        entry = dict(result._result)
        entry.update(flags)
        entry.setdefault("changed", False)
        self._task(result._task)["hosts"][result._host.get_name()] = entry

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        for play in self.plays:
            for task in play["tasks"]:
                task.pop("_uuid", None)
        summary = {host: stats.summarize(host) for host in sorted(stats.processed.keys())}
        self._display.display(json.dumps({"plays": self.plays, "stats": summary},
                                         indent=2, sort_keys=True, default=str))
