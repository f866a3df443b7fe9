/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the unit tests that make network namespaces of their own share
 * (cmocka.h before this header).
 */
#ifndef SLUICE_NETNS_TESTING_H
#define SLUICE_NETNS_TESTING_H

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* Brings up lo in the calling thread's namespace: a new one starts with it down. 0 or -1. */
static inline int set_loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), failed;

	if (fd < 0)
		return -1;
	failed = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	failed = failed || ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return failed ? -1 : 0;
}

/* The network namespace the calling thread is in, by inode: to check it came back home. */
static inline ino_t thread_netns_inode(void)
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st))
		fail_msg("stat /proc/thread-self/ns/net: %s", strerror(errno));
	return st.st_ino;
}

#endif /* SLUICE_NETNS_TESTING_H */
