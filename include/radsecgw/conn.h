/* One AP connection: the accepted TCP handle, its TLS stream, RADIUS framing on the
 * decrypted bytes (RFC 6613 §2.6.4), handshake and idle timers, the origin it hands the
 * state table with each request (origin.h: how to answer it, its secret and org) and the
 * write path back to the AP. Knows nothing of backends. */
#ifndef RADSECGW_CONN_H
#define RADSECGW_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <uv.h>

#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/origin.h"
#include "radsecgw/tls.h"
#include "radsecgw/tls_stream.h"

struct rg_gen;
struct rg_coa_conn;
struct rg_coa_worker;
struct rg_metrics_shard;
struct rg_pp2_reader;
struct rg_proxy;
struct rg_stats;
struct rg_conn_set;

enum rg_conn_state {
    RG_CONN_PROXY_HEADER, /* from a balancer (proxy-protocol): its PROXY v2 header is read */
    RG_CONN_WAITING,      /* accepted and counted, not read: no handshake slot yet */
    RG_CONN_HANDSHAKE,
    RG_CONN_OPEN,
    RG_CONN_CLOSING, /* close_notify sent / flushing, no more reads */
    RG_CONN_CLOSED,  /* handles closing; freed in the last close callback */
};

/* A FIFO of connections (oldest at head), linked through rg_conn.admit_prev/admit_next. */
struct rg_conn_queue {
    struct rg_conn *head, *tail; /* not owned */
    unsigned n;
};

enum rg_conn_list {
    RG_CONN_LIST_NONE,
    RG_CONN_LIST_WAITING, /* worker's queue of connections waiting for a handshake slot */
    RG_CONN_LIST_SILENT,  /* worker's handshakes that have not received a byte yet */
};

struct rg_conn {
    uv_tcp_t tcp;     /* embedded; the struct is freed after tcp and timer are closed */
    uv_timer_t timer; /* embedded; the earliest of: handshake, packet, idle timeout, rate window,
                         certificate expiry (arm_timer) */
    uint64_t timer_due_ms; /* when timer fires; 0: not armed */
    unsigned open_handles;
    struct rg_conn_set *set; /* not owned: its worker's connections */
    struct rg_gen *gen;      /* reference held: the snapshot this connection was accepted under */
    enum rg_conn_state state;
    struct rg_tls_stream tls; /* owns the WOLFSSL */
    struct rg_tls_peer peer;  /* org (points into gen's config), subject, CN */
    struct sockaddr_storage addr;
    char addr_text[64]; /* "[::1]:5555" / "127.0.0.1:5555" */
    /* Behind a balancer (proxy-protocol): addr is the AP's address from the PROXY header,
     * used for every limit and log; via_text names the balancer's connection ("" if none). */
    char via_text[64];
    struct rg_pp2_reader *pp2; /* malloced, owned while the PROXY header is read */
    uint64_t id;               /* connection number, unique in the process: conn=N in logs */
    uint64_t last_activity_ms; /* last whole packet in or out: the idle timer */
    /* packet-timeout: the TLS record being received (header octets seen, body octets
     * still to come) and since when; since when the head of tls.plain is an incomplete
     * RADIUS packet. 0: nothing incomplete. Only counted while reading. */
    uint8_t rec_hdr[5];
    uint8_t rec_hdr_got;
    uint32_t rec_left;
    uint64_t rec_since_ms;
    uint64_t pkt_since_ms;
    /* max-requests-per-second: the current one-second window and requests in it. */
    uint64_t rate_window_ms;
    unsigned rate_count;
    bool rate_blocked; /* the window's requests are used: not read until it ends */
    /* Fairness: what this connection may still do in the worker's current loop turn. */
    uint64_t turn;         /* the worker's turn these budgets belong to */
    unsigned turn_packets; /* packets it may still frame */
    size_t turn_bytes;     /* plaintext octets it may still decrypt */
    bool more_queued;      /* used its share with work left: in the worker's more list */
    struct rg_conn *more_prev, *more_next; /* links in that list */
    uint64_t accepted_ms;
    bool counted;     /* rg_admission_admit counted it: released at close */
    bool holds_slot;  /* a handshake slot (max-handshakes) is held */
    bool established; /* rg_admission_established counted it as authenticated */
    bool heard;       /* a byte arrived from the peer */
    bool watching;    /* waiting for a slot: readable is noticed (nothing is read) */
    bool alpn_ready;  /* the ClientHello was read and ALPN set up (rg_tls_alpn_prepare) */
    enum rg_conn_list list;
    struct rg_conn *admit_prev, *admit_next; /* links in that list of the worker */
    struct rg_buf writing; /* ciphertext handed to uv_write, owned until its callback */
    struct rg_buf staged;  /* plaintext packets of this loop turn, encrypted together (owned) */
    bool staged_listed;    /* in the worker's list of connections with staged packets */
    struct rg_conn *next_staged;
    uv_write_t write_req;
    bool write_busy;
    bool paused;                 /* reading stopped: a backend table is full (backpressure) */
    bool reading;                /* uv_read_start in effect (update_reading decides) */
    struct rg_conn *next_paused; /* worker's list of paused connections */
    /* What the state table knows of this connection (described when it opens and when it
     * adopts a reload's snapshot) and its bookkeeping of the requests in flight and
     * abandoned (the table's: conn.c only reads how many are in flight). */
    struct rg_origin origin;
    /* RG_PROXY_ABANDONED_MAX requests it abandoned by reusing their ID (RFC 5080 §2.2.2)
     * still hold backend IDs, or it holds its share of congested backends (proxy_fair.h):
     * not read until the state table lets it go on (origin's drained). */
    bool abandon_blocked;
    /* Its replies wait unsent past the bound (rg_conn_write_backlog: the peer does not read
     * them): what it already sent is neither read nor forwarded until they drain. */
    bool backlog_blocked;
    uint8_t proto;               /* enum rg_radius_proto, decided by ALPN in the handshake */
    struct rg_coa_conn *coa;     /* owned (coa_worker.c): learned NAS identities, CoA in flight */
    struct rg_conn *prev, *next; /* worker's list of connections */
    bool trim_queued;            /* on the worker's trim list */
    struct rg_conn *trim_prev, *trim_next;
};

