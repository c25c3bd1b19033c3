/* UDP socket pools towards the RADIUS servers of one worker: ID allocation (least recently
 * used first, RFC 5080 §2.2.2), sockets opened as IDs fill, health and pool policies.
 * The state table (proxy.c) decides what to send; this file only moves datagrams, keeps the
 * contexts of sends queued in libuv, and reports replies and ended sends through the
 * rg_backend_events its set was made with. */
#define _GNU_SOURCE /* sendmmsg */
#include <arpa/inet.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/backend.h"
#include "radsecgw/common.h"
#include "radsecgw/log.h"

/* ---- ID space ---- */

void rg_idspace_init(struct rg_idspace *ids)
{
    memset(ids, 0, sizeof(*ids));
    /* Start from a random point so restarts do not reuse the same IDs first. */
    uint8_t start;
    rg_random_bytes(&start, 1);
    for (unsigned i = 0; i < RG_BACKEND_IDS; i++)
        ids->free_ring[i] = (uint8_t)(start + i);
    ids->nfree = RG_BACKEND_IDS;
}

int rg_idspace_alloc(struct rg_idspace *ids, void *owner)
{
    RG_REQUIRE(owner != NULL);
    if (ids->nfree == 0)
        return -ENOSPC;
    uint8_t id = ids->free_ring[ids->head];
    ids->head = (ids->head + 1) % RG_BACKEND_IDS;
    ids->nfree--;
    RG_REQUIRE(ids->inflight[id] == NULL);
    ids->inflight[id] = owner;
    return id;
}

void rg_idspace_release(struct rg_idspace *ids, uint8_t id)
{
    RG_REQUIRE(ids->inflight[id] != NULL);
    RG_REQUIRE(ids->nfree < RG_BACKEND_IDS);
    ids->inflight[id] = NULL;
    ids->free_ring[(ids->head + ids->nfree) % RG_BACKEND_IDS] = id;
    ids->nfree++;
}

/* ---- health and policies ---- */

static bool usable(const struct rg_backend_server *s, uint64_t now)
{
    if (s->health == RG_BACKEND_ALIVE)
        return true;
    /* Without Status-Server a dead server is tried again after its hold-down. */
    return !s->pool->cfg->status_server && now >= s->retry_at_ms;
}

static unsigned server_outstanding(const struct rg_backend_server *s)
{
    return s->auth.outstanding + s->acct.outstanding;
}

struct rg_backend_server *rg_backend_pick(struct rg_backend_pool *pool, uint64_t tried,
                                          uint64_t now)
{
    unsigned n = pool->nservers;
    struct rg_backend_server *best = NULL;
    switch (pool->cfg->policy) {
    case RG_POLICY_FAILOVER:
        for (unsigned i = 0; i < n; i++)
            if (!(tried & (1ull << i)) && usable(&pool->servers[i], now))
                return &pool->servers[i];
        return NULL;
    case RG_POLICY_ROUND_ROBIN:
        for (unsigned k = 0; k < n; k++) {
            unsigned i = (pool->rr_next + k) % n;
            if (!(tried & (1ull << i)) && usable(&pool->servers[i], now)) {
                pool->rr_next = (i + 1) % n;
                return &pool->servers[i];
            }
        }
        return NULL;
    case RG_POLICY_LEAST_OUTSTANDING:
        for (unsigned k = 0; k < n; k++) {
            /* Ties go round-robin so equal servers share the load. */
            unsigned i = (pool->rr_next + k) % n;
            struct rg_backend_server *s = &pool->servers[i];
            if ((tried & (1ull << i)) || !usable(s, now))
                continue;
            if (!best || server_outstanding(s) < server_outstanding(best))
                best = s;
        }
        if (best)
            pool->rr_next = (best->index + 1) % n;
        return best;
    }
    return NULL;
}

/* The metrics of the worker that owns srv (none in unit tests without a worker). */
static struct rg_metrics_shard *shard_of(const struct rg_backend_server *srv)
{
    return srv->pool->set->io ? srv->pool->set->io->metrics : NULL;
}

