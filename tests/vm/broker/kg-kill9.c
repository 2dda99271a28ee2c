// SPDX-License-Identifier: MIT
/*
 * kg-kill9 PID: SIGKILL to PID, and the CLOCK_MONOTONIC time just before
 * it, printed as "pid=PID t=SEC.NSEC": the clock of kg-frontend's FENCE
 * lines, so a test in the board VM can measure kill -> next fence there
 * (busybox has no monotonic clock with sub-10 ms resolution).
 * Exit: 0 the signal was sent, 1 not, 2 usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	struct timespec ts;
	char *end;
	long pid;

	if (argc != 2) {
		fprintf(stderr, "usage: kg-kill9 PID\n");
		return 2;
	}
	errno = 0;
	pid = strtol(argv[1], &end, 10);
	if (errno || *end || pid <= 1) {
		fprintf(stderr, "kg-kill9: %s is not a process id\n", argv[1]);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (kill((pid_t)pid, SIGKILL) < 0) {
		fprintf(stderr, "kg-kill9: kill %ld: %s\n", pid, strerror(errno));
		return 1;
	}
	printf("pid=%ld t=%lld.%09ld\n", pid, (long long)ts.tv_sec, ts.tv_nsec);
	return 0;
}
