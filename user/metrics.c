// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The controller's Prometheus endpoint: building the exposition text, and
 * serving the last published copy of it over HTTP with libmicrohttpd.
 *
 * A published document is shared, not copied: the server holds one
 * reference to it and every response that sends it holds another, so a
 * scrape under way keeps the document it began with after the controller
 * publishes the next one, and the last holder frees it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <microhttpd.h>

#include "metrics.h"

/* The option the address comes from, named in every parse error. */
#define ADDRESS_OPTION "--metrics"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define FIRST_TEXT_CAPACITY 4096

/*
 * A scraper needs one connection, a handful of scrapers a few more. The
 * limits keep whoever can reach the port from pinning the controller's
 * memory or file descriptors: past them, new connections are closed at once.
 * Per address, so that where the endpoint listens beyond loopback one host
 * cannot take every slot.
 */
#define MAX_CONNECTIONS 32
#define MAX_CONNECTIONS_PER_ADDRESS 8
/*
 * Seconds a connection may sit idle before it is closed: a client that
 * stops sending or reading cannot hold a slot longer than this. Ten seconds
 * is Prometheus's default scrape timeout; a scraper that keeps its
 * connection between scrapes just opens a new one when it was closed.
 */
#define IDLE_TIMEOUT_SECONDS 10
#define LISTEN_BACKLOG 32

/* A published document, shared by the server and the responses sending it. */
struct metrics_document {
	atomic_uint refs;
	size_t len;
	char *body;
};

struct metrics_server {
	struct MHD_Daemon *daemon;
	unsigned int port;
	/* Guards what follows, which scrapes read on libmicrohttpd's thread. */
	pthread_mutex_t lock;
	/* NULL before the first publish, or after a failed text was published. */
	struct metrics_document *document;
	bool published;		/* anything was, a failed text too */
};

void metrics_text_init(struct metrics_text *t)
{
	*t = (struct metrics_text){};
}

void metrics_text_free(struct metrics_text *t)
{
	free(t->buf);
	metrics_text_init(t);
}

/* Room for `more` bytes and the NUL after them; false once the text failed. */
static bool text_reserve(struct metrics_text *t, size_t more)
{
	size_t cap;
	char *grown;

	if (t->failed)
		return false;
	if (more < t->cap - t->len)
		return true;
	cap = t->cap ? t->cap : FIRST_TEXT_CAPACITY;
	while (more >= cap - t->len) {
		if (cap > SIZE_MAX / 2) {
			t->failed = true;
			return false;
		}
		cap *= 2;
	}
	grown = realloc(t->buf, cap);
	if (!grown) {
		t->failed = true;
		return false;
	}
	t->buf = grown;
	t->cap = cap;
	return true;
}

