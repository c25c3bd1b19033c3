/* Backends: per worker, the UDP socket pools towards each RADIUS server (more source
 * ports as the 256 IDs of a socket fill, up to max-outstanding), least-recently-used ID
 * allocation (RFC 5080 §2.2.2), server health (Status-Server probes, RFC 5997, or
 * hold-down) and the pool policies. Knows nothing of TLS. */
#ifndef RADSECGW_BACKEND_H
#define RADSECGW_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "radsecgw/backend_shared.h"
#include "radsecgw/config.h"
#include "radsecgw/metrics.h"
#include "radsecgw/proxy_fair.h"
#include "radsecgw/stats.h"

#define RG_BACKEND_IDS 256
/* Datagrams one recvmmsg may return (libuv's UV_UDP_RECVMMSG gives each up to 64 KiB of
 * the buffer; it takes at most 20). */
#define RG_BACKEND_RECV_BATCH 16

/* The ID space of one UDP socket: a FIFO of free IDs, so the ID reused next is the one
 * released longest ago (RFC 5080 §2.2.2), and the owner of each ID in flight: opaque here,
 * the sender's (the state table's request), found again by the reply's ID. Pure. */
struct rg_idspace {
    uint8_t free_ring[RG_BACKEND_IDS];
    unsigned head;                  /* index of the next ID to hand out */
    unsigned nfree;                 /* IDs in the ring */
    void *inflight[RG_BACKEND_IDS]; /* not owned; NULL when free */
};

void rg_idspace_init(struct rg_idspace *ids);
/* Take the least recently used free ID for owner (not NULL): 0..255, or -ENOSPC. */
int rg_idspace_alloc(struct rg_idspace *ids, void *owner);
void rg_idspace_release(struct rg_idspace *ids, uint8_t id);

struct rg_backend_dest;
struct rg_backend_sock;

/* What a backend set reports to the layer that sends through it (the state table), which
 * registers it when the set is made: a reply datagram arrived on sock from addr, or the
 * send rg_backend_send queued for owner ended (sent, or lost like a dropped datagram): its
 * packet is the sender's again. backend.c calls nothing above it and knows nothing of the
 * sender's types. */
struct rg_backend_events {
    void (*reply)(void *arg, struct rg_backend_sock *sock, const uint8_t *pkt, size_t len,
                  const struct sockaddr *addr);
    void (*sent)(void *arg, void *owner);
    void *arg;
};

/* A UDP send queued in libuv, used only when the socket buffer is full (sendmmsg said
 * EAGAIN); pooled per worker (struct rg_backend_send_pool) so that path allocates nothing
 * once warm either. */
struct rg_backend_send_ctx {
    uv_udp_send_t req;
    void *owner; /* not owned: the sender's, reported back through rg_backend_events.sent */
    struct rg_backend_send_ctx *next_free;
    struct rg_backend_send_ctx *next_all; /* every context ever made, for the pool's free */
};

struct rg_backend_send_pool {
    struct rg_backend_send_ctx *free_list; /* free contexts */
    struct rg_backend_send_ctx *all;       /* every context, owned */
};

/* What a worker lends the backend sets it runs (embedded in struct rg_worker, set up by
 * rg_backend_io_init): its loop, its counters and metrics shard, and what backend.c keeps
 * per worker: the receive buffer, the sockets with packets queued in this loop turn and the
 * contexts of sends queued in libuv. backend.c knows no worker: it asks for the turn's
 * flush through schedule_flush. */
struct rg_backend_io {
    uv_loop_t *loop;                   /* not owned */
    struct rg_stats *stats;            /* not owned */
    struct rg_metrics_shard *metrics;  /* not owned; NULL without a metrics block */
    void (*schedule_flush)(void *arg); /* rg_backend_flush at the end of this loop turn */
    void *schedule_arg;
    uint8_t *recv_buf; /* malloced on first use, owned: RG_BACKEND_RECV_BATCH datagrams of up
                          to 64 KiB (recvmmsg; only the octets received are touched) */
    struct rg_backend_sock *send_socks;    /* sockets with packets queued this turn */
    struct rg_backend_sock *recv_socks;    /* sockets libuv read from in this turn */
    struct rg_backend_send_pool send_pool; /* sends queued in libuv */
};

void rg_backend_io_init(struct rg_backend_io *io, uv_loop_t *loop, struct rg_stats *stats,
                        struct rg_metrics_shard *metrics, void (*schedule_flush)(void *arg),
                        void *schedule_arg);
/* Free the buffer and the send contexts (the loop has closed: none is in flight). */
void rg_backend_io_free(struct rg_backend_io *io);

/* A packet queued on a socket for this loop turn: the sender's bytes (not owned, untouched
 * until the send ends) and whom the end is reported for. */
struct rg_backend_out {
    void *owner;
    const uint8_t *pkt;
    size_t len;
};

/* One UDP socket (one source port) towards one destination. */
struct rg_backend_sock {
    uv_udp_t udp;                 /* embedded; this struct is freed in its close callback */
    struct rg_backend_dest *dest; /* owner */
    struct rg_idspace ids;
    unsigned index; /* position in dest->socks */
    /* Packets to send at the end of this loop turn, in one sendmmsg (issue 14). A sender
     * queues an owner at most once until its send ended, and each owner holds one of the 256
     * IDs, so 256 is enough. */
    struct rg_backend_out sendq[RG_BACKEND_IDS];
    unsigned nsendq;
    struct rg_backend_sock *next_send; /* worker's list of sockets with queued packets */
    bool send_listed;
    /* Receiving: datagrams in the current recvmmsg batch, and whether the last batch came
     * back short (the socket is drained: libuv is told to stop, rather than asking the
     * kernel once more only to hear EAGAIN; epoll reports what arrives later). */
    unsigned recv_batch;
    bool recv_drained;
    /* libuv reads at most 32 datagrams per socket per loop turn; what is left is read at
     * the turn's end (rg_backend_drain), from the worker's list of sockets whose batch came
     * back full this turn (recv_full: the last one did, so more may wait). */
    struct rg_backend_sock *next_recv;
    bool recv_listed;
    bool recv_full;
};

