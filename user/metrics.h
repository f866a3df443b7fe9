/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The controller's Prometheus endpoint (`sluice run --metrics ADDR:PORT`).
 * Once per tick the controller writes what it knows into a metrics_text, in
 * the Prometheus text format 0.0.4, and publishes it; scrapes of GET
 * /metrics, answered by libmicrohttpd on its own thread, get the document
 * last published, whole. The controller's loop never waits for a scraper,
 * and a scraper never sees a document half built.
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The longest error metrics_start() writes is well under this. */
#define METRICS_ERR_LEN 256

/*
 * The exposition text being built for one scrape. `failed` is set when
 * memory ran out or a call was malformed: what was written is then
 * incomplete, and publishing it makes /metrics answer 500 rather than serve
 * numbers with some missing. buf stays NUL-terminated once anything is in it.
 */
struct metrics_text {
	char *buf;
	size_t len, cap;
	bool failed;
};

void metrics_text_init(struct metrics_text *t);
/* Frees the text and leaves it as metrics_text_init() does, ready for reuse. */
void metrics_text_free(struct metrics_text *t);

/*
 * "# HELP name help\n# TYPE name type\n", type "counter" or "gauge". The help
 * text has its backslashes and newlines escaped, as the format wants.
 */
void metrics_family(struct metrics_text *t, const char *name, const char *type, const char *help);
/*
 * "name{key="value",...} value\n". labels is NULL, or key/value pairs ended
 * by a NULL key: (const char *[]){"outcome", "passed", NULL}. Label values
 * have backslashes, double quotes and newlines escaped. A key without a value
 * marks the text failed. Whole numbers are printed as integers, exact up to
 * 2^63 (a double holds any integer up to 2^53 exactly); other numbers in
 * the fewest digits that read back as the same double; NaN, +Inf and -Inf as
 * Prometheus spells them.
 */
void metrics_sample(struct metrics_text *t, const char *name, const char *const *labels,
		    double value);
/* Room for any value metrics_format_value() writes: "-1.2345678901234567e-308" and more. */
#define METRICS_VALUE_LEN 32
/* Writes value as metrics_sample() does. */
void metrics_format_value(double value, char *buf, size_t len);

/*
 * Reads "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464" or "[::]:9464" (port
 * 0: any free port). Numeric addresses only, IPv4 in dotted quads, IPv6 in
 * brackets; no host names, as the endpoint must listen exactly where it is
 * told. 0, or -1 with one line in err naming the input.
 */
int metrics_parse_address(const char *addr_port, struct sockaddr_storage *addr,
			  socklen_t *addr_len, char *err, size_t errlen);

struct metrics_server;

/*
 * Parses ADDR:PORT, listens there and starts serving on libmicrohttpd's own
 * thread, which has every signal blocked (so signals stay with the
 * controller's signalfd). "[::]" listens on IPv4 too. NULL on failure, with one line in err:
 * "invalid --metrics 'x': ..." or "cannot listen on 127.0.0.1:9464: Address
 * already in use".
 */
struct metrics_server *metrics_start(const char *addr_port, char *err, size_t errlen);
/* The port it listens on: the one chosen when it was given port 0. */
unsigned int metrics_port(const struct metrics_server *server);
/*
 * Serves t's text on GET /metrics from now on, in place of the document
 * before. Takes the text over, without copying it: t is left empty, ready to
 * build the next one. Scrapes under way finish with the document they began
 * with. Before the first publish, /metrics answers 503; after a failed
 * text, 500. With no server (NULL) the text is just freed.
 */
void metrics_publish(struct metrics_server *server, struct metrics_text *t);
/* Stops serving, closes the socket and frees everything. NULL is fine. */
void metrics_stop(struct metrics_server *server);

#endif /* SLUICE_METRICS_H */