static void text_append(struct metrics_text *t, const char *bytes, size_t n)
{
	if (!text_reserve(t, n))
		return;
	memcpy(t->buf + t->len, bytes, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void text_append_str(struct metrics_text *t, const char *s)
{
	text_append(t, s, strlen(s));
}

/*
 * Appends s with backslashes and newlines escaped, and double quotes too
 * when it goes inside a label's quotes (help text keeps its quotes as they are).
 */
static void text_append_escaped(struct metrics_text *t, const char *s, bool in_quotes)
{
	const char *special = in_quotes ? "\\\n\"" : "\\\n";

	for (;;) {
		size_t plain = strcspn(s, special);

		text_append(t, s, plain);
		s += plain;
		switch (*s) {
		case '\0':
			return;
		case '\n':
			text_append_str(t, "\\n");
			break;
		case '\\':
			text_append_str(t, "\\\\");
			break;
		default:
			text_append_str(t, "\\\"");
			break;
		}
		s++;
	}
}

void metrics_family(struct metrics_text *t, const char *name, const char *type, const char *help)
{
	text_append_str(t, "# HELP ");
	text_append_str(t, name);
	text_append_str(t, " ");
	text_append_escaped(t, help, false);
	text_append_str(t, "\n# TYPE ");
	text_append_str(t, name);
	text_append_str(t, " ");
	text_append_str(t, type);
	text_append_str(t, "\n");
}

void metrics_format_value(double value, char *buf, size_t len)
{
	if (isnan(value)) {
		snprintf(buf, len, "NaN");
	} else if (isinf(value)) {
		snprintf(buf, len, value > 0 ? "+Inf" : "-Inf");
	} else if (value == 0) {
		snprintf(buf, len, "0");	/* -0 too: a counter never reads "-0" */
	} else if (value == trunc(value) && fabs(value) < 0x1p63) {
		/* %.0f prints a whole double's exact value, where %g would round it to 6 digits. */
		snprintf(buf, len, "%.0f", value);
	} else {
		/*
		 * The fewest digits that read back as the same double: 0.1 rather
		 * than 0.10000000000000001, and 17 at most, which always do.
		 * Prometheus reads them with Go's ParseFloat, the same round trip.
		 */
		for (int digits = 15; digits < 17; digits++) {
			snprintf(buf, len, "%.*g", digits, value);
			if (strtod(buf, NULL) == value)
				return;
		}
		snprintf(buf, len, "%.17g", value);
	}
}

void metrics_sample(struct metrics_text *t, const char *name, const char *const *labels,
		    double value)
{
	char number[METRICS_VALUE_LEN];

	text_append_str(t, name);
	if (labels && labels[0]) {
		text_append_str(t, "{");
		for (size_t i = 0; labels[i]; i += 2) {
			if (!labels[i + 1]) {
				/* A key without a value: a bug in the caller. */
				t->failed = true;
				return;
			}
			if (i)
				text_append_str(t, ",");
			text_append_str(t, labels[i]);
			text_append_str(t, "=\"");
			text_append_escaped(t, labels[i + 1], true);
			text_append_str(t, "\"");
		}
		text_append_str(t, "}");
	}
	metrics_format_value(value, number, sizeof(number));
	text_append_str(t, " ");
	text_append_str(t, number);
	text_append_str(t, "\n");
}

static int address_error(char *err, size_t errlen, const char *addr_port, const char *why)
{
	snprintf(err, errlen, "invalid " ADDRESS_OPTION " '%s': %s", addr_port, why);
	return -1;
}

/* A port in decimal, 0 to 65535, and nothing after it. */
static int parse_port(const char *text, unsigned int *port)
{
	unsigned long value = 0;

	if (!*text)
		return -1;
	for (; *text; text++) {
		if (*text < '0' || *text > '9')
			return -1;
		value = value * 10 + (unsigned long)(*text - '0');
		if (value > 65535)
			return -1;
	}
	*port = (unsigned int)value;
	return 0;
}

int metrics_parse_address(const char *addr_port, struct sockaddr_storage *addr,
			  socklen_t *addr_len, char *err, size_t errlen)
{
	const char *host, *host_end, *port_text;
	char host_copy[INET6_ADDRSTRLEN], why[128];
	unsigned int port;
	size_t host_len;
	int family;

	memset(addr, 0, sizeof(*addr));
	if (!addr_port)
		addr_port = "";
	if (addr_port[0] == '[') {
		family = AF_INET6;
		host = addr_port + 1;
		host_end = strchr(host, ']');
		if (!host_end)
			return address_error(err, errlen, addr_port,
					     "the IPv6 address has no closing ']'");
		if (host_end[1] != ':')
			return address_error(err, errlen, addr_port,
					     "expected ':PORT' after the ']'");
		port_text = host_end + 2;
	} else {
		family = AF_INET;
		host = addr_port;
		host_end = strrchr(addr_port, ':');
		if (!host_end)
			return address_error(err, errlen, addr_port, "expected ADDR:PORT, "
					     "such as 127.0.0.1:9464 or [::1]:9464");
		if (memchr(host, ':', (size_t)(host_end - host)))
			return address_error(err, errlen, addr_port, "an IPv6 address goes "
					     "in brackets, such as [::1]:9464");
		port_text = host_end + 1;
	}

	host_len = (size_t)(host_end - host);
	if (host_len == 0)
		return address_error(err, errlen, addr_port, "the address is missing");
	if (host_len >= sizeof(host_copy)) {
		snprintf(why, sizeof(why), "the address is not an %s address",
			 family == AF_INET ? "IPv4" : "IPv6");
		return address_error(err, errlen, addr_port, why);
	}
	memcpy(host_copy, host, host_len);
	host_copy[host_len] = '\0';
	if (!*port_text)
		return address_error(err, errlen, addr_port, "the port is missing");
	if (parse_port(port_text, &port))
		return address_error(err, errlen, addr_port,
				     "the port must be a number from 0 to 65535");

	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;

		/* inet_pton, not inet_aton: "127.1" or "0x7f.0.0.1" is a typo, not an address. */
		if (inet_pton(AF_INET, host_copy, &in->sin_addr) != 1) {
			snprintf(why, sizeof(why), "'%s' is not an IPv4 address", host_copy);
			return address_error(err, errlen, addr_port, why);
		}
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*addr_len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

		if (inet_pton(AF_INET6, host_copy, &in6->sin6_addr) != 1) {
			snprintf(why, sizeof(why), "'%s' is not an IPv6 address", host_copy);
			return address_error(err, errlen, addr_port, why);
		}
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*addr_len = sizeof(*in6);
	}
	return 0;
}

/*
 * The listening socket, made here rather than by libmicrohttpd so that a
 * failure says why (libmicrohttpd only logs it) and so that it listens on
 * exactly the address given. -1 with errno.
 */
static int listen_on(const struct sockaddr_storage *addr, socklen_t addr_len, unsigned int *port)
{
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	int fd, one = 1, saved;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* A restarted controller listens again while its old connections linger in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto fail;
	if (addr->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		/*
		 * "[::]" means every address, IPv4's too, whatever the
		 * net.ipv6.bindv6only sysctl says (libmicrohttpd's DUAL_STACK
		 * does the same on the sockets it makes itself).
		 */
		int v6_only = !IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof(v6_only)))
			goto fail;
	}
	if (bind(fd, (const struct sockaddr *)addr, addr_len) || listen(fd, LISTEN_BACKLOG) ||
	    getsockname(fd, (struct sockaddr *)&bound, &bound_len))
		goto fail;
	if (bound.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	else
		*port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static void document_put(struct metrics_document *doc)
{
	if (doc && atomic_fetch_sub(&doc->refs, 1) == 1) {
		free(doc->body);
		free(doc);
	}
}

/* Called by libmicrohttpd when a response that sent the document is done with. */
static void document_release(void *doc)
{
	document_put(doc);
}

static enum MHD_Result queue_text(struct MHD_Connection *connection, unsigned int status,
				  const char *text, const char *allow)
{
	struct MHD_Response *response;
	enum MHD_Result queued;

	response = MHD_create_response_from_buffer(strlen(text), (void *)text,
						   MHD_RESPMEM_PERSISTENT);
	if (!response)
		return MHD_NO;
	if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/plain; charset=utf-8") != MHD_YES ||
	    (allow && MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)) {
		MHD_destroy_response(response);
		return MHD_NO;
	}
	queued = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);	/* the connection holds it while sending */
	return queued;
}