enum rg_backend_kind {
    RG_BACKEND_AUTH,
    RG_BACKEND_ACCT,
};

/* One destination (server address and auth or acct port) in one worker. */
struct rg_backend_dest {
    struct rg_backend_server *server; /* owner */
    enum rg_backend_kind kind;
    const struct sockaddr_storage *addr; /* points into the config snapshot */
    struct rg_backend_sock **socks;      /* malloced array of socket pointers, owned; each socket is
                                            freed by its close callback */
    unsigned nsocks;
    unsigned max_socks;
    unsigned outstanding;
};

enum rg_backend_health {
    RG_BACKEND_ALIVE,
    RG_BACKEND_DEAD,
};

struct rg_backend_server {
    const struct rg_server *cfg;  /* points into the config snapshot */
    struct rg_backend_pool *pool; /* owner */
    unsigned index;               /* position in pool */
    struct rg_backend_dest auth;
    struct rg_backend_dest acct;
    enum rg_backend_health health;
    unsigned missed;        /* consecutive requests this server did not answer */
    uint64_t dead_since_ms; /* when marked dead */
    uint64_t retry_at_ms;   /* dead, no probes: when to try it again (hold-down) */
    uint64_t last_probe_ms;
    bool probe_inflight;
    uint64_t sent;                    /* requests sent (first tries), for balancing stats */
    struct rg_backend_shared *shared; /* reference held: process-wide state of this server */
    /* This worker's connections' shares of this server (proxy_fair.h): the state table
     * feeds it and acts on it; a congested server holds back only those that send to it. */
    struct rg_proxy_fair fair;
};

struct rg_backend_pool {
    const struct rg_pool *cfg;         /* points into the config snapshot */
    struct rg_backend_set *set;        /* owner */
    struct rg_backend_server *servers; /* malloced array, owned */
    unsigned nservers;
    unsigned rr_next; /* round-robin cursor */
};

/* All pools of one config snapshot in one worker. After a reload the old set is retired:
 * it keeps its sockets until its last request in flight completes, then closes. */
struct rg_backend_set {
    struct rg_backend_io *io;        /* not owned: the worker's; NULL for a set never sent
                                        through (unit tests) */
    struct rg_backend_events events; /* where replies and ended sends go */
    struct rg_config *cfg;           /* reference held */
    struct rg_backend_pool *pools;   /* malloced array, owned */
    unsigned npools;
    unsigned outstanding;  /* requests in flight over every socket of the set */
    unsigned open_handles; /* sockets not yet closed */
    bool retired;
    bool closing; /* set_close ran: the last socket's close callback frees the set */
};

/* Picks a server from the pool by its policy among live servers not yet in tried (bit i for
 * server i); dead servers whose hold-down has passed count as live again. NULL if none. */
struct rg_backend_server *rg_backend_pick(struct rg_backend_pool *pool, uint64_t tried,
                                          uint64_t now_ms);

/* Health transitions (logged). */
void rg_backend_mark_dead(struct rg_backend_server *srv, uint64_t now_ms, const char *why);
void rg_backend_mark_alive(struct rg_backend_server *srv, const char *why);

/* events: where the set's sockets report (NULL: a set that is never sent through). */
struct rg_backend_set *rg_backend_set_new(struct rg_backend_io *io, struct rg_config *cfg,
                                          const struct rg_backend_events *events);
/* Carry server health (dead/alive, hold-down, probe times) from the set being retired to a
 * new one, for servers with the same pool name, server name and address: a reload or CRL
 * refresh must not bring a dead server back without it answering. */
void rg_backend_set_inherit(struct rg_backend_set *set, const struct rg_backend_set *old);

/* Find the runtime pool of a config pool. */
struct rg_backend_pool *rg_backend_set_pool(struct rg_backend_set *set, const struct rg_pool *p);
/* Stop using the set: closes it now if idle, else once outstanding drops to 0. */
void rg_backend_set_retire(struct rg_backend_set *set);
/* Called when a request leaves the set; closes a retired set that became idle. */
void rg_backend_set_release(struct rg_backend_set *set);

/* Allocate an ID on dest for owner, opening another socket when every open one is full
 * and max-outstanding allows. 0 with *sock_out and *id_out set, or -ENOSPC / UV error. */
int rg_backend_alloc_id(struct rg_backend_dest *dest, void *owner,
                        struct rg_backend_sock **sock_out, uint8_t *id_out);
void rg_backend_release_id(struct rg_backend_sock *sock, uint8_t id);

/* Send len octets at pkt on sock to its destination for owner: queued until the end of the
 * loop turn, when every packet queued on the socket leaves in one sendmmsg
 * (rg_backend_flush; what the socket buffer cannot take waits in libuv's queue). The packet
 * stays the sender's and must not change until rg_backend_events.sent reports owner; the
 * sender queues an owner again only after that (the state table's send_busy). 0. */
int rg_backend_send(struct rg_backend_sock *sock, void *owner, const uint8_t *pkt, size_t len);

/* Send what the sockets of io queued in this loop turn (the worker's check handle). */
void rg_backend_flush(struct rg_backend_io *io);

/* Read the replies still queued on the sockets libuv read from in this loop turn (it stops
 * at 32 datagrams per socket), up to a socket's whole ID space each: the worker's check
 * handle, before it wakes paused connections and flushes. */
void rg_backend_drain(struct rg_backend_io *io);

#endif
