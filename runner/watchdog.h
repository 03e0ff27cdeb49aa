/* SPDX-License-Identifier: MIT */
/* watchdog.h: a stalled step becomes one clear line on stderr (see watchdog.c). */
#pragma once

/*
 * Starts watching the transaction @command ("apply", "rollback") is about to run:
 * when a protocol step has not ended @seconds after the previous one, one line on
 * standard error names the step and the likely cause. 0 seconds turns it off. The
 * command keeps waiting (see watchdog.c for why).
 */
void watchdog_start(const char *command, double seconds);
/* Stops watching; the transaction has returned. */
void watchdog_stop(void);
