// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * workload [--syscalls N] [--connects N] [--opens N] [--execs N] [--scale X]
 *
 * A fixed amount of work (not a fixed time) of the kinds the default probes
 * watch, for the overhead bench (agent/bench/overhead-bench.ts), which times it
 * without and with the agent:
 *
 *   syscalls  N direct getppid() system calls (syscall(2): no libc caching, no vDSO)
 *   connects  N TCP connections to a 127.0.0.1 listener this program starts: the
 *             client connects, sends 8 bytes and waits for the server's close; a
 *             listener thread accepts, reads the 8 bytes and closes first
 *   opens     N open(O_RDONLY)/close pairs on a temp file
 *   execs     N fork() + execv("/bin/true") + waitpid()
 *
 * The parts run one after the other; the last line of stdout is one JSON object
 * with the counts and the wall time of each part and of the whole in ms, e.g.
 *   {"syscalls":4000000,...,"syscall_ms":498.2,"tcp_ms":...,"total_ms":2512.9}
 * --scale multiplies every count (after the explicit ones are applied). Exit
 * status is 0 on success, 1 (with a message on stderr) when any step fails.
 *
 * Why the server closes first: the side that closes first keeps the TIME_WAIT
 * socket. On the server side it pins no ephemeral port, so many runs in a row
 * (tens of thousands of connections a minute) never exhaust the client's
 * ephemeral port range.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_LEN 8

/* Defaults sized for ~2-4 s on a 2-core VM without the agent. */
static long n_syscalls = 4000000;
static long n_connects = 12000;
static long n_opens = 300000;
static long n_execs = 2000;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long parse_count(const char *flag, const char *value)
{
	char *end;
	errno = 0;
	long n = strtol(value, &end, 10);
	if (errno || *end || n < 0) {
		fprintf(stderr, "workload: %s expects a non-negative integer, got \"%s\"\n", flag, value);
		exit(1);
	}
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: workload [--syscalls N] [--connects N] [--opens N] [--execs N] [--scale X]\n");
	exit(1);
}

/* --- syscalls --- */

static void run_syscalls(long n)
{
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
}

/* --- TCP connect/send/close --- */

struct listener {
	int fd;
	long expected;
	long accepted;
	int error; /* errno of the first failure, 0 if none */
};

static void *listener_main(void *arg)
{
	struct listener *l = arg;
	char buf[PAYLOAD_LEN];

	for (l->accepted = 0; l->accepted < l->expected; l->accepted++) {
		int c = accept(l->fd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR) {
				l->accepted--;
				continue;
			}
			l->error = errno;
			return NULL;
		}
		/* read the payload (it may come in pieces), then close first */
		size_t got = 0;
		while (got < PAYLOAD_LEN) {
			ssize_t r = read(c, buf + got, PAYLOAD_LEN - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		close(c);
	}
	return NULL;
}

static void run_connects(long n)
{
	if (n == 0)
		return;
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t addr_len = sizeof(addr);
	int one = 1;

	/* listen on an ephemeral port of 127.0.0.1 */
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket (listener)");
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("setsockopt SO_REUSEADDR");
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind 127.0.0.1:0");
	if (listen(lfd, 128) < 0)
		die("listen");
	if (getsockname(lfd, (struct sockaddr *)&addr, &addr_len) < 0)
		die("getsockname");

	struct listener l = { .fd = lfd, .expected = n };
	pthread_t tid;
	int err = pthread_create(&tid, NULL, listener_main, &l);
	if (err) {
		errno = err;
		die("pthread_create");
	}

	const char payload[PAYLOAD_LEN] = "workload";
	char buf[16];
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		/* no Nagle delay on the small write */
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			die("setsockopt TCP_NODELAY");
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			die("connect 127.0.0.1");
		if (write(fd, payload, PAYLOAD_LEN) != PAYLOAD_LEN)
			die("write");
		/* wait for the server's close (EOF), so its side holds TIME_WAIT */
		for (;;) {
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r == 0 || (r < 0 && errno != EINTR))
				break;
		}
		close(fd);
	}

	pthread_join(tid, NULL);
	close(lfd);
	if (l.error) {
		errno = l.error;
		die("accept");
	}
}

/* --- file opens --- */

static void run_opens(long n)
{
	if (n == 0)
		return;
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/pp-workload-XXXXXX", dir && *dir ? dir : "/tmp");
	int tmp = mkstemp(path);
	if (tmp < 0)
		die("mkstemp");
	close(tmp);

	for (long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			unlink(path);
			die("open (temp file)");
		}
		close(fd);
	}
	unlink(path);
}

/* --- execs --- */

static void run_execs(long n)
{
	char *const argv[] = { "true", NULL };
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execv("/bin/true", argv);
			_exit(127);
		}
		int status;
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR)
				die("waitpid");
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "workload: /bin/true ended with status 0x%x\n", status);
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	double scale = 1.0;

	for (int i = 1; i < argc; i++) {
		const char *flag = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *value = argv[++i];
		if (!strcmp(flag, "--syscalls"))
			n_syscalls = parse_count(flag, value);
		else if (!strcmp(flag, "--connects"))
			n_connects = parse_count(flag, value);
		else if (!strcmp(flag, "--opens"))
			n_opens = parse_count(flag, value);
		else if (!strcmp(flag, "--execs"))
			n_execs = parse_count(flag, value);
		else if (!strcmp(flag, "--scale")) {
			char *end;
			scale = strtod(value, &end);
			if (*end || !(scale > 0)) {
				fprintf(stderr, "workload: --scale expects a positive number, got \"%s\"\n", value);
				return 1;
			}
		} else
			usage();
	}
	n_syscalls = (long)(n_syscalls * scale);
	n_connects = (long)(n_connects * scale);
	n_opens = (long)(n_opens * scale);
	n_execs = (long)(n_execs * scale);

	/* time each part */
	double t0 = now_ms();
	run_syscalls(n_syscalls);
	double t1 = now_ms();
	run_connects(n_connects);
	double t2 = now_ms();
	run_opens(n_opens);
	double t3 = now_ms();
	run_execs(n_execs);
	double t4 = now_ms();

	printf("{\"syscalls\":%ld,\"connects\":%ld,\"opens\":%ld,\"execs\":%ld,"
	       "\"syscall_ms\":%.3f,\"tcp_ms\":%.3f,\"open_ms\":%.3f,\"exec_ms\":%.3f,\"total_ms\":%.3f}\n",
	       n_syscalls, n_connects, n_opens, n_execs, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0);
	fflush(stdout);
	return 0;
}
