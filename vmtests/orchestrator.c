/* SPDX-License-Identifier: MIT */
/* orchestrator.c: build/vmtest, the host side of the QEMU suite (make vmcheck).
 *
 * Parses the options, finds the scenarios, picks the accelerator (a short KVM probe
 * boot, else TCG), prepares the initrd for --modules, and runs each selected
 * scenario (run.c) in turn; a failure or a timeout never stops the suite. Output is
 * KTAP, a summary table, and last the line "N passed, N failed, N skipped".
 */
#include "vm.h"

#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KVM_PROBE_MS 10000      /* a KVM boot prints "ready" in 1-2 s; a hung one never */
#define KVM_SILENT_MS 3000      /* the firmware writes to the console at once: silence
				 * for this long means the vCPU is not running at all */

struct options {
	const char *image_dir;
	const char *kernel;
	const char *modules;
	const char *payload;     /* a cpio.gz appended to the initramfs (btrfs-txn-crashtest) */
	const char *run_dir;
	const char *report_dir;
	const char *qemu;
	const char *accel;
	const char *mkimage;
	const char **scenario_dirs;
	size_t scenario_dir_count;
	int memory_mb;
	int cpus;
	double timeout_scale;
	const char *reorder;     /* crash checks: CRASH_REORDER, CRASH_SEED, CRASH_JOBS */
	const char *seed;
	const char *jobs;
	bool list;
	bool verbose;
};

static void on_signal(int sig)
{
	vm_interrupted = sig;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vmtest [OPTIONS] [SCENARIO...]\n"
		"Run the btrfs-txn QEMU scenarios and report KTAP. SCENARIO is a name or a glob;\n"
		"without one, every scenario runs.\n"
		"\n"
		"  --image DIR          guest image from mkimage.sh (default build/vm)\n"
		"  --kernel PATH        boot this kernel image instead of DIR/vmlinuz\n"
		"  --modules DIR        its lib/modules/VERSION directory (needed with --kernel\n"
		"                       unless btrfs, virtio and dm-* are built in)\n"
		"  --scenarios DIR      where scenario files live (default vmtests/scenarios);\n"
		"                       may be given more than once\n"
		"  --run-dir DIR        disks and console logs (default DIR/run of --image)\n"
		"  --report-dir DIR     report.json and report.md (default vmtests/ beside --image)\n"
		"  --accel auto|kvm|tcg auto probes KVM with a short boot and falls back to TCG\n"
		"  --qemu PATH          QEMU binary (default qemu-system-x86_64)\n"
		"  --memory MB          guest memory (default 512)\n"
		"  --cpus N             guest CPUs (default 1)\n"
		"  --timeout-scale F    multiply every scenario's timeout by F (slow machines)\n"
		"  --mkimage PATH       the image builder, for --modules (default vmtests/mkimage.sh)\n"
		"  --payload FILE       a cpio.gz archive added to the guest's initramfs\n"
		"  --reorder N          crash-* scenarios: also check up to N reordered states per\n"
		"                       flush epoch (default 0: prefixes of the write log only)\n"
		"  --seed S             the seed of the reordered states (default 1)\n"
		"  --jobs N             crash states checked in parallel (default: CPUs, at most 4)\n"
		"  --list               list the scenarios and exit\n"
		"  -v, --verbose        copy the guest console to stderr\n"
		"  -h, --help           show this help\n"
		"\n"
		"Exit status: 0 if nothing failed (skips allowed), 1 if a scenario failed or\n"
		"timed out, 2 on invalid usage or a missing image.\n");
}

/* run_helper() - run a command to completion, bounded by @timeout_ms. */
static int run_helper(const char *const *argv, int timeout_ms)
{
	bool timed_out = false;
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setpgid(0, 0);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "vmtest: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	if (proc_wait_bounded(pid, vm_now_ms() + timeout_ms, 5000, true, &status, &timed_out) < 0 ||
	    timed_out)
		return -ETIMEDOUT;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
	return 0;
}