void rg_backend_mark_dead(struct rg_backend_server *srv, uint64_t now_ms, const char *why)
{
    if (srv->health == RG_BACKEND_DEAD)
        return;
    srv->health = RG_BACKEND_DEAD;
    srv->dead_since_ms = now_ms;
    srv->retry_at_ms = now_ms + (uint64_t)srv->pool->cfg->dead_time_s * 1000u;
    srv->last_probe_ms = now_ms;
    rg_metrics_backend(shard_of(srv), RG_METRIC_BACKEND_DOWN, srv->pool->cfg->name, srv->cfg->name,
                       1);
    rg_warn("event=backend_down backend=%s pool=%s reason=\"%s\" next=%s", srv->cfg->name,
            srv->pool->cfg->name, why,
            srv->pool->cfg->status_server ? "status_server" : "hold_down");
}

void rg_backend_mark_alive(struct rg_backend_server *srv, const char *why)
{
    if (srv->health == RG_BACKEND_ALIVE)
        return;
    srv->health = RG_BACKEND_ALIVE;
    srv->missed = 0;
    rg_metrics_backend(shard_of(srv), RG_METRIC_BACKEND_DOWN, srv->pool->cfg->name, srv->cfg->name,
                       0);
    rg_notice("event=backend_up backend=%s pool=%s reason=\"%s\"", srv->cfg->name,
              srv->pool->cfg->name, why);
}

/* ---- sockets ---- */

static struct rg_backend_io *sock_io(const struct rg_backend_sock *sock)
{
    return sock->dest->server->pool->set->io;
}

void rg_backend_io_init(struct rg_backend_io *io, uv_loop_t *loop, struct rg_stats *stats,
                        struct rg_metrics_shard *metrics, void (*schedule_flush)(void *arg),
                        void *schedule_arg)
{
    memset(io, 0, sizeof(*io));
    io->loop = loop;
    io->stats = stats;
    io->metrics = metrics;
    io->schedule_flush = schedule_flush;
    io->schedule_arg = schedule_arg;
}

/* libuv's recvmmsg gives each datagram a 64 KiB slice of the buffer. */
#define RECV_SLICE (64 * 1024)

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rg_backend_sock *sock = h->data;
    struct rg_backend_io *io = sock_io(sock);
    (void)suggested;
    /* libuv reads a ready socket until recvmmsg says EAGAIN (up to 32 datagrams a turn). A
     * batch that came back short already emptied the socket: no buffer this time ends
     * libuv's reading for this turn without that one empty call (issue 14: it was 0.1 to
     * 0.3 syscalls per request). The socket stays in epoll, level-triggered. */
    if (sock->recv_drained) {
        sock->recv_drained = false;
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    /* One receive buffer per worker: libuv hands out the datagrams of one recvmmsg call to
     * on_recv before it asks for the buffer again, so no two batches share it. Without
     * memory libuv reports UV_ENOBUFS and the replies count as lost. */
    if (!io->recv_buf)
        io->recv_buf = malloc((size_t)RG_BACKEND_RECV_BATCH * RECV_SLICE);
    *buf = io->recv_buf ? uv_buf_init((char *)io->recv_buf, RG_BACKEND_RECV_BATCH * RECV_SLICE)
                        : uv_buf_init(NULL, 0);
}

/* One datagram read from sock: a truncated one is no reply; the rest go to the set's owner. */
static void deliver(struct rg_backend_sock *sock, const uint8_t *p, size_t n,
                    const struct sockaddr *addr, bool truncated)
{
    struct rg_backend_set *set = sock->dest->server->pool->set;
    if (truncated) {
        RG_STAT_INC(set->io->stats, drop_bad_reply);
        return;
    }
    set->events.reply(set->events.arg, sock, p, n, addr);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    struct rg_backend_sock *sock = h->data;
    struct rg_backend_set *set = sock->dest->server->pool->set;
    if (flags & UV_UDP_MMSG_FREE) { /* the end of one recvmmsg batch */
        /* on_alloc consumes recv_drained when libuv asks again; recv_full stays for
         * rg_backend_drain. Only a full batch can have left replies behind. */
        sock->recv_full = sock->recv_batch >= RG_BACKEND_RECV_BATCH;
        sock->recv_drained = !sock->recv_full;
        sock->recv_batch = 0;
        if (sock->recv_full && !sock->recv_listed) {
            struct rg_backend_io *io = set->io;
            sock->recv_listed = true;
            sock->next_recv = io->recv_socks;
            io->recv_socks = sock;
            if (io->schedule_flush)
                io->schedule_flush(io->schedule_arg);
        }
        return;
    }
    if (flags & UV_UDP_MMSG_CHUNK)
        sock->recv_batch++;
    if (nread <= 0 || !addr)
        return;
    deliver(sock, (const uint8_t *)buf->base, (size_t)nread, addr, flags & UV_UDP_PARTIAL);
}

