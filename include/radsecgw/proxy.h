/* The per-worker state table: (backend socket, ID) <-> (origin: the AP connection, AP ID, AP
 * authenticator), retransmission timers (RFC 5080 §2.2.1), failover and late replies.
 * Its slots, buffers and heap are in proxy_table.h (preallocated in chunks and recycled;
 * nothing is allocated per request); the translation between secrets in translate.h. */
#ifndef RADSECGW_PROXY_H
#define RADSECGW_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "radsecgw/backend.h"
#include "radsecgw/config.h"
#include "radsecgw/origin.h"
#include "radsecgw/proxy_fair.h"
#include "radsecgw/proxy_table.h"
#include "radsecgw/radius.h"
#include "radsecgw/retransmit.h"
#include "radsecgw/translate.h"
#include "radsecgw/tls_stream.h"

struct rg_backend_sock;
struct rg_backend_server;
struct rg_backend_pool;
struct rg_backend_set;

/* What the table needs from below and from time, so that it can be driven without sockets
 * and on a fake clock: rg_proxy_init installs rg_proxy_backend_ops (backend.c's sockets,
 * rg_now_ms, rg_random_bytes); a test installs its own with rg_proxy_set_ops. arg is the
 * installer's. The backend's reply path into the table is rg_proxy_on_reply. */
struct rg_proxy_ops {
    uint64_t (*now_ms)(void *arg);
    int (*rand_permille)(void *arg); /* RAND*1000 of RFC 5080 §2.2.1, -100..+100 */
    /* An ID for req towards dest (rg_backend_alloc_id): 0, -ENOSPC, or another error. */
    int (*alloc_id)(void *arg, struct rg_backend_dest *dest, struct rg_request *req,
                    struct rg_backend_sock **sock, uint8_t *id);
    void (*release_id)(void *arg, struct rg_backend_sock *sock, uint8_t id);
    /* Send req->pkt (req->len octets) on sock (rg_backend_send). */
    int (*send)(void *arg, struct rg_backend_sock *sock, struct rg_request *req);
};

extern const struct rg_proxy_ops rg_proxy_backend_ops;

/* What the table's owner (a worker) lends it at rg_proxy_init: where it counts, the metrics
 * shard, the index its log lines name, and whom it tells that a slot was freed (a connection
 * paused for table room may go on: the owner wakes it from its loop, not from inside the
 * call). The table includes nothing of its owner. */
struct rg_proxy_host {
    struct rg_stats *stats;           /* not owned; NULL (tests of the storage): not counted */
    struct rg_metrics_shard *metrics; /* not owned; NULL without a metrics block */
    unsigned index;                   /* the worker's, for worker= in log lines */
    void (*slot_freed)(void *arg);    /* NULL: nobody waits for room */
    void *arg;
};

/* The table. */
struct rg_proxy {
    struct rg_proxy_host host; /* copied at rg_proxy_init */
    struct rg_backend_set
        *backends;                  /* not owned: the owner's current set (rg_proxy_set_backends) */
    const struct rg_proxy_ops *ops; /* not owned (static, or the test's) */
    void *ops_arg;
    struct rg_request **chunks; /* malloced array of malloced chunks of slots, owned */
    unsigned nchunks;
    unsigned max_chunks;
    struct rg_request *free_list;
    unsigned inuse;
    struct rg_request **heap; /* malloced min-heap on deadline_ms, owned */
    size_t heap_len;
    size_t heap_cap;
    uv_timer_t timer; /* embedded; closed with the worker */
    bool timer_armed;
    uint64_t timer_at;
    unsigned salt_counter;
    struct rg_bufclass bufs[RG_PROXY_BUF_CLASSES];
    struct rg_buf_pool inflight_pool;   /* the origins' in-flight tables (rg_origin.inflight) */
    uint8_t scratch[RG_RADIUS_MAX_LEN]; /* re-translation on failover */
    /* Origins held back at a server's share (proxy_fair.h), and the timer that judges those
     * servers every interval while any waits: a budget that grows with no reply yet (a slow
     * server) lets them go on. */
    struct rg_origin *share_waiting;
    uv_timer_t share_timer; /* embedded; closed with the worker */
};

/* Limit: max_requests slots (rounded up to a chunk). host may be NULL (nothing counted, nobody
 * told) and loop NULL (no timers) for tests. These three live in proxy_table.c with the
 * storage they set up and free. */