static enum MHD_Result queue_metrics(struct metrics_server *server,
				     struct MHD_Connection *connection)
{
	struct metrics_document *doc;
	struct MHD_Response *response;
	enum MHD_Result queued;
	bool published;

	pthread_mutex_lock(&server->lock);
	doc = server->document;
	if (doc)
		atomic_fetch_add(&doc->refs, 1);
	published = server->published;
	pthread_mutex_unlock(&server->lock);

	if (!doc && !published)
		return queue_text(connection, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "no metrics yet: the controller has not finished its "
				  "first tick\n", NULL);
	if (!doc)
		return queue_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "the controller could not build its last metrics\n", NULL);

	response = MHD_create_response_from_buffer_with_free_callback_cls(doc->len, doc->body,
									 document_release, doc);
	if (!response) {
		document_put(doc);
		return MHD_NO;
	}
	if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE) !=
	    MHD_YES) {
		MHD_destroy_response(response);	/* releases the document too */
		return MHD_NO;
	}
	queued = MHD_queue_response(connection, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	return queued;
}

/*
 * Answers at once, on the first call for a request: none of them reads a
 * body. libmicrohttpd leaves HEAD's body out by itself.
 */
static enum MHD_Result answer_request(void *cls, struct MHD_Connection *connection,
				      const char *url, const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **request_state)
{
	struct metrics_server *server = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)request_state;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return queue_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "only GET and HEAD are served here\n", "GET, HEAD");
	if (!strcmp(url, "/metrics"))
		return queue_metrics(server, connection);
	if (!strcmp(url, "/"))
		return queue_text(connection, MHD_HTTP_OK,
				  "Sluice controller: its metrics are at /metrics\n", NULL);
	return queue_text(connection, MHD_HTTP_NOT_FOUND,
			  "not found: the metrics are at /metrics\n", NULL);
}

