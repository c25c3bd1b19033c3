/* Private to the coa*.c files: a request's life from the DAC to the NAS and back
 * (struct rg_coa_req), the per-worker queue, the state they share (one lock, the registry,
 * the pending list, the counters) and the helpers both threads use. The public interface
 * is include/radsecgw/coa.h. */
#ifndef RADSECGW_COA_INTERNAL_H
#define RADSECGW_COA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "radsecgw/coa.h"
#include "radsecgw/config.h"
#include "radsecgw/radius.h"
#include "radsecgw/stats.h"

/* The socket replies leave from: a dup of the listener's descriptor, shared by every request
 * in flight (sendto is thread-safe), closed when the last one lets go. */
struct coa_out {
    int fd;
    int refs; /* atomic */
};

/* One request from a DAC, from acceptance to its answer. malloced with its packet. */
struct rg_coa_req {
    struct sockaddr_storage client_addr;
    socklen_t client_addr_len;
    uint8_t client_id;
    uint8_t client_auth[RG_RADIUS_AUTH_LEN];
    char *client_secret; /* malloced, owned */
    size_t client_secret_len;
    struct coa_out *out; /* reference held */
    char desc[768];      /* log fields: client=rad1 client_src=ADDR code=CoA-Request id=3
                            nas_identifier="x" (conn=N ... once sent) */
    unsigned worker;
    uint64_t conn_id;
    /* worker side, once sent on the connection */
    struct rg_coa_conn *cc; /* not owned */
    uint8_t id;
    uint32_t token; /* on a RADIUS/1.1 connection: the Token sent (its low octet is id) */
    uint8_t sent_auth[RG_RADIUS_AUTH_LEN];
    uint64_t deadline_ms;
    struct rg_coa_req *next, *prev;           /* worker queue, then worker's active list */
    struct rg_coa_req *pend_next, *pend_prev; /* global pending list (duplicates) */
    uint16_t len;
    uint8_t pkt[]; /* the DAC's request, then as sent to the NAS */
};

struct rg_coa_worker {
    uv_async_t async;         /* main -> worker: requests queued */
    uv_timer_t timer;         /* timeouts of requests in flight */
    unsigned index;           /* the worker's: rg_coa.workers[index] while registered */
    struct rg_coa_req *queue; /* guarded by coa.lock */
    bool closed;              /* guarded by coa.lock */
    struct rg_coa_req *active_head, *active_tail; /* worker only: by deadline */
    struct rg_coa_conn *conns;                    /* worker only: its open connections */
};

struct coa_shared {
    uv_mutex_t lock; /* guards pending, npending and the worker queues */
    bool lock_init;
    struct rg_coa_registry registry;
    bool registry_init;
    struct rg_coa_worker **workers; /* guarded by lock: by worker index, NULL once freed;
                                     * malloced, owned (not the entries) */
    unsigned nworkers;              /* guarded by lock: slots in workers */
    struct rg_coa_req *pending;     /* every accepted request not yet finished */
    unsigned npending;
    struct rg_stats stats;
    /* main thread only */
    uv_loop_t *loop;
    struct rg_config *cfg; /* reference held */
    uv_udp_t *udp;         /* malloced, freed in its close callback */
    struct coa_out *out;
    char bound_addr[64];
    uint16_t bound_port;
    uint8_t rbuf[65536];
};

extern struct coa_shared rg_coa;

/* ---- coa.c ---- */

/* The lock and the registry, once (main thread, before any worker runs). */
int rg_coa_ensure_init(void);
/* Drop a reference to the reply socket; the last one closes it. NULL is fine. */
void rg_coa_out_unref(struct coa_out *o);
/* A request accepted from a DAC (or handed over by another instance): its answer goes to
 * sa, signed with secret. On the pending list (duplicates, RG_COA_MAX_PENDING). */
struct rg_coa_req *rg_coa_req_new(const uint8_t *pkt, size_t len, const struct sockaddr *sa,
                                  rg_secret secret, const char *desc);
/* Remove from the pending list and free. */
void rg_coa_req_finish(struct rg_coa_req *req);
/* A NAK of the gateway's own with Error-Cause cause, to req's DAC. */
void rg_coa_send_nak(struct rg_coa_req *req, uint32_t cause);
/* The NAS's answer (from this instance's AP or from the instance holding it) to the DAC:
 * re-signed for the client's ID, authenticator and secret, sent, counted, one line;
 * instance names the holder when it came back through the cluster. */
void rg_coa_answer_client(struct rg_coa_req *req, uint8_t *out, size_t len, const char *instance);

/* ---- coa_registry.c ---- */

/* rg_coa_route's reason when no connection of any org matches: the one case another
 * instance of the cluster may hold the NAS. */
extern const char rg_coa_no_connected_nas[];
/* RFC 5176 §3 identification: every NAS-Identifier, NAS-IP-Address, NAS-IPv6-Address and
 * Operator-NAS-Identifier (RFC 8559) of the request, described for the log. -E2BIG when
 * there are more than RG_COA_MAX_IDENTS. */
int rg_coa_idents_of(const uint8_t *pkt, struct rg_coa_ident *ids, size_t *nids, char *desc,
                     size_t desclen);

#endif