/* What a connection set asks of its owner, which wires each to a handle of its loop
 * (worker.c): admit, run rg_conn_admit_waiting soon and then every few ms while any wait;
 * more, run rg_conn_run_more once a turn while the more list is not empty; flush, run
 * rg_conn_wake_paused and rg_conn_flush_staged at the end of this turn (the check phase);
 * trim, run rg_conn_trim_idle once this turn has polled. Connections call nothing else of
 * their owner. */
struct rg_conn_hooks {
    void (*schedule_admit)(void *arg);
    void (*schedule_more)(void *arg);
    void (*schedule_flush)(void *arg);
    void (*schedule_trim)(void *arg);
    void *arg;
};

/* One worker's connections and what schedules them: defined and kept by the connection
 * files; the worker embeds it, fills in what it lends (the first block) before the first
 * accept, and sets gen at each reload. */
struct rg_conn_set {
    uv_loop_t *loop;                  /* not owned */
    unsigned index;                   /* the worker's, for worker= in log lines */
    struct rg_stats *stats;           /* not owned */
    struct rg_metrics_shard *metrics; /* not owned; NULL without a metrics block */
    struct rg_proxy *proxy;           /* not owned: the state table requests go to */
    struct rg_coa_worker *coa;        /* not owned (coa_worker.c): this worker's reverse CoA */
    struct rg_gen *gen;               /* not owned: the owner's generation in force */
    struct rg_conn_hooks hooks;

    struct rg_conn *head; /* every connection (owned, freed in close callbacks) */
    unsigned count;
    unsigned closes_unreturned;    /* closed since the owner last returned memory */
    struct rg_conn *staged;        /* connections with packets staged in this loop turn */
    struct rg_conn *paused;        /* connections waiting for table room, oldest first */
    struct rg_conn *paused_tail;   /* last of that list: paused connections resume in order */
    unsigned wake_credit;          /* slots freed since the paused were woken: how many to wake */
    struct rg_conn_queue waiting;  /* accepted, waiting for a handshake slot, oldest first */
    struct rg_conn *waiting_heard; /* ...but those that spoke first: the last of them */
    struct rg_conn_queue silent;   /* in the handshake, nothing received yet, oldest first */
    /* Fairness (conn_fairness.c): the owner counts its loop turns here; connections that used
     * their share of one wait in the more list for the next. */
    uint64_t turn;
    bool more_turn;          /* the more list's run began this iteration's turn */
    unsigned turn_busy;      /* connections that used up their share in this turn */
    unsigned turn_busy_prev; /* ...and in the last one (conn_fairness.c divides by it) */
    struct rg_conn *more_head, *more_tail; /* not owned */
    unsigned nmore;
    uint64_t handshake_turn;     /* the turn handshake_ns belongs to */
    uint64_t handshake_ns;       /* TLS handshake work done in that turn */
    struct rg_conn *trim_head;   /* connections to trim (rg_conn.trim_next) */
    struct rg_buf_pool buf_pool; /* TLS and write buffers of these connections */
    uint8_t tcp_buf[65536];      /* receive buffer for AP connections */
};

