/* SPDX-License-Identifier: MIT */
/* manifest.h: the tree listing of 'logreplay manifest' (manifest.c). */
#ifndef VMTESTS_MANIFEST_H
#define VMTESTS_MANIFEST_H
#include <stdio.h>

/* manifest_print: list the tree below DIR on OUT as lw_manifest does; 0, or -1 with
 * a message on stderr. */
int manifest_print(const char *dir, FILE *out);

#endif
