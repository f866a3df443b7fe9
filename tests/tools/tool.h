/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the traffic tools share: a monotonic clock and a stop flag for signals. */
#ifndef SLUICE_TOOL_H
#define SLUICE_TOOL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NS_PER_SEC 1000000000LL
#define MAX_SECONDS 3600.0	/* no tool runs longer */

/* Set by SIGINT and SIGTERM; the tools' loops end on it. */
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* DEST (an IPv4 or IPv6 address) and PORT as a socket address. 0, or -1 if DEST is neither. */
static inline int parse_dest(const char *text, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*len = sizeof(*v6);
		return 0;
	}
	return -1;
}

/*
 * "ADDR:PORT" or "[ADDR6]:PORT" as a socket address. 0, or -1 if TEXT is not
 * one (a bare IPv6 address without brackets is refused: its last ':' is ambiguous).
 */
static inline int parse_addr_port(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *start = text;
	size_t n;
	long port;
	char *end;

	if (*text == '[') {
		colon = strchr(text, ']');
		if (!colon || colon[1] != ':')
			return -1;
		start = text + 1;
		n = (size_t)(colon - start);
		colon++;
	} else {
		colon = strrchr(text, ':');
		if (!colon || memchr(text, ':', (size_t)(colon - text)))
			return -1;
		n = (size_t)(colon - text);
	}
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, start, n);
	host[n] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || port < 1 || port > 65535)
		return -1;
	if (*text == '[' && !strchr(host, ':'))
		return -1;	/* brackets are for IPv6 only */
	return parse_dest(host, (int)port, ss, len);
}

/* A socket address as "ADDR:PORT" or "[ADDR6]:PORT". */
static inline void format_addr_port(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(v6->sin6_port));
	} else {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(v4->sin_port));
	}
}

/* Sleeps until the CLOCK_MONOTONIC time T (ns); a signal may end it early. */
static inline void sleep_until_ns(int64_t t)
{
	struct timespec ts = { t / NS_PER_SEC, t % NS_PER_SEC };

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/*
 * An option's number in [min, max] (a whole one if `whole`), or the tool
 * exits 2 after one line: "TOOL: invalid WHAT 'TEXT': expected MIN to MAX".
 */
static inline double option_number(const char *tool, const char *what, const char *text,
				   double min, double max, bool whole)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || *end || !(v >= min && v <= max) || (whole && v != (long long)v)) {
		fprintf(stderr, "%s: invalid %s '%s': expected %s %g to %g\n", tool, what, text,
			whole ? "a whole number from" : "a number from", min, max);
		exit(2);
	}
	return v;
}

#endif /* SLUICE_TOOL_H */