/* append_file() - copy @from to the end of @to_fd. */
static int append_file(int to_fd, const char *from)
{
	char buf[65536];
	int fd = open(from, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		if (write(to_fd, buf, (size_t)n) != n) {
			r = errno ? -errno : -EIO;
			break;
		}
	}
	close(fd);
	return r;
}

/* custom_initrd() - for --modules and --payload: our initramfs followed by an archive
 * of that kernel's modules and by the payload archive. The kernel unpacks
 * concatenated archives in order, so the later module list replaces ours and the
 * payload adds its files. */
static int custom_initrd(const struct options *o, const char *base, char **ret_path)
{
	char *archive = NULL, *combined = NULL;
	int fd, r = 0;

	if (asprintf(&archive, "%s/modules.cpio.gz", o->run_dir) < 0)
		return -ENOMEM;
	if (asprintf(&combined, "%s/initramfs-custom.gz", o->run_dir) < 0) {
		free(archive);
		return -ENOMEM;
	}
	if (o->modules) {
		const char *argv[] = { o->mkimage, "modules", o->modules, archive, NULL };

		r = run_helper(argv, 300 * 1000);
		if (r < 0) {
			fprintf(stderr, "vmtest: packing the modules of %s failed\n", o->modules);
			goto out;
		}
	}
	fd = open(combined, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = append_file(fd, base);
	if (r == 0 && o->modules)
		r = append_file(fd, archive);
	if (r == 0 && o->payload) {
		r = append_file(fd, o->payload);
		if (r < 0)
			fprintf(stderr, "vmtest: cannot read --payload %s: %s\n", o->payload, strerror(-r));
	}
	close(fd);
out:
	free(archive);
	if (r < 0) {
		free(combined);
		return r;
	}
	*ret_path = combined;
	return 0;
}

/* probe_kvm() - does a KVM guest get as far as our init within a few seconds? On some
 * machines /dev/kvm exists and a guest simply hangs, so opening it is not enough. */
static bool probe_kvm(const struct options *o, const struct qemu_config *base)
{
	struct qemu_config config = *base;
	struct console console;
	struct qemu vm = { 0 };
	char *dir = NULL, *console_path = NULL, *qmp_path = NULL, *log_path = NULL;
	bool works = false;
	int fd;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);

	if (asprintf(&dir, "%s/kvm-probe", o->run_dir) < 0)
		return false;
	if (vm_make_dir(dir) < 0 ||
	    asprintf(&console_path, "%s/console.log", dir) < 0 ||
	    asprintf(&qmp_path, "%s/qmp.sock", dir) < 0 ||
	    asprintf(&log_path, "%s/qemu.log", dir) < 0)
		goto out;
	if (console_open(&console, console_path) < 0)
		goto out;
	config.accel = "kvm";
	if (qemu_start(&vm, &config, "console=ttyS0 panic=-1 loglevel=4 vmtest.probe=1", NULL,
		       console_path, qmp_path, log_path) == 0) {
		int64_t start = vm_now_ms(), deadline = start + KVM_PROBE_MS;

		while (!works && vm_now_ms() < deadline && !vm_interrupted) {
			if (console.bytes_seen == 0 && vm_now_ms() - start > KVM_SILENT_MS)
				break;
			bool ended = qemu_poll(&vm);
			char *marker = NULL;

			while (console_next_marker(&console, ended, &marker) == 1) {
				if (!strcmp(marker, "ready"))
					works = true;
				free(marker);
			}
			if (ended)
				break;
			vm_sleep_ms(50);
		}
		qemu_kill(&vm);
	}
	console_close(&console);
out:
	free(dir);
	free(console_path);
	free(qmp_path);
	free(log_path);
	return works;
}


