// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscaller N
 *
 * 1. prints its pid on the first line of stdout (flushed);
 * 2. waits for a line on stdin, so a test can start and attach a probe first;
 * 3. makes exactly N direct getppid() system calls;
 * 4. prints "done" (flushed);
 * 5. waits for EOF on stdin before exiting, so the probe can still read counts
 *    while the process exists (e.g. its comm and pid are still valid).
 *
 * Why getppid: it is a real system call on every architecture (not served by
 * the vDSO like clock_gettime/gettimeofday/getcpu), glibc never issues it on its
 * own (sysinfo, by contrast, is used internally by sysconf(_SC_PHYS_PAGES) and
 * qsort), and it is rare in ordinary processes, so a per-(pid, syscall) count
 * for this process is exactly N. Numbers: x86_64 110 (SYS_getppid), arm64 173.
 * syscall(2) is used rather than getppid(3) so no libc caching can ever
 * swallow a call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	if (n < 0)
		n = 0;
	printf("%d\n", (int)getpid());
	fflush(stdout);

	char line[256];
	if (!fgets(line, sizeof(line), stdin))
		return 1; /* stdin closed before the go signal */

	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);

	printf("done\n");
	fflush(stdout);

	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