/* The fields every log line about a connection carries, after event=NAME:
 * rg_warn("event=x " RG_CONN_LOG_FMT " reason=...", RG_CONN_LOG_ARGS(c), ...). */
#define RG_CONN_LOG_FMT     "conn=%llu src=%s cn=\"%s\""
#define RG_CONN_LOG_ARGS(c) (unsigned long long)(c)->id, (c)->addr_text, RG_LOG_ESC((c)->peer.cn)

/* Accept a pending connection on server (a listening handle of set's worker). It starts its
 * handshake when a slot is free (max-handshakes, max-handshakes-per-ip), else waits unread in the
 * worker's FIFO until one is, or until handshake-timeout from the accept. -ENOMEM: nothing
 * was accepted (the caller still takes the connection off the queue: rg_listener_drop). */
int rg_conn_accept(struct rg_conn_set *set, uv_stream_t *server);

/* Give free handshake slots to waiting connections of set, oldest first (from the loop:
 * the worker's admit timer; slots freed by other workers are noticed by its polling). */
void rg_conn_admit_waiting(struct rg_conn_set *set);

/* Write a RADIUS packet to the AP; false if the connection is gone. The packet is staged:
 * every packet for one connection in a loop turn goes out in one TLS record and one write
 * (rg_conn_flush_staged, from the worker's check handle). */
bool rg_conn_send(struct rg_conn *c, const uint8_t *pkt, size_t len);

/* Encrypt and write what every connection of set staged in this loop turn. */
void rg_conn_flush_staged(struct rg_conn_set *set);

/* Close (logging why); safe to call more than once. */
void rg_conn_close(struct rg_conn *c, const char *why);

/* The state table freed a slot: one connection paused for table room is to be woken, from
 * the loop (hooks.schedule_flush), not from inside the caller. */
void rg_conn_slot_freed(struct rg_conn_set *set);
/* Wake as many paused connections as slots were freed, oldest first: each processes its
 * buffered packets and reads again (or pauses again at the tail). */
void rg_conn_wake_paused(struct rg_conn_set *set);
/* Are freed slots waiting to wake paused connections? */
static inline bool rg_conn_wake_due(const struct rg_conn_set *set)
{
    return set->wake_credit > 0 && set->paused;
}

/* A new loop turn of set (the worker's idle handle when connections wait in the more list, else
 * its prepare handle: once per loop iteration), and the packets each connection may frame in
 * it (fewer while many used up their share in the last one). */
void rg_conn_turn_begin(struct rg_conn_set *set);

/* From the worker's idle handle, once per loop turn: continue the connections that used
 * their share of the previous turn (packets, decrypted octets, handshake time) with work
 * left, oldest first; those that use up this turn's share too go to the back again. */
void rg_conn_run_more(struct rg_conn_set *set);

/* A new generation was installed (reload, CRL refresh): re-verify the peer under g
 * (radiusdtls-bis §3.3). Closes the connection, logging "no longer verifies after reload:
 * REASON", when it no longer verifies or now belongs to another org; otherwise the
 * connection adopts g. Only OPEN connections are checked (a handshake in progress is decided
 * under the worker's generation when it completes). */
void rg_conn_recheck(struct rg_conn *c, struct rg_gen *g);

/* From the worker's check handle, once per loop turn: connections that carried requests this
 * turn give back their in-flight table when none is in flight any more (emptied buffers
 * went back to the pool already, at the end of each event). */
void rg_conn_trim_idle(struct rg_conn_set *set);

#endif
