/* Per-worker counters. Each worker increments its own block (relaxed atomics so the
 * main thread can read them without a lock); the main thread sums every block into one
 * syslog line every stats.interval seconds, and the metrics endpoint into Prometheus
 * samples on every scrape. Knows nothing of the protocol.
 *
 * Adding a counter is one line here, X(field, RG_COUNTER or RG_GAUGE, "metric name",
 * "labels", "help"), and RG_STAT_INC(&w->stats, field) where it happens: the stats line
 * gets field=N and /metrics the sample. Rows that share a metric name are one family told
 * apart by their labels (radsecgw_dropped_total{reason="..."}); the help of its first row is
 * the family's. A bare X(field) works too: a counter radsecgw_FIELD_total. */
#ifndef RADSECGW_STATS_H
#define RADSECGW_STATS_H

#include <stdint.h>
#include <stdio.h>

enum rg_stat_kind { RG_COUNTER, RG_GAUGE };

#define RG_STATS_FIELDS(X)                                                                         \
    X(requests, RG_COUNTER, "radsecgw_received_total", "",                                         \
      "Requests received from APs, before any check")                                              \
    X(replies, RG_COUNTER, "radsecgw_replies_total", "", "Replies written back to APs")            \
    X(forwarded, RG_COUNTER, "radsecgw_forwarded_total", "",                                       \
      "Requests sent to a backend (first try)")                                                    \
    X(retransmits, RG_COUNTER, "radsecgw_retransmissions_total", "",                               \
      "Retransmissions to backends")                                                               \
    X(failovers, RG_COUNTER, "radsecgw_failovers_total", "", "Requests moved to another server")   \
    X(timeouts, RG_COUNTER, "radsecgw_timeouts_total", "", "Requests that no server answered")     \
    X(status_local, RG_COUNTER, "radsecgw_status_server_answered_total", "",                       \
      "Status-Server from APs answered by the gateway")                                            \
    X(duplicates, RG_COUNTER, "radsecgw_duplicates_total", "",                                     \
      "Requests whose ID and authenticator were already in flight")                                \
    X(drop_malformed, RG_COUNTER, "radsecgw_dropped_total", "reason=\"malformed\"",                \
      "Packets dropped, by reason (see the stats line in docs/operations.md)")                     \
    X(drop_bad_request, RG_COUNTER, "radsecgw_dropped_total", "reason=\"bad_request\"", "")        \
    X(drop_invalid, RG_COUNTER, "radsecgw_dropped_total", "reason=\"invalid\"", "")                \
    X(abandoned, RG_COUNTER, "radsecgw_abandoned_total", "",                                       \
      "In-flight requests replaced by a new one on the same ID (RFC 5080)")                        \
    X(drop_bad_reply, RG_COUNTER, "radsecgw_dropped_total", "reason=\"bad_reply\"", "")            \
    X(drop_unsigned, RG_COUNTER, "radsecgw_dropped_total", "reason=\"unsigned_reply\"", "")        \
    X(drop_unusable, RG_COUNTER, "radsecgw_dropped_total", "reason=\"unusable_reply\"", "")        \
    X(unsigned_accepted, RG_COUNTER, "radsecgw_unsigned_replies_accepted_total", "",               \
      "Access-* replies forwarded without Message-Authenticator")                                  \
    X(drop_unknown_reply, RG_COUNTER, "radsecgw_dropped_total", "reason=\"unknown_reply\"", "")    \
    X(drop_wrong_source, RG_COUNTER, "radsecgw_dropped_total", "reason=\"wrong_source\"", "")      \
    X(drop_late_reply, RG_COUNTER, "radsecgw_dropped_total", "reason=\"late_reply\"", "")          \
    X(drop_no_server, RG_COUNTER, "radsecgw_dropped_total", "reason=\"no_server\"", "")            \
    X(reject_no_server, RG_COUNTER, "radsecgw_rejected_no_server_total", "",                       \
      "Access-Rejects sent by the gateway: every server of the pool dead")                         \
    X(drop_unsupported, RG_COUNTER, "radsecgw_dropped_total", "reason=\"unsupported\"", "")        \
    X(protocol_errors, RG_COUNTER, "radsecgw_radius11_protocol_errors_total", "",                  \
      "RADIUS/1.1 Protocol-Error sent: request not forwarded (RFC 9765)")                          \
    X(token_reuse, RG_COUNTER, "radsecgw_radius11_token_reuse_total", "",                          \
      "RADIUS/1.1 Token reused for another packet: connection closed")                             \
    X(coa_requests, RG_COUNTER, "radsecgw_coa_requests_total", "",                                 \
      "CoA/Disconnect-Requests accepted from coa clients")                                         \
    X(coa_forwarded, RG_COUNTER, "radsecgw_coa_forwarded_total", "",                               \
      "CoA/Disconnect-Requests sent down a NAS connection")                                        \
    X(coa_replies, RG_COUNTER, "radsecgw_coa_replies_total", "",                                   \
      "NAS ACK/NAK relayed to the coa client")                                                     \
    X(coa_nak_unroutable, RG_COUNTER, "radsecgw_coa_naks_total", "reason=\"unroutable\"",          \
      "NAKs of the gateway's own")                                                                 \
    X(coa_nak_local, RG_COUNTER, "radsecgw_coa_naks_total", "reason=\"local\"", "")                \
    X(coa_timeouts, RG_COUNTER, "radsecgw_coa_timeouts_total", "",                                 \
      "CoA requests the NAS did not answer in time")                                               \
    X(coa_duplicates, RG_COUNTER, "radsecgw_coa_duplicates_total", "",                             \
      "Retransmissions of a CoA in flight, not sent twice")                                        \
    X(coa_drop_bad, RG_COUNTER, "radsecgw_coa_dropped_total", "reason=\"bad\"",                    \
      "CoA packets discarded")                                                                     \
    X(coa_drop_reply, RG_COUNTER, "radsecgw_coa_dropped_total", "reason=\"unmatched_reply\"", "")  \
    X(coa_handoffs, RG_COUNTER, "radsecgw_coa_handoffs_total", "",                                 \
      "CoA handed to the instance holding the NAS (cluster)")                                      \
    X(packet_timeouts, RG_COUNTER, "radsecgw_packet_timeouts_total", "",                           \
      "Connections closed: a TLS record or RADIUS packet stayed incomplete")                       \
    X(rate_limited, RG_COUNTER, "radsecgw_rate_limited_total", "",                                 \
      "Times a connection hit max-requests-per-second")                                            \
    X(unread_paused, RG_COUNTER, "radsecgw_unread_paused_total", "",                               \
      "Times reading stopped: the peer does not read its replies")                                 \
    X(abandon_paused, RG_COUNTER, "radsecgw_abandon_paused_total", "",                             \
      "Times reading stopped: too many abandoned requests outstanding")                            \
    X(share_paused, RG_COUNTER, "radsecgw_share_paused_total", "",                                 \
      "Times reading stopped: the connection held its share of congested backends")                \
    X(backend_congested, RG_COUNTER, "radsecgw_backend_congested_intervals_total", "",             \
      "100 ms intervals in which backend replies came back late (fair shares in force)")           \
    X(turn_deferred, RG_COUNTER, "radsecgw_turn_deferred_total", "",                               \
      "Times a connection used its share of a loop turn")                                          \
    X(backpressure, RG_COUNTER, "radsecgw_backpressure_total", "",                                 \
      "Times a connection was paused for a full backend table")                                    \
    X(conn_accepted, RG_COUNTER, "radsecgw_connections_accepted_total", "",                        \
      "TLS connections established and identified")                                                \
    X(conn_refused, RG_COUNTER, "radsecgw_connections_refused_total", "",                          \
      "Connections refused before or during the handshake")                                        \
    X(conn_waited, RG_COUNTER, "radsecgw_connections_waited_total", "",                            \
      "Connections that waited for a handshake slot")                                              \
    X(conn_evicted, RG_COUNTER, "radsecgw_connections_evicted_total", "",                          \
      "Silent connections closed to make room")                                                    \
    X(conn_waiting, RG_GAUGE, "radsecgw_connections_waiting", "",                                  \
      "Connections waiting for a handshake slot")                                                  \
    X(conn_handshaking, RG_GAUGE, "radsecgw_handshakes_in_progress", "",                           \
      "Connections in the TLS handshake")                                                          \
    X(conn_closed, RG_COUNTER, "radsecgw_connections_closed_total", "",                            \
      "Established connections closed")                                                            \
    X(proxy_checks, RG_COUNTER, "radsecgw_proxy_health_checks_total", "",                          \
      "Balancer health checks (PROXY LOCAL, bare connect)")                                        \
    X(proxy_refused, RG_COUNTER, "radsecgw_proxy_refused_total", "",                               \
      "Refused before TLS: not in proxy-from, bad or missing PROXY header")                        \
    X(conn_open, RG_GAUGE, "radsecgw_connections_open", "", "Established connections")             \
    X(accept_failed, RG_COUNTER, "radsecgw_accept_failed_total", "",                               \
      "accept errors reported by libuv")                                                           \
    X(fd_limit, RG_COUNTER, "radsecgw_fd_limit_total", "",                                         \
      "Connections accepted within 16 descriptors of RLIMIT_NOFILE (EMFILE next)")                 \
    X(conn_radius11, RG_GAUGE, "radsecgw_connections_radius11", "",                                \
      "Open connections speaking RADIUS/1.1")                                                      \
    X(tls_sessions, RG_GAUGE, "radsecgw_tls_sessions", "",                                         \
      "TLS session objects (created at a connection's first byte)")                                \
    X(conn_buffers, RG_GAUGE, "radsecgw_connection_buffers", "",                                   \
      "Pooled buffers held by connections (idle ones hold none)")                                  \
    X(outstanding, RG_GAUGE, "radsecgw_inflight", "", "Requests in flight to backends")

struct rg_stats {
#define RG_STATS_DECLARE(name, ...) uint64_t name;
    RG_STATS_FIELDS(RG_STATS_DECLARE)
#undef RG_STATS_DECLARE
};

#define RG_STAT_INC(st, name)    __atomic_fetch_add(&(st)->name, 1, __ATOMIC_RELAXED)
#define RG_STAT_DEC(st, name)    __atomic_fetch_sub(&(st)->name, 1, __ATOMIC_RELAXED)
#define RG_STAT_ADD(st, name, n) __atomic_fetch_add(&(st)->name, (n), __ATOMIC_RELAXED)

/* total += block, field by field. */
void rg_stats_sum(struct rg_stats *total, const struct rg_stats *block);
/* "requests=1 replies=1 ..." into buf. */
void rg_stats_format(const struct rg_stats *st, char *buf, size_t len);

#endif
