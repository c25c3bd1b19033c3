/* Per-worker counters. Each worker increments its own block (relaxed atomics so the
 * main thread can read them without a lock); the main thread sums every block into one
 * syslog line every stats.interval seconds. Knows nothing of the protocol. */
#ifndef RADSECGW_STATS_H
#define RADSECGW_STATS_H

#include <stdint.h>
#include <stdio.h>

#define RG_STATS_FIELDS(X)                                                                         \
    X(requests)           /* requests received from APs */                                         \
    X(replies)            /* replies written back to APs */                                        \
    X(forwarded)          /* packets sent to backends (first try) */                               \
    X(retransmits)        /* retransmissions to backends */                                        \
    X(failovers)          /* requests moved to another server */                                   \
    X(timeouts)           /* requests that no server answered */                                   \
    X(status_local)       /* Status-Server answered by the gateway */                              \
    X(duplicates)         /* request ID already in flight on the connection */                     \
    X(drop_malformed)     /* malformed packets from APs (connection closed) */                     \
    X(drop_bad_request)   /* AP request with bad authenticator / Message-Authenticator */          \
    X(drop_invalid)       /* AP request discarded, connection kept */                              \
    X(abandoned)          /* in-flight request replaced: ID reused (RFC 5080) */                   \
    X(drop_bad_reply)     /* backend reply failing Response Auth / Message-Authenticator */        \
    X(drop_unsigned)      /* verified reply dropped: no Message-Authenticator */                   \
    X(drop_unusable)      /* verified reply that cannot be forwarded */                            \
    X(unsigned_accepted)  /* Access-* reply forwarded unsigned (auto, false) */                    \
    X(drop_unknown_reply) /* backend reply for an ID not in flight */                              \
    X(drop_wrong_source)  /* backend reply from the wrong address or port */                       \
    X(drop_late_reply)    /* reply after the AP's connection closed */                             \
    X(drop_no_server)     /* every server of the pool dead, silent */                              \
    X(reject_no_server)   /* every server of the pool dead, Access-Reject sent */                  \
    X(drop_unsupported)   /* codes the gateway does not proxy */                                   \
    X(protocol_errors)    /* RADIUS/1.1 Protocol-Error sent: request not forwarded (RFC 9765) */   \
    X(token_reuse)        /* RADIUS/1.1 Token reused for another packet: connection closed */      \
    X(coa_requests)       /* CoA/Disconnect-Requests accepted from coa clients */                  \
    X(coa_forwarded)      /* sent down a NAS's TLS connection */                                   \
    X(coa_replies)        /* NAS ACK/NAK relayed to the coa client */                              \
    X(coa_nak_unroutable) /* NAK 502: no connected NAS with coa = true */                          \
    X(coa_nak_local)      /* other NAKs of the gateway's own (401, 506) */                         \
    X(coa_timeouts)       /* NAS did not answer in time: forgotten */                              \
    X(coa_duplicates)     /* retransmission of a CoA in flight, not sent twice */                  \
    X(coa_drop_bad)       /* unknown client, malformed, bad authenticator (either side) */         \
    X(coa_drop_reply)     /* NAS ACK/NAK matching no CoA in flight */                              \
    X(coa_handoffs)       /* handed to the instance holding the NAS (cluster) */                   \
    X(backpressure)       /* times a connection was paused for a full table */                     \
    X(packet_timeouts)    /* closed: a TLS record or RADIUS packet stayed incomplete */            \
    X(rate_limited)       /* times a connection hit max-requests-per-second */                     \
    X(unread_paused)      /* times reading stopped: the peer does not read its replies */          \
    X(abandon_paused)     /* times reading stopped: too many abandoned requests outstanding */     \
    X(turn_deferred)      /* times a connection used its share of a loop turn */                   \
    X(conn_accepted)      /* TLS connections established */                                        \
    X(conn_refused)       /* refused before or during the handshake */                             \
    X(accept_failed)      /* accept errors reported by libuv */                                    \
    X(fd_limit)           /* accepted within 16 descriptors of RLIMIT_NOFILE (EMFILE next) */      \
    X(conn_waited)        /* waited for a handshake slot (max-handshakes, -per-ip) */              \
    X(conn_evicted)       /* silent connections closed to make room (limit full) */                \
    X(conn_waiting)       /* gauge: accepted, waiting for a handshake slot */                      \
    X(conn_handshaking)   /* gauge: holding a handshake slot */                                    \
    X(conn_closed)        /* connections closed */                                                 \
    X(proxy_checks)       /* balancer health checks (PROXY LOCAL, bare connect) */                 \
    X(proxy_refused)      /* refused before TLS: not in proxy-from, bad or missing PROXY header */ \
    X(conn_open)          /* gauge: open connections */                                            \
    X(conn_radius11)      /* gauge: open connections speaking RADIUS/1.1 */                        \
    X(tls_sessions)       /* gauge: WOLFSSL objects (created at a connection's first byte) */      \
    X(conn_buffers)       /* gauge: pooled buffers held by connections (idle ones hold none) */    \
    X(outstanding)        /* gauge: requests in flight to backends */

struct rg_stats {
#define RG_STATS_DECLARE(name) uint64_t name;
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
