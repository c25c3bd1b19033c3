/* The per-worker state table: (backend socket, ID) <-> (AP connection, AP ID, AP
 * authenticator), retransmission timers (RFC 5080 §2.2.1), failover, and the translation
 * of every packet between the RadSec secret and the backend secret. Slots are
 * preallocated in chunks and recycled; nothing is allocated per request. */
#ifndef RADSECGW_PROXY_H
#define RADSECGW_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "radsecgw/backend.h"
#include "radsecgw/config.h"
#include "radsecgw/radius.h"

struct rg_conn;
struct rg_worker;
struct rg_backend_sock;
struct rg_backend_server;
struct rg_backend_pool;
struct rg_backend_set;

/* One request in flight (a slot of the state table). */
struct rg_request {
    struct rg_conn *conn;             /* not owned; NULL once the AP's connection closed */
    struct rg_backend_pool *pool;     /* not owned */
    struct rg_backend_server *server; /* not owned; server currently tried */
    struct rg_backend_sock *sock;     /* not owned; socket the request is in flight on */
    uint8_t id;                       /* ID on sock */
    uint8_t ap_id; /* the AP's ID; on RADIUS/1.1 the request's slot in conn->inflight */
    uint8_t code;
    bool probe;     /* a Status-Server health probe of our own */
    bool eap;       /* the request carries EAP-Message (its reply proves nothing in auto) */
    bool send_busy; /* a send of pkt is queued in libuv (struct rg_backend_send_ctx) */
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
    /* Abandoned (ID reused by the AP) but still holding a backend ID: the connection that
     * did it (not owned; NULL once it closed) and the links in its list of them. */
    struct rg_conn *abandoned_by;
    struct rg_request *ab_prev, *ab_next;
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

/* RFC 5080 §2.2.1 parameters, in milliseconds. */
struct rg_rt_params {
    uint64_t irt; /* initial retransmission time (pool timeout) */
    uint64_t mrt; /* maximum retransmission time */
    uint64_t mrd; /* maximum retransmission duration */
    unsigned mrc; /* maximum retransmission count (pool retries) */
};

void rg_rt_params_from_pool(const struct rg_pool *pool, struct rg_rt_params *rt);

/* Next RT: the first is IRT + RAND*IRT, each next 2*RT + RAND*RT, capped at MRT + RAND*MRT,
 * RAND uniform in [-0.1, +0.1]; rand_permille is RAND*1000 (the caller supplies it so
 * tests are deterministic). prev_rt 0 means the first. */
uint64_t rg_rt_next(const struct rg_rt_params *p, uint64_t prev_rt, int rand_permille);

/* At an RT expiry, after `transmissions` sends since first_ms: may the request be sent
 * again? Not once MRC retransmissions were made (MRC = pool retries, counted as
 * retransmissions after the first transmission; 0 = none) or MRD has elapsed. */
bool rg_rt_may_retransmit(const struct rg_rt_params *p, unsigned transmissions, uint64_t first_ms,
                          uint64_t now);

/* When to look again after a transmission at now with interval rt: now + rt, but never past
 * first_ms + MRD, where the exchange with this server fails. */
uint64_t rg_rt_deadline(const struct rg_rt_params *p, uint64_t first_ms, uint64_t now, uint64_t rt);

/* The table. */
struct rg_proxy {
    struct rg_worker *worker;   /* owner */
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
    uint8_t scratch[RG_RADIUS_MAX_LEN]; /* re-translation on failover */
};

#define RG_PROXY_CHUNK 256

/* Limit: max_requests slots (rounded up to a chunk). timer may be NULL loop for tests. */
int rg_proxy_init(struct rg_proxy *px, struct rg_worker *w, uv_loop_t *loop, unsigned max_requests);
void rg_proxy_close(struct rg_proxy *px); /* closes the timer; free with rg_proxy_free later */
void rg_proxy_free(struct rg_proxy *px);

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

/* Requests one connection may have abandoned (ID reused, RFC 5080 §2.2.2) while they still
 * hold backend IDs: a peer that cycles its IDs without waiting for replies is held here
 * instead of filling the table that every connection of the worker shares. */
#define RG_PROXY_ABANDONED_MAX 64

/* A request from an AP on conn (validated packet). Answers locally, forwards, or drops.
 * Returns 0, or -EAGAIN when the backend table is full (the caller keeps the packet and
 * pauses reading until rg_proxy wakes it), -EBUSY when conn is at RG_PROXY_ABANDONED_MAX
 * (the caller keeps the packet until rg_conn_abandon_drained), or another negative code if
 * dropped. */
int rg_proxy_on_request(struct rg_proxy *px, struct rg_conn *conn, const uint8_t *pkt, size_t len);

/* A datagram arrived on a backend socket from addr. */
void rg_proxy_on_reply(struct rg_proxy *px, struct rg_backend_sock *sock, const uint8_t *pkt,
                       size_t len, const struct sockaddr *addr);

/* The AP's connection closed: stop retransmitting its requests; their IDs stay reserved
 * until their deadlines pass, and late replies are discarded. */
void rg_proxy_conn_closed(struct rg_proxy *px, struct rg_conn *conn);

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

/* Translate a request from the AP's secret to the backend's (pure): out gets the packet to
 * send with id and a fresh authenticator (Access-Request, Status-Server) or the computed
 * one (Accounting-Request): User-Password re-hidden, CHAP-Challenge added when needed,
 * Message-Authenticator first and signed in Access-Request and Status-Server, and none in
 * Accounting-Request (RFC 3579 §3.3). Returns the length, -EMSGSIZE when the added
 * attributes would take it past 4096 octets, or another negative code. */
int rg_proxy_translate_request(const uint8_t *in, size_t in_len, const char *ap_secret,
                               size_t ap_secret_len, uint8_t id, const char *be_secret,
                               size_t be_secret_len, uint8_t *out, size_t out_cap,
                               uint8_t sent_auth[RG_RADIUS_AUTH_LEN]);

/* Translate a backend reply (already checked) to the AP (pure): hidden attributes
 * re-encrypted, ID and authenticator restored, Message-Authenticator first and signed on
 * Access-* replies, removed from Accounting-Response (implementations disagree on how it is
 * computed there), Response Authenticator with the AP's secret. In place. 0, -EMSGSIZE
 * when Message-Authenticator does not fit, -EBADMSG for a hidden attribute that does not
 * decrypt. */
int rg_proxy_translate_reply(uint8_t *pkt, size_t len, size_t cap, const uint8_t *sent_auth,
                             const char *be_secret, size_t be_secret_len, uint8_t ap_id,
                             const uint8_t *ap_auth, const char *ap_secret, size_t ap_secret_len,
                             unsigned *salt_counter);

/* Verify a reply's authenticators against the request sent with sent_auth (pure): the
 * Response Authenticator, and Message-Authenticator when present (on an Accounting-Response
 * either convention: the request authenticator or zeros in the field). 1 if signed, 0 if
 * verified without Message-Authenticator, negative with *why set. */
int rg_proxy_verify_reply(const uint8_t *pkt, size_t len, const uint8_t *sent_auth,
                          const char *be_secret, size_t be_secret_len, const char **why);

/* What to do with a backend reply. */
enum rg_reply_verdict {
    RG_REPLY_FORWARD,    /* verified and acceptable */
    RG_REPLY_UNVERIFIED, /* fails verification: as if it never arrived (deprecating-radius) */
    RG_REPLY_DISCARD,    /* verified, so the server is alive, but not usable: the request ends */
};

struct rg_reply_check {
    const char *why;              /* UNVERIFIED, DISCARD: the reason for the log line */
    enum rg_backend_warning warn; /* DISCARD: which operator warning it is */
    bool learned;                 /* a signed reply to an Access-Request without EAP-Message */
    bool unsigned_passed;         /* FORWARD of an Access-* reply without Message-Authenticator */
};

/* Check a backend reply to a request of req_code (req_eap: it carried EAP-Message) sent with
 * sent_auth (pure): Response Authenticator, then Message-Authenticator when present (on an
 * Accounting-Response either convention: request authenticator or zeros in the field), then
 * the reply code, then the policy: EAP-Message needs Message-Authenticator (RFC 3579 §3.2);
 * without one an Access-* reply passes under false, under auto until the server is known to
 * sign (server_signs), never under true. */
enum rg_reply_verdict rg_proxy_check_reply(const uint8_t *pkt, size_t len, uint8_t req_code,
                                           bool req_eap, const uint8_t *sent_auth,
                                           const char *be_secret, size_t be_secret_len,
                                           enum rg_require_ma mode, bool server_signs,
                                           struct rg_reply_check *out);

/* A reply of the gateway's own (Status-Server answer, when-dead Access-Reject) to the AP's
 * request id / auth (pure): Message-Authenticator first, Reply-Message when message is set,
 * the Proxy-State attributes of request (the AP's packet or its translation) in order
 * (RFC 2865 §5.33), signed with the AP's secret. Length or -ENOSPC. */
int rg_proxy_local_reply(uint8_t *buf, size_t cap, uint8_t code, uint8_t id, const uint8_t *auth,
                         const uint8_t *request, const char *message, const char *secret,
                         size_t secret_len);

/* An AP request that is well formed but invalid: a reason (discard it, keep the
 * connection) or NULL. User-Password: at most one, 16..128 octets in whole blocks (RFC 2865
 * §5.2, §5.44). */
const char *rg_proxy_request_invalid(const uint8_t *pkt);

#endif
