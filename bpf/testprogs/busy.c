// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * busy [SECONDS]  (default 5)
 *
 * Prints its pid on the first line of stdout, then burns CPU for SECONDS inside
 * probepilot_busy_loop(), so a CPU profile of this process should be dominated
 * by stacks whose user frames include that symbol (built -O0, no inlining,
 * frame pointers, not stripped: see bpf/Makefile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not static and never inlined: the symbol must exist in .symtab and show up
 * as a frame of its own in sampled stacks. The clock is read only every few
 * million iterations so nearly all samples land in this function itself
 * rather than in clock_gettime (vDSO). */
__attribute__((noinline, used)) unsigned long probepilot_busy_loop(double seconds)
{
	volatile unsigned long acc = 0;
	double deadline = now() + seconds;
	do {
		for (unsigned long i = 0; i < 4000000; i++)
			acc += i ^ (acc >> 3);
	} while (now() < deadline);
	return acc;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5.0;
	if (seconds <= 0)
		seconds = 5.0;
	printf("%d\n", (int)getpid());
	fflush(stdout);
	unsigned long acc = probepilot_busy_loop(seconds);
	/* Use the result so the loop cannot be considered dead code. */
	return acc == 42 ? 1 : 0;
}
