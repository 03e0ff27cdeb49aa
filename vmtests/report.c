/* SPDX-License-Identifier: MIT */
/* report.c: the suite's report files, build/vmtests/report.json and report.md.
 *
 * One entry per scenario that ran: result, seconds, boots, crash states checked,
 * violations, faults injected, reason; and the totals. The JSON is for tools (CI
 * keeps it), the markdown table for people and for quoting in the README.
 */
#include "vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *result_name(enum outcome o)
{
	return o == OUTCOME_PASS ? "pass" : o == OUTCOME_SKIP ? "skip" : "fail";
}

int report_write(const char *dir, const struct scenario *scenarios, const struct result *results,
		 const bool *ran, size_t count, const char *accel)
{
	json_t *root = json_object(), *list = json_array(), *totals = json_object();
	int states = 0, violations = 0, faults = 0, passed = 0, failed = 0, skipped = 0;
	int reordered = 0, reorder_violations = 0;
	double seconds = 0;
	char *json_path = NULL, *md_path = NULL;
	FILE *md = NULL;
	int r;

	if (!root || !list || !totals) {
		r = -ENOMEM;
		goto out;
	}
	r = vm_make_dir(dir);
	if (r < 0)
		goto out;
	if (asprintf(&json_path, "%s/report.json", dir) < 0 || asprintf(&md_path, "%s/report.md", dir) < 0) {
		r = -ENOMEM;
		goto out;
	}
	md = fopen(md_path, "we");
	if (!md) {
		r = -errno;
		goto out;
	}
	fprintf(md, "| scenario | result | time (s) | crash states | of them reordered | violations | "
		    "faults | detail |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
	for (size_t i = 0; i < count; i++) {
		const struct result *res = &results[i];

		if (!ran[i])
			continue;
		json_array_append_new(list, json_pack("{s:s, s:s, s:f, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:b}",
			"name", scenarios[i].name, "result", result_name(res->outcome),
			"seconds", res->seconds, "boots", res->boots_run,
			"crash_states", res->crash_states, "reordered_states", res->reordered,
			"violations", res->violations, "reorder_violations", res->reorder_violations,
			"faults", res->faults, "reason", res->reason, "hung_task", res->hung_task));
		fprintf(md, "| %s | %s | %.1f | %d | %d | %d | %d | %s |\n", scenarios[i].name,
			result_name(res->outcome), res->seconds, res->crash_states, res->reordered,
			res->violations, res->faults, res->reason);
		reordered += res->reordered;
		reorder_violations += res->reorder_violations;
		states += res->crash_states;
		violations += res->violations;
		faults += res->faults;
		seconds += res->seconds;
		passed += res->outcome == OUTCOME_PASS;
		failed += res->outcome == OUTCOME_FAIL;
		skipped += res->outcome == OUTCOME_SKIP;
	}
	fprintf(md, "| **total** | %d passed, %d failed, %d skipped | %.1f | %d | %d | %d | %d | |\n",
		passed, failed, skipped, seconds, states, reordered, violations, faults);
	json_object_set_new(totals, "reordered_states", json_integer(reordered));
	json_object_set_new(totals, "reorder_violations", json_integer(reorder_violations));
	json_object_set_new(totals, "passed", json_integer(passed));
	json_object_set_new(totals, "failed", json_integer(failed));
	json_object_set_new(totals, "skipped", json_integer(skipped));
	json_object_set_new(totals, "seconds", json_real(seconds));
	json_object_set_new(totals, "crash_states", json_integer(states));
	json_object_set_new(totals, "violations", json_integer(violations));
	json_object_set_new(totals, "faults", json_integer(faults));
	json_object_set_new(root, "accelerator", json_string(accel));
	json_object_set_new(root, "scenarios", list);
	list = NULL;
	json_object_set_new(root, "totals", totals);
	totals = NULL;
	r = json_dump_file(root, json_path, JSON_INDENT(2)) < 0 ? -EIO : 0;
	if (fclose(md) != 0 && r == 0)
		r = -errno;
	md = NULL;
out:
	if (md)
		fclose(md);
	json_decref(root);
	json_decref(list);
	json_decref(totals);
	free(json_path);
	free(md_path);
	return r;
}
