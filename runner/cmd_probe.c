/* SPDX-License-Identifier: MIT */
/* cmd_probe.c: `probe PATH`, what this kernel and filesystem support. */
#include "engine.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

static const char *yes_no(bool v)
{
	return v ? "yes" : "no";
}

/* Why PATH cannot be a target of apply's snapshot method, or NULL when it can. */
static const char *unusable_reason(const struct txn_probe *p)
{
	if (!p->exists)
		return "it does not exist";
	if (!p->is_btrfs)
		return "it is not on Btrfs";
	if (!p->is_subvolume)
		return "it is not a subvolume ('btrfs-txn init' makes it one)";
	if (p->is_mount_point)
		return "it is a mount point: target the subvolume through its parent mount";
	if (!p->rename_exchange)
		return "the kernel or filesystem lacks renameat2(RENAME_EXCHANGE)";
	return NULL;
}

int cmd_probe(int argc, char **argv)
{
	const struct command *self = command_find("probe");
	struct txn_options options = { 0 };
	const char *path;
	int code = parse_one_arg(argc, argv, self, NULL, NULL, NULL, &options, &path);
	if (code >= 0)
		return code;
	struct txn_probe p;
	int r = txn_probe(path, &p);
	if (r < 0) {
		report_error("probe: cannot open '%s': %s", path, strerror(-r));
		/* --json promises one document on every outcome (docs/json.md). */
		if (cli.json) {
			char text[PATH_MAX + 128];
			snprintf(text, sizeof(text), "cannot open '%s': %s", path, strerror(-r));
			json_print(json_pack("{s:s, s:s, s:s, s:i}", "command", "probe", "path", path,
					     "error", text, "exit", EXIT_USAGE));
		}
		return EXIT_USAGE;
	}
	const char *trans = p.trans_ioctl == 1 ? "yes" : p.trans_ioctl == 0 ? "no (removed in Linux 4.17)"
									: "unknown";
	char trans_detail[160] = "";
	/* Kernels without the ioctls answer ENOTTY to anyone; EPERM comes from the
	 * CAP_SYS_ADMIN check of a kernel that has them. */
	if (p.trans_ioctl == -1 && p.trans_errno == EPERM)
		trans = "yes, but they need CAP_SYS_ADMIN";
	else if (p.trans_ioctl == -1 && p.trans_errno)
		snprintf(trans_detail, sizeof(trans_detail), " (%s)", strerror(p.trans_errno));
	const char *reason = unusable_reason(&p);
	if (cli.json) {
		json_print(json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:s, s:b, s:s?}",
				     "command", "probe",
				     "path", path, "kernel", p.kernel, "exists", p.exists, "btrfs",
				     p.is_btrfs, "subvolume", p.is_subvolume, "mount_point",
				     p.is_mount_point, "rename_exchange", p.rename_exchange,
				     "trans_ioctls", p.trans_ioctl == 1 ? "yes" : p.trans_ioctl == 0 ? "no" : "unknown",
				     "usable_target", reason == NULL, "unusable_reason", reason));
	} else {
		printf("path:             %s\n", path);
		printf("kernel:           %s\n", p.kernel);
		printf("exists:           %s\n", yes_no(p.exists));
		printf("btrfs:            %s\n", yes_no(p.is_btrfs));
		printf("subvolume:        %s\n", yes_no(p.is_subvolume));
		printf("mount point:      %s\n", yes_no(p.is_mount_point));
		printf("RENAME_EXCHANGE:  %s\n", yes_no(p.rename_exchange));
		printf("TRANS ioctls:     %s%s\n", p.is_btrfs ? trans : "n/a (not Btrfs)", trans_detail);
		printf("usable target:    %s%s%s\n", yes_no(reason == NULL), reason ? ": " : "",
		       reason ? reason : "");
	}
	return EXIT_DONE;
}