static bool selected(const struct scenario *s, char **filters, int count)
{
	if (count == 0)
		return true;
	for (int i = 0; i < count; i++)
		if (!fnmatch(filters[i], s->name, 0) || !strcmp(filters[i], s->guest_name))
			return true;
	return false;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option long_options[] = {
		{ "image", required_argument, NULL, 'i' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "modules", required_argument, NULL, 'm' },
		{ "scenarios", required_argument, NULL, 's' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "report-dir", required_argument, NULL, 'R' },
		{ "accel", required_argument, NULL, 'a' },
		{ "qemu", required_argument, NULL, 'q' },
		{ "memory", required_argument, NULL, 'M' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "timeout-scale", required_argument, NULL, 't' },
		{ "mkimage", required_argument, NULL, 'b' },
		{ "payload", required_argument, NULL, 'P' },
		{ "reorder", required_argument, NULL, 'O' },
		{ "seed", required_argument, NULL, 'S' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "list", no_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "vh", long_options, NULL)) != -1) {
		switch (c) {
		case 'i': o->image_dir = optarg; break;
		case 'k': o->kernel = optarg; break;
		case 'm': o->modules = optarg; break;
		case 'r': o->run_dir = optarg; break;
		case 'R': o->report_dir = optarg; break;
		case 'a': o->accel = optarg; break;
		case 'q': o->qemu = optarg; break;
		case 'b': o->mkimage = optarg; break;
		case 'P': o->payload = optarg; break;
		case 'O': o->reorder = optarg; break;
		case 'S': o->seed = optarg; break;
		case 'j': o->jobs = optarg; break;
		case 'l': o->list = true; break;
		case 'v': o->verbose = true; break;
		case 's': {
			const char **grown = realloc(o->scenario_dirs,
						     (o->scenario_dir_count + 1) * sizeof(*grown));

			if (!grown)
				return -ENOMEM;
			o->scenario_dirs = grown;
			o->scenario_dirs[o->scenario_dir_count++] = optarg;
			break;
		}
		case 'M': o->memory_mb = atoi(optarg); break;
		case 'c': o->cpus = atoi(optarg); break;
		case 't': o->timeout_scale = strtod(optarg, NULL); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (strcmp(o->accel, "auto") && strcmp(o->accel, "kvm") && strcmp(o->accel, "tcg")) {
		fprintf(stderr, "vmtest: --accel must be auto, kvm or tcg\n");
		return -EINVAL;
	}
	const char *numbers[] = { o->reorder, o->seed, o->jobs };
	for (size_t i = 0; i < 3; i++)
		if (numbers[i] && (!*numbers[i] || strspn(numbers[i], "0123456789") != strlen(numbers[i]))) {
			fprintf(stderr, "vmtest: --reorder, --seed and --jobs take a number, not '%s'\n",
				numbers[i]);
			return -EINVAL;
		}
	if (o->jobs && atoi(o->jobs) < 1) {
		fprintf(stderr, "vmtest: --jobs needs at least 1\n");
		return -EINVAL;
	}
	/* The host-side crash check (crashcheck.sh) reads them from its environment. */
	if ((o->reorder && setenv("CRASH_REORDER", o->reorder, 1) < 0) ||
	    (o->seed && setenv("CRASH_SEED", o->seed, 1) < 0) ||
	    (o->jobs && setenv("CRASH_JOBS", o->jobs, 1) < 0))
		return -ENOMEM;
	if (o->memory_mb < 128 || o->cpus < 1 || o->timeout_scale <= 0) {
		fprintf(stderr, "vmtest: --memory needs at least 128, --cpus and --timeout-scale a positive number\n");
		return -EINVAL;
	}
	return 0;
}

static const char *outcome_name(enum outcome outcome)
{
	return outcome == OUTCOME_PASS ? "ok" : outcome == OUTCOME_SKIP ? "skip" : "FAIL";
}

int main(int argc, char **argv)
{
	struct options o = {
		.image_dir = "build/vm", .qemu = "qemu-system-x86_64", .accel = "auto",
		.mkimage = "vmtests/mkimage.sh", .memory_mb = 512, .cpus = 1, .timeout_scale = 1.0,
	};
	struct scenario *scenarios = NULL;
	struct result *results;
	size_t scenario_count = 0, run_count = 0;
	char *kernel = NULL, *initrd = NULL, *run_dir = NULL;
	struct qemu_config config;
	int passed = 0, failed = 0, skipped = 0, r;
	struct sigaction sa = { .sa_handler = on_signal };

	if (parse_options(argc, argv, &o) < 0)
		return 2;
	if (o.scenario_dir_count == 0) {
		static const char *default_dirs[] = { "vmtests/scenarios" };

		o.scenario_dirs = default_dirs;
		o.scenario_dir_count = 1;
	}
	for (size_t i = 0; i < o.scenario_dir_count; i++) {
		r = scenario_discover(o.scenario_dirs[i], &scenarios, &scenario_count);
		if (r < 0) {
			fprintf(stderr, "vmtest: cannot load scenarios from %s: %s\n",
				o.scenario_dirs[i], strerror(-r));
			return 2;
		}
	}
	results = calloc(scenario_count ? scenario_count : 1, sizeof(*results));
	if (!results)
		return 2;

	if (o.list) {
		for (size_t i = 0; i < scenario_count; i++)
			if (selected(&scenarios[i], argv + optind, argc - optind))
				printf("%-24s %4d s  %d boot%s  %s\n", scenarios[i].name,
				       scenarios[i].timeout_sec, scenarios[i].boots,
				       scenarios[i].boots == 1 ? " " : "s", scenarios[i].description);
		return 0;
	}

	if (!o.run_dir) {
		if (asprintf(&run_dir, "%s/run", o.image_dir) < 0)
			return 2;
		o.run_dir = run_dir;
	}
	if (asprintf(&kernel, "%s/vmlinuz", o.image_dir) < 0 ||
	    asprintf(&initrd, "%s/initramfs.gz", o.image_dir) < 0)
		return 2;
	if (o.kernel) {
		free(kernel);
		kernel = strdup(o.kernel);
	}
	if (access(kernel, R_OK) < 0 || access(initrd, R_OK) < 0) {
		fprintf(stderr, "vmtest: no guest image (%s, %s): run 'make vmimage'\n", kernel, initrd);
		return 2;
	}
	r = vm_make_dir(o.run_dir);
	if (r < 0) {
		fprintf(stderr, "vmtest: cannot create %s: %s\n", o.run_dir, strerror(-r));
		return 2;
	}
	if (o.modules || o.payload) {
		char *combined;

		if (custom_initrd(&o, initrd, &combined) < 0)
			return 2;
		free(initrd);
		initrd = combined;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	config = (struct qemu_config){
		.qemu = o.qemu, .kernel = kernel, .initrd = initrd, .accel = "tcg",
		.memory_mb = o.memory_mb, .cpus = o.cpus,
	};
	for (size_t i = 0; i < scenario_count; i++)
		if (selected(&scenarios[i], argv + optind, argc - optind))
			run_count++;

	printf("KTAP version 1\n");
	printf("# kernel %s, initrd %s\n", kernel, initrd);
	if (run_count && !strcmp(o.accel, "auto")) {
		int64_t start = vm_now_ms();

		/* Probed once per run: the answer does not change between scenarios. */
		config.accel = probe_kvm(&o, &config) ? "kvm" : "tcg";
		printf("# accelerator: %s (KVM probe took %.1f s)\n", config.accel,
		       (double)(vm_now_ms() - start) / 1000.0);
	} else {
		config.accel = !strcmp(o.accel, "auto") ? "tcg" : o.accel;
		printf("# accelerator: %s\n", config.accel);
	}
	if (o.reorder || o.seed || o.jobs)
		printf("# crash states: log prefixes and up to %s reordered per flush epoch, seed %s, %s jobs\n",
		       o.reorder ? o.reorder : "0", o.seed ? o.seed : "1", o.jobs ? o.jobs : "auto");
	printf("1..%zu\n", run_count);

	size_t number = 0;
	for (size_t i = 0; i < scenario_count; i++) {
		struct scenario *s = &scenarios[i];
		struct result *res = &results[i];

		if (!selected(s, argv + optind, argc - optind))
			continue;
		number++;
		if (vm_interrupted) {
			res->outcome = OUTCOME_SKIP;
			snprintf(res->reason, sizeof(res->reason), "interrupted");
		} else {
			printf("# %s: %s\n", s->name, s->description);
			{
				struct run_settings settings = {
					.run_dir = o.run_dir, .timeout_scale = o.timeout_scale, .verbose = o.verbose,
				};

				run_scenario(&settings, &config, s, res);
			}
		}
		if (res->hung_task)
			printf("# %s: the guest kernel reported a hung task (see its console log)\n", s->name);
		printf("# %s: %.1f s, %d of %d boot%s\n", s->name, res->seconds, res->boots_run, s->boots,
		       s->boots == 1 ? "" : "s");
		switch (res->outcome) {
		case OUTCOME_PASS:
			passed++;
			printf("ok %zu %s\n", number, s->name);
			break;
		case OUTCOME_SKIP:
			skipped++;
			printf("ok %zu %s # SKIP %s\n", number, s->name, res->reason);
			break;
		case OUTCOME_FAIL:
			failed++;
			printf("not ok %zu %s # %s\n", number, s->name, res->reason);
			break;
		}
	}

	if (run_count) {
		printf("#\n# %-24s %-6s %8s %6s  %s\n", "scenario", "result", "time", "boots", "detail");
		for (size_t i = 0; i < scenario_count; i++) {
			if (!selected(&scenarios[i], argv + optind, argc - optind))
				continue;
			printf("# %-24s %-6s %6.1f s %3d/%-2d  %s\n", scenarios[i].name,
			       outcome_name(results[i].outcome), results[i].seconds,
			       results[i].boots_run, scenarios[i].boots, results[i].reason);
		}
	}
	if (run_count) {
		/* The counters of the whole run, and the report files beside the image dir. */
		bool *ran = calloc(scenario_count ? scenario_count : 1, sizeof(*ran));
		int states = 0, violations = 0, faults = 0, reordered = 0;
		char *image_copy = strdup(o.image_dir), *report_dir = NULL;

		for (size_t i = 0; i < scenario_count; i++) {
			if (!selected(&scenarios[i], argv + optind, argc - optind))
				continue;
			if (ran)
				ran[i] = true;
			states += results[i].crash_states;
			violations += results[i].violations;
			faults += results[i].faults;
			reordered += results[i].reordered;
		}
		printf("# totals: %d crash states checked (%d reordered), %d violations, %d faults injected\n",
		       states, reordered, violations, faults);
		if (o.report_dir)
			report_dir = strdup(o.report_dir);
		else if (image_copy && asprintf(&report_dir, "%s/vmtests", dirname(image_copy)) < 0)
			report_dir = NULL;
		if (ran && report_dir) {
			r = report_write(report_dir, scenarios, results, ran, scenario_count, config.accel);
			if (r < 0)
				printf("# cannot write the report in %s: %s\n", report_dir, strerror(-r));
			else
				printf("# report: %s/report.json, %s/report.md\n", report_dir, report_dir);
		}
		free(report_dir);
		free(image_copy);
		free(ran);
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);

	for (size_t i = 0; i < scenario_count; i++)
		scenario_clear(&scenarios[i]);
	free(scenarios);
	free(results);
	free(kernel);
	free(initrd);
	free(run_dir);
	if (vm_interrupted)
		return 130;
	return failed ? 1 : 0;
}
