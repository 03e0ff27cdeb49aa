/* SPDX-License-Identifier: MIT */
/*
 * status.c: the smallest program on libbtrfs-txn: print a managed target's current
 * generation and how many earlier ones are kept.
 *
 *   cc -o status status.c $(pkg-config --cflags --libs btrfs-txn)
 *   ./status /srv/www/conf
 *
 * Exit status: 0, or 1 with the library's error on stderr.
 */
#include <btrfs-txn/txn.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s TARGET\n", argv[0]);
		return 2;
	}
	struct txn_state state;
	struct txn_error error = { 0 };
	if (txn_state_read(argv[1], &state, &error) < 0) {
		char buf[1200];
		fprintf(stderr, "%s: %s\n", argv[0], txn_error_string(&error, buf, sizeof(buf)));
		return 1;
	}
	printf("%s: generation %llu, %zu kept\n", state.target,
	       (unsigned long long)state.generation, state.n_kept);
	free(state.kept);
	return 0;
}
