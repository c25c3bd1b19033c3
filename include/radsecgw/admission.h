/* Admission (src/admission.c): the connection limits shared by all workers
 * (max-connections, max-connections-per-ip, max-handshakes, max-handshakes-per-ip, source
 * prefixes) and the aggregate log lines about limits and refusals; it knows no connection
 * (each worker's waiting and silent lists are conn_admit.c's). The counters are the one
 * place workers meet on connect and disconnect; no request touches them. */
#ifndef RADSECGW_ADMISSION_H
#define RADSECGW_ADMISSION_H

#include <stdbool.h>
#include <sys/socket.h>

#include "radsecgw/config.h"

/* Admission on accept, before any TLS: 0 and counted (max-connections), else a negative
 * code and *why: -EACCES refused (allow prefixes; max-connections-per-ip already reached by
 * authenticated connections of this address), -EAGAIN max-connections reached (the caller
 * may evict a silent connection and try again), -ENOMEM. */
int rg_admission_admit(const struct rg_config *cfg, const struct sockaddr *addr, const char **why);
/* A counted connection is gone; established: it had passed rg_admission_established. */
void rg_admission_release(const struct sockaddr *addr, bool established);

/* A handshake slot for a counted connection: 0 and taken, -ENOSPC when max-handshakes
 * (all workers) is reached, -EAGAIN when max-handshakes-per-ip is. Connections without a
 * slot wait, unread (conn.c). */
int rg_admission_handshake_take(const struct rg_config *cfg, const struct sockaddr *addr);
void rg_admission_handshake_release(const struct sockaddr *addr);
/* Could any connection take a slot now (max-handshakes not reached)? Lock-free. */
bool rg_admission_handshake_possible(const struct rg_config *cfg);

/* The handshake of a counted connection succeeded: NULL and counted as authenticated, or
 * the refusal reason (max-connections-per-ip). */
const char *rg_admission_established(const struct rg_config *cfg, const struct sockaddr *addr);

unsigned rg_admission_handshakes(void);

/* Limit events, summed over workers for one aggregate log line per interval. */
enum rg_admission_event {
    RG_ADMISSION_WAITED_GLOBAL, /* a connection waited: max-handshakes reached */
    RG_ADMISSION_WAITED_IP,     /* a connection waited: max-handshakes-per-ip reached */
    RG_ADMISSION_EVICTED,       /* a silent connection was closed to make room */
    RG_ADMISSION_REFUSED,       /* max-connections reached, nothing to evict */
    RG_ADMISSION_WAIT_TIMEOUT,  /* a connection waited past handshake-timeout */
};
void rg_admission_note(enum rg_admission_event ev);
/* The gauge of connections waiting for a slot, all workers: one more / one less. */
void rg_admission_waiting(bool more);
/* A connection is refused for reason (the text of its log line) from src: true when it
 * gets a line of its own now, else it is only counted. Before a certificate was seen
 * (limits, prefixes, timeouts, garbage: !cert) the first of each reason per interval has
 * its line; certificate refusals (unknown CA, expired, revoked, no match...) the first 5
 * per reason per interval. The rest are reported by rg_admission_report_refusals. */
bool rg_admission_refusal(const char *reason, const char *src, bool cert);
/* One event=refusals line per reason that had refusals without a line of their own, with
 * their count and a sample address; every 10 s (from rg_admission_report), or at once when
 * force (at stop). */
void rg_admission_report_refusals(bool force);

/* Log the events since the last report, if any, at most once per 10 s (any worker may call
 * it: the first one past the interval writes the line). */
void rg_admission_report(const struct rg_config *cfg);

#endif