/* Replies libuv left on a socket: it reads at most 32 datagrams per socket per loop turn,
 * while a busy turn reads up to 32 requests from every connection. The rest would wait in the
 * kernel for later turns, behind the requests the turn let in, and a queue of replies there
 * is invisible to the fair shares (the newest sockets, filled first, answer quickly). A
 * socket never has more than its ID space of legitimate replies queued: read up to that. */
static void sock_drain(struct rg_backend_io *io, struct rg_backend_sock *sock)
{
    uv_os_fd_t fd;
    if (!io->recv_buf || uv_fileno((uv_handle_t *)&sock->udp, &fd) != 0)
        return;
    unsigned got = 0;
    while (got < RG_BACKEND_IDS && !uv_is_closing((uv_handle_t *)&sock->udp)) {
        struct mmsghdr msgs[RG_BACKEND_RECV_BATCH];
        struct iovec iov[RG_BACKEND_RECV_BATCH];
        struct sockaddr_storage peers[RG_BACKEND_RECV_BATCH];
        memset(msgs, 0, sizeof(msgs));
        for (unsigned i = 0; i < RG_BACKEND_RECV_BATCH; i++) {
            iov[i].iov_base = io->recv_buf + (size_t)i * RECV_SLICE;
            iov[i].iov_len = RECV_SLICE;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &peers[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
        }
        int n;
        do
            n = recvmmsg(fd, msgs, RG_BACKEND_RECV_BATCH, MSG_DONTWAIT, NULL);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            return; /* EAGAIN: drained (epoll reports what arrives later) */
        got += (unsigned)n;
        for (int i = 0; i < n && !uv_is_closing((uv_handle_t *)&sock->udp); i++)
            deliver(sock, io->recv_buf + (size_t)i * RECV_SLICE, msgs[i].msg_len,
                    (const struct sockaddr *)&peers[i], msgs[i].msg_hdr.msg_flags & MSG_TRUNC);
        if (n < RG_BACKEND_RECV_BATCH)
            return;
    }
}

void rg_backend_drain(struct rg_backend_io *io)
{
    struct rg_backend_sock *sock;
    while ((sock = io->recv_socks) != NULL) {
        io->recv_socks = sock->next_recv;
        sock->next_recv = NULL;
        sock->recv_listed = false;
        /* libuv's reading of this turn is over: a short last batch emptied the socket, so
         * only one whose last batch was full is asked again (no empty recvmmsg per turn). */
        bool full = sock->recv_full;
        sock->recv_full = false;
        if (full)
            sock_drain(io, sock);
    }
}

static void sock_recv_unlist(struct rg_backend_sock *sock)
{
    if (!sock->recv_listed)
        return;
    struct rg_backend_io *io = sock_io(sock);
    for (struct rg_backend_sock **p = &io->recv_socks; *p; p = &(*p)->next_recv)
        if (*p == sock) {
            *p = sock->next_recv;
            break;
        }
    sock->next_recv = NULL;
    sock->recv_listed = false;
}

/* A socket has at most RG_BACKEND_IDS requests in flight, so it never has more than that many
 * legitimate replies queued: size the receive buffer to hold them all (the kernel counts
 * about 1 KiB of overhead per small datagram). The default (rmem_default, often 208 KiB)
 * overflows when a server answers a full ID space in a burst, and every lost reply then
 * costs a retransmission timeout. SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it the
 * kernel caps SO_RCVBUF at net.core.rmem_max. */
#define RG_BACKEND_RCVBUF (RG_BACKEND_IDS * 2048)

static void sock_buffers(struct rg_backend_sock *sock)
{
    uv_os_fd_t fd;
    int size = RG_BACKEND_RCVBUF;
    if (uv_fileno((uv_handle_t *)&sock->udp, &fd) != 0)
        return;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

static void on_sock_closed(uv_handle_t *h);

static int sock_open(struct rg_backend_dest *d, struct rg_backend_sock **out)
{
    struct rg_backend_set *set = d->server->pool->set;
    struct rg_backend_sock *sock = calloc(1, sizeof(*sock));
    if (!sock)
        return -ENOMEM;
    /* UV_UDP_RECVMMSG: a burst of replies is read with one recvmmsg instead of one recvmsg
     * each (issue 14); libuv falls back to recvmsg where the kernel lacks it. */
    int rc =
        uv_udp_init_ex(set->io->loop, &sock->udp, (unsigned)d->addr->ss_family | UV_UDP_RECVMMSG);
    if (rc < 0) {
        free(sock);
        return rc;
    }
    sock->udp.data = sock;
    sock->dest = d;
    rg_idspace_init(&sock->ids);
    set->open_handles++;
    struct sockaddr_storage any;
    memset(&any, 0, sizeof(any));
    any.ss_family = d->addr->ss_family;
    rc = uv_udp_bind(&sock->udp, (const struct sockaddr *)&any, 0);
    if (rc == 0)
        sock_buffers(sock);
    if (rc == 0)
        rc = uv_udp_recv_start(&sock->udp, on_alloc, on_recv);
    if (rc < 0) {
        /* EMFILE and the like: a socket that cannot receive never joins the pool (its IDs
         * would only collect timeouts); the next request tries again. */
        char buf[80];
        rg_log_limited("backend-socket", LOG_ERR,
                       "event=backend_socket_failed backend=%s server=%s error=\"%s\"",
                       d->server->cfg->name,
                       rg_sockaddr_format((const struct sockaddr *)d->addr, true, buf, sizeof(buf)),
                       rg_strerror(rc));
        uv_close((uv_handle_t *)&sock->udp, on_sock_closed);
        return rc;
    }
    sock->index = d->nsocks;
    d->socks[d->nsocks++] = sock;
    *out = sock;
    return 0;
}

int rg_backend_alloc_id(struct rg_backend_dest *d, void *owner, struct rg_backend_sock **sock_out,
                        uint8_t *id_out)
{
    /* Fill the most recently opened socket first: older sockets drain and their IDs age. */
    for (unsigned k = d->nsocks; k-- > 0;) {
        struct rg_backend_sock *s = d->socks[k];
        if (s->ids.nfree == 0)
            continue;
        *id_out = (uint8_t)rg_idspace_alloc(&s->ids, owner);
        *sock_out = s;
        d->outstanding++;
        d->server->pool->set->outstanding++;
        return 0;
    }
    if (d->nsocks >= d->max_socks)
        return -ENOSPC;
    struct rg_backend_sock *s;
    int rc = sock_open(d, &s);
    if (rc < 0)
        return rc;
    *id_out = (uint8_t)rg_idspace_alloc(&s->ids, owner);
    *sock_out = s;
    d->outstanding++;
    d->server->pool->set->outstanding++;
    return 0;
}

void rg_backend_release_id(struct rg_backend_sock *sock, uint8_t id)
{
    rg_idspace_release(&sock->ids, id);
    sock->dest->outstanding--;
    rg_backend_set_release(sock->dest->server->pool->set);
}

/* ---- queued sends: contexts from the worker's pool ---- */

static struct rg_backend_send_ctx *send_ctx_get(struct rg_backend_send_pool *pool)
{
    struct rg_backend_send_ctx *ctx = pool->free_list;
    if (ctx) {
        pool->free_list = ctx->next_free;
        return ctx;
    }
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->next_all = pool->all;
    pool->all = ctx;
    return ctx;
}

static void send_ctx_put(struct rg_backend_send_pool *pool, struct rg_backend_send_ctx *ctx)
{
    ctx->owner = NULL;
    ctx->next_free = pool->free_list;
    pool->free_list = ctx;
}

static void send_pool_free(struct rg_backend_send_pool *pool)
{
    while (pool->all) {
        struct rg_backend_send_ctx *next = pool->all->next_all;
        free(pool->all);
        pool->all = next;
    }
    pool->free_list = NULL;
}

void rg_backend_io_free(struct rg_backend_io *io)
{
    send_pool_free(&io->send_pool);
    free(io->recv_buf);
    io->recv_buf = NULL;
}

/* The end of a send for owner, reported to the layer above (rg_backend_events.sent). */
static void send_ended(struct rg_backend_sock *sock, void *owner)
{
    const struct rg_backend_events *ev = &sock->dest->server->pool->set->events;
    ev->sent(ev->arg, owner);
}

static void on_sent(uv_udp_send_t *sr, int status)
{
    struct rg_backend_send_ctx *ctx = sr->data;
    void *owner = ctx->owner;
    struct rg_backend_sock *sock = sr->handle->data;
    (void)status; /* a lost datagram is what retransmission is for */
    send_ctx_put(&sock_io(sock)->send_pool, ctx);
    send_ended(sock, owner);
}

/* The socket buffer is full: the packet waits in libuv's queue (the sender's until on_sent). */
static int send_queued(struct rg_backend_sock *sock, const struct rg_backend_out *out)
{
    struct rg_backend_send_pool *pool = &sock_io(sock)->send_pool;
    uv_buf_t buf = uv_buf_init((char *)out->pkt, (unsigned)out->len);
    struct rg_backend_send_ctx *ctx = send_ctx_get(pool);
    if (!ctx)
        return -ENOMEM;
    ctx->owner = out->owner;
    ctx->req.data = ctx;
    int rc = uv_udp_send(&ctx->req, &sock->udp, &buf, 1, (const struct sockaddr *)sock->dest->addr,
                         on_sent);
    if (rc < 0)
        send_ctx_put(pool, ctx);
    return rc;
}

int rg_backend_send(struct rg_backend_sock *sock, void *owner, const uint8_t *pkt, size_t len)
{
    RG_REQUIRE(sock->nsendq < RG_BACKEND_IDS);
    sock->sendq[sock->nsendq++] = (struct rg_backend_out){.owner = owner, .pkt = pkt, .len = len};
    if (!sock->send_listed) {
        struct rg_backend_io *io = sock_io(sock);
        sock->send_listed = true;
        sock->next_send = io->send_socks;
        io->send_socks = sock;
        io->schedule_flush(io->schedule_arg);
    }
    return 0;
}

/* Packets per sendmmsg call (the mmsghdr array lives on the stack). */
#define SEND_BATCH 64

static void sock_flush(struct rg_backend_sock *sock)
{
    /* The end of a send can free a slot and so queue new packets on this socket: work on a
     * copy of the queue. */
    struct rg_backend_out q[RG_BACKEND_IDS];
    unsigned n = sock->nsendq, done = 0;
    memcpy(q, sock->sendq, n * sizeof(q[0]));
    sock->nsendq = 0;
    uv_os_fd_t fd = -1;
    bool direct = uv_fileno((uv_handle_t *)&sock->udp, &fd) == 0 &&
                  uv_udp_get_send_queue_count(&sock->udp) == 0;
    while (direct && done < n && !uv_is_closing((uv_handle_t *)&sock->udp)) {
        struct mmsghdr msgs[SEND_BATCH];
        struct iovec iov[SEND_BATCH];
        unsigned k = n - done < SEND_BATCH ? n - done : SEND_BATCH;
        memset(msgs, 0, k * sizeof(msgs[0]));
        for (unsigned i = 0; i < k; i++) {
            iov[i].iov_base = (void *)q[done + i].pkt;
            iov[i].iov_len = q[done + i].len;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = (void *)sock->dest->addr;
            msgs[i].msg_hdr.msg_namelen = sock->dest->addr->ss_family == AF_INET6
                                              ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
        }
        int sent;
        do
            sent = sendmmsg(fd, msgs, k, 0);
        while (sent < 0 && errno == EINTR);
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
            break; /* the rest waits in libuv's queue */
        /* Another error belongs to the first packet: it is lost (retransmission is for that). */
        unsigned finished = sent < 0 ? 1 : (unsigned)sent;
        for (unsigned i = 0; i < finished; i++)
            send_ended(sock, q[done + i].owner);
        done += finished;
    }
    for (; done < n; done++) {
        if (uv_is_closing((uv_handle_t *)&sock->udp) || send_queued(sock, &q[done]) < 0)
            send_ended(sock, q[done].owner); /* not sent: lost, like a dropped datagram */
    }
}

void rg_backend_flush(struct rg_backend_io *io)
{
    struct rg_backend_sock *sock;
    while ((sock = io->send_socks) != NULL) {
        io->send_socks = sock->next_send;
        sock->next_send = NULL;
        sock->send_listed = false;
        sock_flush(sock);
    }
}

/* A socket about to close sends what it queued and leaves the worker's list. */
static void sock_flush_now(struct rg_backend_sock *sock)
{
    if (!sock->send_listed)
        return;
    struct rg_backend_io *io = sock_io(sock);
    for (struct rg_backend_sock **p = &io->send_socks; *p; p = &(*p)->next_send)
        if (*p == sock) {
            *p = sock->next_send;
            break;
        }
    sock->next_send = NULL;
    sock->send_listed = false;
    sock_flush(sock);
}

/* ---- sets ---- */

static void dest_init(struct rg_backend_dest *d, struct rg_backend_server *srv,
                      enum rg_backend_kind kind, const struct sockaddr_storage *addr,
                      unsigned max_outstanding)
{
    d->server = srv;
    d->kind = kind;
    d->addr = addr;
    d->max_socks = (max_outstanding + RG_BACKEND_IDS - 1) / RG_BACKEND_IDS;
    if (d->max_socks == 0)
        d->max_socks = 1;
    d->socks = calloc(d->max_socks, sizeof(*d->socks));
    RG_REQUIRE(d->socks != NULL);
}

struct rg_backend_set *rg_backend_set_new(struct rg_backend_io *io, struct rg_config *cfg,
                                          const struct rg_backend_events *events)
{
    struct rg_backend_set *set = calloc(1, sizeof(*set));
    RG_REQUIRE(set != NULL);
    set->io = io;
    if (events)
        set->events = *events;
    set->cfg = rg_config_ref(cfg);
    set->npools = (unsigned)cfg->npools;
    set->pools = calloc(set->npools ? set->npools : 1, sizeof(*set->pools));
    RG_REQUIRE(set->pools != NULL);
    for (unsigned p = 0; p < set->npools; p++) {
        struct rg_backend_pool *pool = &set->pools[p];
        pool->cfg = &cfg->pools[p];
        pool->set = set;
        pool->nservers = (unsigned)pool->cfg->nservers;
        RG_REQUIRE(pool->nservers <= 64); /* tried-mask width; config enforces it */
        pool->servers = calloc(pool->nservers ? pool->nservers : 1, sizeof(*pool->servers));
        RG_REQUIRE(pool->servers != NULL);
        for (unsigned i = 0; i < pool->nservers; i++) {
            struct rg_backend_server *s = &pool->servers[i];
            s->cfg = &pool->cfg->servers[i];
            s->pool = pool;
            s->index = i;
            s->health = RG_BACKEND_ALIVE;
            s->shared = rg_backend_shared_get(pool->cfg, s->cfg);
            rg_proxy_fair_init(&s->fair);
            dest_init(&s->auth, s, RG_BACKEND_AUTH, &s->cfg->auth_addr, pool->cfg->max_outstanding);
            dest_init(&s->acct, s, RG_BACKEND_ACCT, &s->cfg->acct_addr, pool->cfg->max_outstanding);
            rg_metrics_backend(io ? io->metrics : NULL, RG_METRIC_BACKEND_DOWN, pool->cfg->name,
                               s->cfg->name, 0);
        }
    }
    return set;
}

void rg_backend_set_inherit(struct rg_backend_set *set, const struct rg_backend_set *old)
{
    for (unsigned p = 0; p < set->npools; p++) {
        struct rg_backend_pool *np = &set->pools[p];
        const struct rg_backend_pool *op = NULL;
        for (unsigned q = 0; q < old->npools && !op; q++)
            if (strcmp(old->pools[q].cfg->name, np->cfg->name) == 0)
                op = &old->pools[q];
        if (!op)
            continue;
        np->rr_next = op->nservers ? op->rr_next % (np->nservers ? np->nservers : 1) : 0;
        for (unsigned i = 0; i < np->nservers; i++) {
            struct rg_backend_server *ns = &np->servers[i];
            for (unsigned k = 0; k < op->nservers; k++) {
                const struct rg_backend_server *os = &op->servers[k];
                if (strcmp(os->cfg->name, ns->cfg->name) != 0 ||
                    !rg_sockaddr_equal((const struct sockaddr *)&os->cfg->auth_addr,
                                       (const struct sockaddr *)&ns->cfg->auth_addr))
                    continue;
                ns->health = os->health;
                ns->missed = os->missed;
                ns->dead_since_ms = os->dead_since_ms;
                ns->retry_at_ms = os->retry_at_ms;
                ns->last_probe_ms = os->last_probe_ms;
                rg_proxy_fair_inherit(&ns->fair, &os->fair);
                rg_metrics_backend(set->io ? set->io->metrics : NULL, RG_METRIC_BACKEND_DOWN,
                                   np->cfg->name, ns->cfg->name, ns->health == RG_BACKEND_DEAD);
                break;
            }
        }
    }
}

struct rg_backend_pool *rg_backend_set_pool(struct rg_backend_set *set, const struct rg_pool *p)
{
    /* The connection may hold an older snapshot than the set: match by name. */
    for (unsigned i = 0; i < set->npools; i++)
        if (set->pools[i].cfg == p || strcmp(set->pools[i].cfg->name, p->name) == 0)
            return &set->pools[i];
    return NULL;
}

static void set_free(struct rg_backend_set *set)
{
    for (unsigned p = 0; p < set->npools; p++) {
        for (unsigned i = 0; i < set->pools[p].nservers; i++) {
            rg_backend_shared_put(set->pools[p].servers[i].shared);
            free(set->pools[p].servers[i].auth.socks);
            free(set->pools[p].servers[i].acct.socks);
        }
        free(set->pools[p].servers);
    }
    free(set->pools);
    rg_config_unref(set->cfg);
    free(set);
}

static void on_sock_closed(uv_handle_t *h)
{
    struct rg_backend_sock *sock = h->data;
    struct rg_backend_set *set = sock->dest->server->pool->set;
    free(sock);
    if (--set->open_handles == 0 && set->closing)
        set_free(set);
}

static void set_close(struct rg_backend_set *set)
{
    unsigned handles = set->open_handles;
    set->closing = true;
    for (unsigned p = 0; p < set->npools; p++)
        for (unsigned i = 0; i < set->pools[p].nservers; i++) {
            struct rg_backend_server *s = &set->pools[p].servers[i];
            struct rg_backend_dest *dests[2] = {&s->auth, &s->acct};
            for (unsigned d = 0; d < 2; d++)
                for (unsigned k = 0; k < dests[d]->nsocks; k++) {
                    sock_flush_now(dests[d]->socks[k]);
                    sock_recv_unlist(dests[d]->socks[k]);
                    uv_close((uv_handle_t *)&dests[d]->socks[k]->udp, on_sock_closed);
                }
        }
    if (handles == 0)
        set_free(set);
}

void rg_backend_set_retire(struct rg_backend_set *set)
{
    set->retired = true;
    if (set->outstanding == 0)
        set_close(set);
}

void rg_backend_set_release(struct rg_backend_set *set)
{
    RG_REQUIRE(set->outstanding > 0);
    if (--set->outstanding == 0 && set->retired)
        set_close(set);
}