int rg_proxy_init(struct rg_proxy *px, const struct rg_proxy_host *host, uv_loop_t *loop,
                  unsigned max_requests);
void rg_proxy_close(struct rg_proxy *px); /* closes the timer; free with rg_proxy_free later */
void rg_proxy_free(struct rg_proxy *px);

/* The backend set new requests are routed to (the owner's, at start and after each reload;
 * requests in flight keep the set they were sent on). */
void rg_proxy_set_backends(struct rg_proxy *px, struct rg_backend_set *set);

/* Drive the table through ops from now on (tests: a fake backend and clock). */
void rg_proxy_set_ops(struct rg_proxy *px, const struct rg_proxy_ops *ops, void *arg);

/* Act on every deadline that has passed by ops->now_ms (the timer's callback; a test calls
 * it after moving its clock): retransmit, fail over, or give up. */
void rg_proxy_expire(struct rg_proxy *px);

/* Requests one origin may have abandoned (ID reused, RFC 5080 §2.2.2) while they still
 * hold backend IDs: a peer that cycles its IDs without waiting for replies is held here
 * instead of filling the table that every connection of the worker shares. */
#define RG_PROXY_ABANDONED_MAX 64

/* Idle in-flight tables of origins the table keeps for reuse. */
#define RG_PROXY_INFLIGHT_KEEP 64u

/* A request from an AP (validated packet) from origin o, which describes it (origin.h) and
 * is answered through o->ops. Answers locally, forwards, or drops. Returns 0, or -EAGAIN
 * when the backend table is full (the caller keeps the packet and pauses reading until
 * rg_proxy wakes it), -EBUSY when o is at RG_PROXY_ABANDONED_MAX, -EDQUOT when o holds its
 * share of the server the request would go to (proxy_fair.h; for both the caller keeps the
 * packet until o->ops->drained), -ENOMEM when o's in-flight table cannot be had, or another
 * negative code if dropped (-EBADMSG: it failed authentication; -EPROTO: a RADIUS/1.1 Token
 * reused for another packet). */
int rg_proxy_on_request(struct rg_proxy *px, struct rg_origin *o, const uint8_t *pkt, size_t len);

/* A datagram arrived on a backend socket from addr. */
void rg_proxy_on_reply(struct rg_proxy *px, struct rg_backend_sock *sock, const uint8_t *pkt,
                       size_t len, const struct sockaddr *addr);

/* The origin closed: stop retransmitting its requests; their IDs stay reserved until their
 * deadlines pass, and late replies are discarded. Its in-flight table goes back to the pool;
 * the table keeps nothing that points at o. */
void rg_proxy_origin_closed(struct rg_proxy *px, struct rg_origin *o);

/* Give o's in-flight table back to the pool when nothing is in flight (the origin asks, once
 * per loop turn after it carried requests). Does o hold one? */
void rg_proxy_origin_trim(struct rg_proxy *px, struct rg_origin *o);
static inline bool rg_proxy_origin_holds_table(const struct rg_origin *o)
{
    return o->inflight != NULL;
}

/* What o holds at srv (in flight + abandoned): its count for its share there. Claim,
 * release, link, unlink and rg_proxy_origin_closed report each change of it to the server's
 * shares (srv->fair), and a release or unlink wakes an origin held back at that server's
 * share once it may be read again (o->ops->drained). */
uint32_t rg_proxy_held_at(const struct rg_origin *o, const struct rg_backend_server *srv);

/* The interval's end for the servers that origins wait at (the share timer; a test on a
 * fake clock calls it): each judged, and those now within their share read again. */
void rg_proxy_share_tick(struct rg_proxy *px);

/* A queued send completed (backend.c). */
void rg_proxy_on_sent(struct rg_proxy *px, struct rg_request *req);

/* How a backend set the table sends through reports to it (rg_backend_set_new): replies to
 * rg_proxy_on_reply, ended sends to rg_proxy_on_sent. */
struct rg_backend_events rg_proxy_backend_events(struct rg_proxy *px);

/* Send a Status-Server probe to srv (RFC 5997, with Message-Authenticator, never
 * retransmitted). */
int rg_proxy_probe(struct rg_proxy *px, struct rg_backend_server *srv);

/* Stop: every request in the table is finished without an answer (IDs released). */
void rg_proxy_abort_all(struct rg_proxy *px);

/* Grow the slot limit (after a reload with larger pools). */
int rg_proxy_set_limit(struct rg_proxy *px, unsigned max_requests);

#endif
