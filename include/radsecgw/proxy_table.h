/* The state table's storage (src/proxy_table.c): one slot per request in flight, its packet
 * buffer from a size class, and the min-heap of deadlines the
 * retransmission timer runs from. The table itself is struct rg_proxy (proxy.h). */
#ifndef RADSECGW_PROXY_TABLE_H
#define RADSECGW_PROXY_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "radsecgw/radius.h"

struct rg_origin;
struct rg_proxy;
struct rg_backend_sock;
struct rg_backend_server;
struct rg_backend_pool;

/* One request in flight (a slot of the state table). */
struct rg_request {
    struct rg_origin *origin;         /* not owned; NULL once the AP's connection closed */
    struct rg_backend_pool *pool;     /* not owned */
    struct rg_backend_server *server; /* not owned; server currently tried */
    struct rg_backend_sock *sock;     /* not owned; socket the request is in flight on */
    uint8_t id;                       /* ID on sock */
    uint8_t ap_id; /* the AP's ID; on RADIUS/1.1 the request's slot in origin->inflight */
    uint8_t code;
    bool probe;     /* a Status-Server health probe of our own */
    bool eap;       /* the request carries EAP-Message (its reply proves nothing in auto) */
    bool send_busy; /* pkt is queued on a backend socket (rg_backend_send) until rg_proxy_on_sent */
    bool in_use;
    bool put_after_send;  /* finished while a send was queued: put back when it completes */
    bool v11;             /* came on a RADIUS/1.1 connection: token and fingerprint, not ap_auth */
    uint32_t token;       /* RADIUS/1.1: the client's Token (the reply echoes it) */
    uint64_t fingerprint; /* RADIUS/1.1: rg_radius11_fingerprint of the client's packet */
    uint8_t ap_auth[RG_RADIUS_AUTH_LEN];   /* the AP's Request Authenticator */
    uint8_t sent_auth[RG_RADIUS_AUTH_LEN]; /* the authenticator sent to the backend */
    uint16_t len;                          /* of the packet as sent, in pkt */
    unsigned tries;                        /* transmissions to the current server */
    uint64_t received_ms;                  /* when the AP's request arrived (latency) */
    uint64_t first_ms;                     /* first transmission to the current server (MRD) */
    uint64_t rt_ms;                        /* current retransmission interval (RT) */
    uint64_t deadline_ms;                  /* next timer event */
    uint64_t tried;                        /* servers already tried (bit per pool index) */
    size_t heap_idx;                       /* position in the timer heap */
    /* Abandoned (ID reused by the AP) but still holding a backend ID: the origin that did
     * it (not owned; NULL once it closed) and the links in its list of them. */
    struct rg_origin *abandoned_by;
    struct rg_request *ab_prev, *ab_next;
    /* Where its origin's count holds it (proxy_origin.c): the server (not owned; NULL: not
     * counted) and the entry of rg_origin.held + 1 (0: counted at the server only). */
    struct rg_backend_server *held_at;
    uint8_t held_slot;
    struct rg_request *next_free;
    /* Last, kept across slot reuse: the packet as sent (for retransmission), a buffer of
     * pkt_cap octets from the table's size classes (owned by the table, NULL until used). */
    uint8_t *pkt;
    uint16_t pkt_cap;
};

/* Packet buffer size classes: most RADIUS packets are a few hundred octets, EAP ones about
 * a kilobyte; only a few approach the RFC 2865 maximum. */
#define RG_PROXY_BUF_CLASSES 3
struct rg_bufclass {
    size_t size;
    uint8_t *free_list; /* free buffers, linked through their first octets */
    void *chunks;       /* malloced chunks, linked through their first word; owned */
    unsigned inuse;
};

#define RG_PROXY_CHUNK 256

struct rg_request *rg_proxy_slot_get(struct rg_proxy *px);
/* Returns the slot and its packet buffer to the table. */
void rg_proxy_slot_put(struct rg_proxy *px, struct rg_request *req);

/* Make req->pkt hold at least need octets (smallest class that fits; keeps the current
 * buffer when it is big enough). 0 or -ENOMEM. */
int rg_proxy_pkt_reserve(struct rg_proxy *px, struct rg_request *req, size_t need);

/* Timer heap (pure; tests drive it with their own clock). */
void rg_proxy_heap_push(struct rg_proxy *px, struct rg_request *req);
void rg_proxy_heap_remove(struct rg_proxy *px, struct rg_request *req);
struct rg_request *rg_proxy_heap_peek(struct rg_proxy *px);

#endif