/*
 * Closes fd if it is still the socket `before` describes. Whether a failed
 * MHD_start_daemon() closed the socket it was handed is not documented; by
 * now another thread may have been given the same number for another file,
 * which a blind close() would take from it.
 */
static void close_if_same(int fd, const struct stat *before)
{
	struct stat now;

	if (fstat(fd, &now) == 0 && now.st_dev == before->st_dev && now.st_ino == before->st_ino)
		close(fd);
}

struct metrics_server *metrics_start(const char *addr_port, char *err, size_t errlen)
{
	struct metrics_server *server = NULL;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	sigset_t all_signals, caller_signals;
	struct stat socket_stat;
	int fd = -1;

	if (metrics_parse_address(addr_port, &addr, &addr_len, err, errlen))
		return NULL;
	server = calloc(1, sizeof(*server));
	if (!server) {
		snprintf(err, errlen, "cannot serve metrics on %s: %s", addr_port,
			 strerror(ENOMEM));
		return NULL;
	}
	pthread_mutex_init(&server->lock, NULL);
	fd = listen_on(&addr, addr_len, &server->port);
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr_port, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &socket_stat)) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr_port, strerror(errno));
		close(fd);
		goto fail;
	}
	/*
	 * Its own polling thread (epoll on Linux), so scrapes never run on the
	 * controller's loop. No MHD_USE_ERROR_LOG: a port scan or a flood of
	 * connections past the limit would fill the journal with its lines.
	 *
	 * The thread starts with every signal blocked: the controller reads
	 * SIGTERM and the like from a signalfd, which only works if no thread
	 * takes them, and one that did would die of the default action.
	 */
	sigfillset(&all_signals);
	pthread_sigmask(SIG_SETMASK, &all_signals, &caller_signals);
	server->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL,
					  answer_request, server,
					  MHD_OPTION_LISTEN_SOCKET, fd,
					  MHD_OPTION_CONNECTION_LIMIT,
					  (unsigned int)MAX_CONNECTIONS,
					  MHD_OPTION_PER_IP_CONNECTION_LIMIT,
					  (unsigned int)MAX_CONNECTIONS_PER_ADDRESS,
					  MHD_OPTION_CONNECTION_TIMEOUT,
					  (unsigned int)IDLE_TIMEOUT_SECONDS,
					  MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &caller_signals, NULL);
	if (!server->daemon) {
		snprintf(err, errlen, "cannot serve metrics on %s: libmicrohttpd did not start",
			 addr_port);
		close_if_same(fd, &socket_stat);
		goto fail;
	}
	return server;
fail:
	pthread_mutex_destroy(&server->lock);
	free(server);
	return NULL;
}

unsigned int metrics_port(const struct metrics_server *server)
{
	return server->port;
}

void metrics_publish(struct metrics_server *server, struct metrics_text *t)
{
	struct metrics_document *doc = NULL, *old;

	if (!server) {
		metrics_text_free(t);
		return;
	}
	if (!t->failed)
		doc = malloc(sizeof(*doc));
	if (doc) {
		atomic_init(&doc->refs, 1);
		doc->body = t->buf;
		doc->len = t->len;
	} else {
		free(t->buf);
	}
	metrics_text_init(t);

	pthread_mutex_lock(&server->lock);
	old = server->document;
	server->document = doc;
	server->published = true;
	pthread_mutex_unlock(&server->lock);
	document_put(old);
}

void metrics_stop(struct metrics_server *server)
{
	if (!server)
		return;
	/* Ends the thread and every connection (releasing what they sent) and closes the socket. */
	MHD_stop_daemon(server->daemon);
	document_put(server->document);
	pthread_mutex_destroy(&server->lock);
	free(server);
}
