/* AP connections: accept, TLS stream driving, RADIUS framing on the decrypted bytes
 * (RFC 6613 §2.6.4), timers, backpressure and the write path back to the AP. Requests are
 * handed to the state table (proxy.c); nothing here knows about backends. */
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/conn.h"
#include "radsecgw/listener.h"
#include "radsecgw/log.h"
#include "radsecgw/proxy.h"
#include "radsecgw/proxy_protocol.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius11.h"
#include "radsecgw/worker.h"

/* Decrypted bytes buffered per connection before the TLS layer stops reading: a few
 * maximum-size packets (backpressure when the backend table is full). */
#define RG_CONN_PLAIN_LIMIT (4 * RG_RADIUS_MAX_LEN)
/* An AP that stops reading its replies is cut off past this much queued ciphertext. */
#define RG_CONN_OUT_LIMIT (1024 * 1024)
/* ...and stops being read long before that, once this much waits unsent: its requests stay
 * in TCP (its own send buffer fills) instead of costing the worker anything. */
#define RG_CONN_WRITE_PAUSE (64 * 1024)
#define RG_CONN_SNDBUF      (256 * 1024)
/* A connection's share of one loop turn: packets framed and plaintext decrypted. What is
 * left waits in the worker's more list for the next turn, after the others had theirs. */
#define RG_TURN_PACKETS 32
#define RG_TURN_BYTES   (32 * 1024)
/* TLS handshake work per worker per loop turn (the first step of a turn always runs): a
 * burst of handshakes must not hold up the packets of connected APs. */
#define RG_TURN_HANDSHAKE_NS (2u * 1000u * 1000u)
/* libuv's timers run on the loop's cached clock, which lags rg_now_ms by up to a turn: a
 * deadline this close counts as reached. */
#define RG_TIMER_SLACK_MS 5

/* Connection numbers for log lines (conn=N) and metrics: unique across workers. */
static uint64_t conn_ids;

static void process(struct rg_conn *c);
static void on_timer(uv_timer_t *t);
static void admit(struct rg_conn *c);
static void watch_waiting(struct rg_conn *c);
static bool evict_silent(struct rg_worker *w, bool with_waiting);
static void expect_proxy_header(struct rg_conn *c);
static void flush(struct rg_conn *c);
static void update_reading(struct rg_conn *c);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void arm_sooner(struct rg_conn *c, uint64_t due_ms);
static void trim_unlink(struct rg_conn *c);

static void addr_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)ss;
        inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%u", host, ntohs(s->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%u", host, ntohs(s->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
}

/* ---- the worker's admission lists: waiting for a slot, silent handshakes ---- */

static struct rg_conn_queue *list_of(struct rg_worker *w, enum rg_conn_list list)
{
    return list == RG_CONN_LIST_WAITING ? &w->waiting : &w->silent;
}

static void list_push(struct rg_conn *c, enum rg_conn_list list)
{
    struct rg_worker *w = c->worker;
    struct rg_conn_queue *q = list_of(w, list);
    RG_REQUIRE(c->list == RG_CONN_LIST_NONE);
    c->list = list;
    c->admit_next = NULL;
    c->admit_prev = q->tail;
    if (q->tail)
        q->tail->admit_next = c;
    else
        q->head = c;
    q->tail = c;
    q->n++;
    if (list == RG_CONN_LIST_WAITING) {
        RG_STAT_INC(&w->stats, conn_waiting);
        rg_listener_waiting(true);
    }
}

static void list_remove(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    if (c->list == RG_CONN_LIST_NONE)
        return;
    struct rg_conn_queue *q = list_of(w, c->list);
    if (c->admit_prev)
        c->admit_prev->admit_next = c->admit_next;
    else
        q->head = c->admit_next;
    if (c->admit_next)
        c->admit_next->admit_prev = c->admit_prev;
    else
        q->tail = c->admit_prev;
    q->n--;
    if (c->list == RG_CONN_LIST_WAITING) {
        if (w->waiting_heard == c)
            w->waiting_heard = c->admit_prev; /* the ones that spoke are contiguous */
        RG_STAT_DEC(&w->stats, conn_waiting);
        rg_listener_waiting(false);
    }
    c->list = RG_CONN_LIST_NONE;
    c->admit_prev = c->admit_next = NULL;
}

/* A waiting connection that spoke goes before the silent ones (in arrival order among
 * those that spoke, which are the head of the queue up to w->waiting_heard): an AP's
 * ClientHello does not queue behind a half-open flood. */
static void list_waiting_to_front(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    struct rg_conn_queue *q = &w->waiting;
    struct rg_conn *after = w->waiting_heard;
    RG_REQUIRE(c->list == RG_CONN_LIST_WAITING && c->heard);
    if (c->admit_prev != after) {
        c->admit_prev->admit_next = c->admit_next; /* not the head: the head is `after` */
        if (c->admit_next)
            c->admit_next->admit_prev = c->admit_prev;
        else
            q->tail = c->admit_prev;
        c->admit_prev = after;
        c->admit_next = after ? after->admit_next : q->head;
        if (c->admit_next)
            c->admit_next->admit_prev = c;
        else
            q->tail = c;
        if (after)
            after->admit_next = c;
        else
            q->head = c;
    }
    w->waiting_heard = c;
}

/* ---- fairness: the worker's list of connections that used their share of a turn ---- */

static void more_push(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    if (c->more_queued)
        return;
    c->more_queued = true;
    c->more_next = NULL;
    c->more_prev = w->more_tail;
    if (w->more_tail)
        w->more_tail->more_next = c;
    else
        w->more_head = c;
    w->more_tail = c;
    w->nmore++;
    RG_STAT_INC(&w->stats, turn_deferred);
    rg_worker_schedule_more(w);
}

static void more_remove(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    if (!c->more_queued)
        return;
    if (c->more_prev)
        c->more_prev->more_next = c->more_next;
    else
        w->more_head = c->more_next;
    if (c->more_next)
        c->more_next->more_prev = c->more_prev;
    else
        w->more_tail = c->more_prev;
    c->more_prev = c->more_next = NULL;
    c->more_queued = false;
    w->nmore--;
}

/* Fresh shares when the worker's loop has turned since this connection last used them. */
static void turn_refresh(struct rg_conn *c)
{
    if (c->turn == c->worker->turn)
        return;
    c->turn = c->worker->turn;
    c->turn_packets = RG_TURN_PACKETS;
    c->turn_bytes = RG_TURN_BYTES;
}

static bool turn_used(const struct rg_conn *c)
{
    return c->turn_packets == 0 || c->turn_bytes == 0;
}

void rg_conn_abandon_drained(struct rg_conn *c)
{
    if (c->state != RG_CONN_OPEN || !c->abandon_blocked)
        return;
    c->abandon_blocked = false;
    more_push(c); /* from the loop: not from inside the reply that freed the slot */
}

void rg_conn_run_more(struct rg_worker *w)
{
    /* Only those queued before this pass, oldest first: one that uses this turn's share
     * too goes to the back and waits for the next turn. */
    for (unsigned n = w->nmore; n > 0 && w->more_head; n--) {
        struct rg_conn *c = w->more_head;
        more_remove(c);
        process(c);
    }
}

/* Has the peer sent anything we have not read yet? (A waiting connection is not read, and
 * a handshake's first bytes may sit in the socket until the next poll.) */
static bool bytes_pending(struct rg_conn *c)
{
    uv_os_fd_t fd;
    int n = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) < 0 || ioctl(fd, FIONREAD, &n) < 0)
        return true; /* cannot tell: not silent */
    return n > 0;
}

static void release_slot(struct rg_conn *c)
{
    if (!c->holds_slot)
        return;
    c->holds_slot = false;
    RG_STAT_DEC(&c->worker->stats, conn_handshaking);
    rg_listener_handshake_release((const struct sockaddr *)&c->addr);
    if (c->worker->waiting.n)
        rg_worker_schedule_admit(c->worker);
}

const char *rg_conn_secret(const struct rg_conn *c, size_t *len)
{
    *len = c->peer.org->secret_len;
    return c->peer.org->secret;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct rg_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    if (c->tls.ssl)
        RG_STAT_DEC(&c->worker->stats, tls_sessions);
    rg_tls_stream_free(&c->tls);
    rg_buf_free(&c->writing);
    rg_buf_free(&c->staged);
    free(c->pp2);
    rg_buf_pool_put(&c->worker->table_pool, c->inflight);
    rg_gen_unref(c->gen);
    free(c);
}

static void unlink_conn(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    if (c->prev)
        c->prev->next = c->next;
    else if (w->conns == c)
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    w->nconns--;
    if (c->paused) {
        struct rg_conn *prev = NULL;
        for (struct rg_conn **p = &w->paused; *p; prev = *p, p = &(*p)->next_paused)
            if (*p == c) {
                *p = c->next_paused;
                if (w->paused_tail == c)
                    w->paused_tail = prev;
                break;
            }
        c->paused = false;
    }
}

void rg_conn_close(struct rg_conn *c, const char *why)
{
    if (c->state == RG_CONN_CLOSED)
        return;
    struct rg_worker *w = c->worker;
    if (c->state == RG_CONN_OPEN) {
        rg_metrics_conn(w->metrics, c->peer.org ? c->peer.org->name : "-", -1);
        rg_notice("event=conn_close " RG_CONN_LOG_FMT " org=%s reason=\"%s\" inflight=%u",
                  RG_CONN_LOG_ARGS(c), c->peer.org ? c->peer.org->name : "-", why, c->ninflight);
        RG_STAT_INC(&w->stats, conn_closed);
        RG_STAT_DEC(&w->stats, conn_open);
        if (c->proto == RG_PROTO_RADIUS_11)
            RG_STAT_DEC(&w->stats, conn_radius11);
        /* Replies of this loop turn go before close_notify (best effort, like it); the
         * handle is closed right after. A connection left in the worker's staged list is
         * skipped there: its memory lasts until the close callbacks, after the check phase. */
        if (c->staged.len)
            rg_tls_stream_write(&c->tls, c->staged.data, c->staged.len);
        c->staged.len = 0;
        rg_tls_stream_shutdown(&c->tls);
        if (!c->write_busy && c->tls.out.len) {
            uv_buf_t b = uv_buf_init((char *)c->tls.out.data, (unsigned)c->tls.out.len);
            uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        }
    } else {
        rg_debug("event=conn_close conn=%llu src=%s state=%s reason=\"%s\"",
                 (unsigned long long)c->id, c->addr_text,
                 c->state == RG_CONN_PROXY_HEADER ? "proxy_header"
                 : c->state == RG_CONN_WAITING    ? "waiting"
                                                  : "handshake",
                 why);
    }
    rg_proxy_conn_closed(&w->proxy, c);
    rg_coa_conn_closed(c);
    c->state = RG_CONN_CLOSED;
    more_remove(c);
    w->closes_unreturned++;
    trim_unlink(c);
    unlink_conn(c);
    list_remove(c);
    release_slot(c);
    if (c->counted)
        rg_listener_release((const struct sockaddr *)&c->addr, c->established);
    c->counted = c->established = false;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void refuse(struct rg_conn *c, const char *reason)
{
    struct rg_worker *w = c->worker;
    RG_STAT_INC(&w->stats, conn_refused);
    rg_metrics_refused(w->metrics, reason);
    /* A line per peer once a certificate was seen (rate-limited per reason); before that,
     * one per reason and interval with the count (rg_listener_report_refusals). */
    if (rg_listener_refusal(reason, c->addr_text, c->peer.subject[0] != '\0'))
        rg_warn("event=tls_refused conn=%llu src=%s reason=\"%s\"%s%s%s%s%s%s%s%s",
                (unsigned long long)c->id, c->addr_text, reason, c->peer.org ? " org=" : "",
                c->peer.org ? c->peer.org->name : "", c->peer.subject[0] ? " subject=\"" : "",
                RG_LOG_ESC(c->peer.subject), c->peer.subject[0] ? "\"" : "",
                c->peer.issuer[0] ? " issuer=\"" : "", RG_LOG_ESC(c->peer.issuer),
                c->peer.issuer[0] ? "\"" : "");
    flush(c); /* the alert, if wolfSSL produced one */
    if (!c->write_busy && c->tls.out.len) {
        uv_buf_t b = uv_buf_init((char *)c->tls.out.data, (unsigned)c->tls.out.len);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    rg_conn_close(c, reason);
}

/* ---- idle connections hold no buffers ---- */

/* Most APs send a request every few minutes and hold their connection all day. Buffers a
 * connection emptied go back to the worker's pool as soon as the event that used them is
 * handled (the next connection's read takes the same buffer again: a loop turn that serves a
 * thousand connections holds a few buffers, not a thousand). The in-flight table is given
 * back from the worker's check handle (rg_conn_trim_idle), once the replies of this turn
 * have finished their requests. */
static void release_buffers(struct rg_conn *c)
{
    rg_buf_release_empty(&c->tls.in);
    rg_buf_release_empty(&c->tls.out);
    rg_buf_release_empty(&c->tls.plain);
    rg_buf_release_empty(&c->staged);
    if (!c->write_busy)
        rg_buf_release_empty(&c->writing);
}

static void want_trim(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    if (c->state == RG_CONN_CLOSED)
        return;
    release_buffers(c);
    if (c->trim_queued || !c->inflight)
        return;
    c->trim_queued = true;
    c->trim_prev = NULL;
    c->trim_next = w->trim_head;
    if (w->trim_head)
        w->trim_head->trim_prev = c;
    w->trim_head = c;
    rg_worker_schedule_trim(w);
}

static void trim_unlink(struct rg_conn *c)
{
    if (!c->trim_queued)
        return;
    if (c->trim_prev)
        c->trim_prev->trim_next = c->trim_next;
    else
        c->worker->trim_head = c->trim_next;
    if (c->trim_next)
        c->trim_next->trim_prev = c->trim_prev;
    c->trim_queued = false;
    c->trim_prev = c->trim_next = NULL;
}

void rg_conn_trim_idle(struct rg_worker *w)
{
    while (w->trim_head) {
        struct rg_conn *c = w->trim_head;
        trim_unlink(c);
        release_buffers(c);
        if (c->ninflight == 0) {
            rg_buf_pool_put(&w->table_pool, c->inflight);
            c->inflight = NULL;
        }
    }
}

static void on_write(uv_write_t *wr, int status)
{
    struct rg_conn *c = wr->data;
    c->write_busy = false;
    c->writing.len = 0;
    if (c->state == RG_CONN_CLOSED)
        return;
    if (status < 0) {
        rg_conn_close(c, rg_strerror(status));
        return;
    }
    flush(c);
    update_reading(c); /* the peer reads again: so do we */
    want_trim(c);
}

static void flush(struct rg_conn *c)
{
    if (c->write_busy || c->tls.out.len == 0 || c->state == RG_CONN_CLOSED)
        return;
    /* Most replies fit in the socket's send buffer: written now, no buffer stays held until
     * a write callback of the next loop turn. */
    uv_buf_t now = uv_buf_init((char *)c->tls.out.data, (unsigned)c->tls.out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &now, 1);
    if (n < 0 && n != UV_EAGAIN) {
        rg_conn_close(c, rg_strerror(n));
        return;
    }
    if (n > 0)
        rg_buf_consume(&c->tls.out, (size_t)n);
    if (c->tls.out.len == 0)
        return;
    /* The rest: hand the whole output buffer to libuv and give the TLS layer the spare one. */
    struct rg_buf t = c->writing;
    c->writing = c->tls.out;
    c->tls.out = t;
    c->tls.out.len = 0;
    uv_buf_t b = uv_buf_init((char *)c->writing.data, (unsigned)c->writing.len);
    c->write_req.data = c;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        c->writing.len = 0;
        rg_conn_close(c, rg_strerror(rc));
        return;
    }
    c->write_busy = true;
}

bool rg_conn_send(struct rg_conn *c, const uint8_t *pkt, size_t len)
{
    if (c->state != RG_CONN_OPEN)
        return false;
    if (c->staged.len + c->tls.out.len + c->writing.len + len > RG_CONN_OUT_LIMIT) {
        rg_conn_close(c, "peer does not read its replies (output limit reached)");
        return false;
    }
    if (rg_buf_append(&c->staged, pkt, len) < 0) {
        rg_conn_close(c, "out of memory");
        return false;
    }
    c->last_activity_ms = rg_now_ms();
    if (!c->staged_listed) {
        struct rg_worker *w = c->worker;
        c->staged_listed = true;
        c->next_staged = w->staged;
        w->staged = c;
        rg_worker_schedule_flush(w);
    }
    want_trim(c);
    return true;
}

void rg_conn_flush_staged(struct rg_worker *w)
{
    struct rg_conn *c;
    while ((c = w->staged) != NULL) {
        w->staged = c->next_staged;
        c->next_staged = NULL;
        c->staged_listed = false;
        if (c->state != RG_CONN_OPEN || c->staged.len == 0)
            continue;
        /* One wolfSSL_write: one record (up to 16 KB of packets), one AEAD pass. */
        int rc = rg_tls_stream_write(&c->tls, c->staged.data, c->staged.len);
        c->staged.len = 0;
        if (rc < 0) {
            rg_conn_close(c, c->tls.err_text[0] ? c->tls.err_text : "TLS write failed");
            continue;
        }
        flush(c);
        update_reading(c); /* stops when the peer does not read what we send */
        want_trim(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rg_conn *c = h->data;
    (void)suggested;
    /* The worker's buffer: on_read copies it into the TLS input before the next read. */
    *buf = uv_buf_init((char *)c->worker->tcp_buf, sizeof(c->worker->tcp_buf));
}

static bool write_backlog(const struct rg_conn *c)
{
    return c->staged.len + c->tls.out.len + c->writing.len > RG_CONN_WRITE_PAUSE;
}

/* Read from the socket exactly when nothing says not to: backpressure from a full backend
 * table, a used share of the loop turn, max-requests-per-second, or replies the peer does
 * not read. */
static void update_reading(struct rg_conn *c)
{
    if (c->state != RG_CONN_HANDSHAKE && c->state != RG_CONN_OPEN)
        return;
    bool want = !c->paused && !c->more_queued && !c->rate_blocked && !c->abandon_blocked &&
                !write_backlog(c);
    if (want == c->reading)
        return;
    if (!want) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
        if (write_backlog(c))
            RG_STAT_INC(&c->worker->stats, unread_paused);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        return;
    c->reading = true;
    /* The peer could not send while we did not read: what it had begun gets a whole
     * packet-timeout again. */
    uint64_t now = rg_now_ms(), pt = (uint64_t)c->gen->cfg->listen.packet_timeout_s * 1000u;
    if (c->rec_since_ms) {
        c->rec_since_ms = now;
        arm_sooner(c, now + pt);
    }
    if (c->pkt_since_ms) {
        c->pkt_since_ms = now;
        arm_sooner(c, now + pt);
    }
}

/* Follow the record framing of the ciphertext (RFC 8446 §5.1: a 5-octet header ending in
 * the length) to know whether a record is incomplete and since when: only a record that
 * completes within packet-timeout keeps the connection (dribbling keeps nothing open). */
static void track_records(struct rg_conn *c, const uint8_t *p, size_t n)
{
    bool completed = false;
    while (n > 0) {
        if (c->rec_left) {
            size_t take = n < c->rec_left ? n : c->rec_left;
            c->rec_left -= (uint32_t)take;
            p += take;
            n -= take;
            completed = completed || c->rec_left == 0;
            continue;
        }
        c->rec_hdr[c->rec_hdr_got++] = *p++;
        n--;
        if (c->rec_hdr_got == sizeof(c->rec_hdr)) {
            c->rec_hdr_got = 0;
            c->rec_left = (uint32_t)c->rec_hdr[3] << 8 | c->rec_hdr[4];
            completed = completed || c->rec_left == 0;
        }
    }
    if (c->rec_hdr_got == 0 && c->rec_left == 0) {
        c->rec_since_ms = 0;
    } else if (completed || !c->rec_since_ms) {
        c->rec_since_ms = rg_now_ms();
        arm_sooner(c, c->rec_since_ms + (uint64_t)c->gen->cfg->listen.packet_timeout_s * 1000u);
    }
}

/* The first byte arrived: only now the WOLFSSL and its buffers exist, so a connection that
 * never sends (a port scan, a half-open flood) costs no TLS state. */
static int tls_begin(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    if (c->gen != w->gen) { /* a reload since the accept: the generation in force */
        rg_gen_unref(c->gen);
        c->gen = rg_gen_ref(w->gen);
    }
    WOLFSSL *ssl = rg_tls_ssl_new(c->gen->tls);
    if (!ssl || rg_tls_stream_init(&c->tls, ssl) < 0) {
        rg_err("event=tls_setup_failed conn=%llu src=%s", (unsigned long long)c->id, c->addr_text);
        rg_conn_close(c, "TLS setup failed");
        return -ENOMEM;
    }
    RG_STAT_INC(&w->stats, tls_sessions);
    c->tls.plain_limit = RG_CONN_PLAIN_LIMIT;
    c->tls.in.pool = c->tls.out.pool = c->tls.plain.pool = &w->buf_pool;
    return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rg_conn *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (c->state == RG_CONN_HANDSHAKE) {
            refuse(c, nread == UV_EOF ? "closed by peer during the TLS handshake"
                                      : rg_strerror((int)nread));
            return;
        }
        rg_conn_close(c, nread == UV_EOF ? "closed by peer" : rg_strerror((int)nread));
        return;
    }
    if (!c->heard) {
        c->heard = true;
        if (c->list == RG_CONN_LIST_SILENT)
            list_remove(c);
    }
    if (!c->tls.ssl && tls_begin(c) < 0)
        return;
    track_records(c, (const uint8_t *)buf->base, (size_t)nread);
    if (rg_tls_stream_feed(&c->tls, (const uint8_t *)buf->base, (size_t)nread) < 0) {
        rg_conn_close(c, "out of memory");
        return;
    }
    process(c);
}

static void pause_reading(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    if (c->paused)
        return;
    c->paused = true;
    update_reading(c);
    /* FIFO: the connection that waited longest gets the next free slot. */
    c->next_paused = NULL;
    if (w->paused_tail)
        w->paused_tail->next_paused = c;
    else
        w->paused = c;
    w->paused_tail = c;
    RG_STAT_INC(&w->stats, backpressure);
    rg_log_limited("backpressure", LOG_NOTICE,
                   "event=conn_paused conn=%llu src=%s reason=\"backend table full\" "
                   "until=\"replies drain\"",
                   (unsigned long long)c->id, c->addr_text);
}

void rg_conn_resume(struct rg_conn *c)
{
    if (c->state != RG_CONN_OPEN)
        return;
    c->paused = false;
    process(c); /* reads again at its end */
}

/* RADIUS framing on the decrypted stream: the Length field delimits packets; several per
 * TLS record and one across records both happen. */
static void frame(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    struct rg_buf *plain = &c->tls.plain;
    size_t off = 0;
    unsigned max_rate = c->gen->cfg->listen.max_requests_per_second;
    uint64_t now = rg_now_ms();
    if (!c->inflight && plain->len) {
        /* Requests are coming: the table they are kept in by AP ID (given back when the
         * connection is idle again). */
        if (!(c->inflight = rg_buf_pool_get(&w->table_pool))) {
            rg_conn_close(c, "out of memory");
            return;
        }
        memset(c->inflight, 0, w->table_pool.size);
    }
    while (c->state == RG_CONN_OPEN && !c->paused && !c->abandon_blocked && c->turn_packets > 0) {
        long need = rg_radius_frame_len(plain->data + off, plain->len - off);
        if (need < 0) {
            RG_STAT_INC(&w->stats, drop_malformed);
            rg_warn("event=packet_malformed " RG_CONN_LOG_FMT
                    " reason=\"Length field %u outside 20..4096\" action=close "
                    "rfc=\"RFC 6613 §2.6.4\"",
                    RG_CONN_LOG_ARGS(c),
                    (unsigned)((plain->data[off + 2] << 8) | plain->data[off + 3]));
            rg_conn_close(c, "malformed packet");
            return;
        }
        if (need == 0 || (size_t)need > plain->len - off)
            break;
        const uint8_t *pkt = plain->data + off;
        bool is_reply = rg_coa_is_reply(pkt[0]);
        if (max_rate && !is_reply) {
            if (now - c->rate_window_ms >= 1000) {
                c->rate_window_ms = now;
                c->rate_count = 0;
            }
            if (c->rate_count >= max_rate) {
                /* Not read again before the window ends: the AP's requests wait in TCP. */
                c->rate_blocked = true;
                RG_STAT_INC(&w->stats, rate_limited);
                rg_log_limited("rate-limited", LOG_NOTICE,
                               "event=rate_limited " RG_CONN_LOG_FMT " max_requests_per_second=%u",
                               RG_CONN_LOG_ARGS(c), max_rate);
                arm_sooner(c, c->rate_window_ms + 1000u);
                break;
            }
        }
        struct rg_radius_error err;
        if (rg_radius_validate(pkt, (size_t)need, &err) < 0) {
            char text[128];
            RG_STAT_INC(&w->stats, drop_malformed);
            rg_warn("event=packet_malformed " RG_CONN_LOG_FMT
                    " code=%s id=%u reason=\"%s\" action=close rfc=\"RFC 6613 §2.6.4\"",
                    RG_CONN_LOG_ARGS(c), rg_radius_code_name(pkt[0]), pkt[1],
                    rg_radius_error_str(&err, text, sizeof(text)));
            rg_conn_close(c, "malformed packet");
            return;
        }
        /* ACK/NAK codes answer CoA the gateway sent down this connection (reverse CoA). */
        int rc = is_reply ? rg_coa_on_reply(c, pkt, (size_t)need)
                          : rg_proxy_on_request(&w->proxy, c, pkt, (size_t)need);
        if (rc == -EAGAIN) {
            pause_reading(c);
            break;
        }
        if (rc == -EBUSY) {
            c->abandon_blocked = true; /* update_reading stops reading */
            RG_STAT_INC(&w->stats, abandon_paused);
            break;
        }
        if (rc == -EBADMSG) {
            /* RFC 6613 §2.6.4: a failed Request Authenticator or Message-Authenticator
             * closes the connection (proxy.c logged why). */
            rg_conn_close(c, "request failed authentication (RFC 6613 §2.6.4)");
            return;
        }
        if (rc == -EPROTO) {
            /* RFC 9765 §"Receiving Packets": no way to negotiate correct behaviour. */
            rg_conn_close(c, "Token reused for a different outstanding packet (RFC 9765)");
            return;
        }
        off += (size_t)need;
        c->turn_packets--;
        if (!is_reply)
            c->rate_count++;
        c->last_activity_ms = now; /* only whole packets keep a connection from idling */
    }
    if (c->state == RG_CONN_CLOSED)
        return;
    rg_buf_consume(plain, off);
    /* What is left starts a packet (or is one waiting its turn): since when. */
    if (plain->len == 0) {
        c->pkt_since_ms = 0;
    } else if (off || !c->pkt_since_ms) {
        c->pkt_since_ms = now;
        arm_sooner(c, now + (uint64_t)c->gen->cfg->listen.packet_timeout_s * 1000u);
    }
}

/* The earliest moment the connection's timer has something to check: the end of
 * handshake-timeout (counted from the accept) or else the idle deadline, the moment the
 * peer's certificate chain expires, the end of a max-requests-per-second window, and the
 * packet-timeout of an incomplete record or packet (only while reading: when we do not
 * read, the peer cannot complete it). */
static uint64_t timer_deadline(const struct rg_conn *c, uint64_t now)
{
    const struct rg_config *cfg = c->gen->cfg;
    uint64_t due;
    if (c->state != RG_CONN_OPEN) {
        due = c->accepted_ms + (uint64_t)cfg->listen.handshake_timeout_s * 1000u;
    } else {
        uint64_t idle = (uint64_t)cfg->listen.idle_timeout_s * 1000u;
        due = c->last_activity_ms + idle > now ? c->last_activity_ms + idle : now + idle;
        time_t not_after = c->peer.not_after;
        if (not_after) {
            time_t t = time(NULL);
            uint64_t expiry = now + (not_after > t ? (uint64_t)(not_after - t) * 1000u + 1000u : 0);
            if (expiry < due)
                due = expiry;
        }
        if (c->rate_blocked && c->rate_window_ms + 1000u < due)
            due = c->rate_window_ms + 1000u;
    }
    uint64_t pt = (uint64_t)cfg->listen.packet_timeout_s * 1000u;
    if (c->reading && c->rec_since_ms && c->rec_since_ms + pt < due)
        due = c->rec_since_ms + pt;
    if (c->reading && c->pkt_since_ms && c->pkt_since_ms + pt < due)
        due = c->pkt_since_ms + pt;
    return due;
}

static void arm_timer(struct rg_conn *c)
{
    uint64_t now = rg_now_ms();
    c->timer_due_ms = timer_deadline(c, now);
    uv_timer_start(&c->timer, on_timer, c->timer_due_ms > now ? c->timer_due_ms - now : 0, 0);
}

/* A new deadline came up: move the timer only if it is sooner than the armed one (a later
 * one is found when the timer fires and re-arms). */
static void arm_sooner(struct rg_conn *c, uint64_t due_ms)
{
    if (c->state == RG_CONN_CLOSED || (c->timer_due_ms && due_ms >= c->timer_due_ms))
        return;
    uint64_t now = rg_now_ms();
    c->timer_due_ms = due_ms;
    uv_timer_start(&c->timer, on_timer, due_ms > now ? due_ms - now : 0, 0);
}

static void packet_timeout(struct rg_conn *c, const char *what)
{
    RG_STAT_INC(&c->worker->stats, packet_timeouts);
    if (c->state == RG_CONN_HANDSHAKE) {
        refuse(c, what);
        return;
    }
    rg_log_limited("packet-timeout", LOG_NOTICE,
                   "event=packet_timeout " RG_CONN_LOG_FMT " reason=\"%s\" packet_timeout_s=%u",
                   RG_CONN_LOG_ARGS(c), what, c->gen->cfg->listen.packet_timeout_s);
    rg_conn_close(c, what);
}

static void on_timer(uv_timer_t *t)
{
    struct rg_conn *c = t->data;
    c->timer_due_ms = 0;
    if (c->state == RG_CONN_PROXY_HEADER) {
        RG_STAT_INC(&c->worker->stats, proxy_refused);
        rg_pp2_note(RG_PP2_TIMEOUT, c->addr_text, NULL);
        rg_conn_close(c, "no PROXY header within handshake-timeout");
        return;
    }
    if (c->state == RG_CONN_WAITING) {
        /* handshake-timeout counts from the accept: waiting is bounded too. Logged in
         * aggregate (rg_listener_report), not per connection. */
        RG_STAT_INC(&c->worker->stats, conn_refused);
        rg_listener_note(RG_LISTENER_WAIT_TIMEOUT);
        rg_conn_close(c, "waited for a handshake slot past handshake-timeout");
        return;
    }
    const struct rg_config *cfg = c->gen->cfg;
    uint64_t now = rg_now_ms() + RG_TIMER_SLACK_MS;
    uint64_t pt = (uint64_t)cfg->listen.packet_timeout_s * 1000u;
    if (c->state == RG_CONN_HANDSHAKE &&
        now >= c->accepted_ms + (uint64_t)cfg->listen.handshake_timeout_s * 1000u) {
        refuse(c, "TLS handshake timeout");
        return;
    }
    if (c->reading && c->rec_since_ms && now >= c->rec_since_ms + pt) {
        packet_timeout(c, "TLS record incomplete past packet-timeout");
        return;
    }
    if (c->reading && c->pkt_since_ms && now >= c->pkt_since_ms + pt) {
        packet_timeout(c, "RADIUS packet incomplete past packet-timeout");
        return;
    }
    if (c->state == RG_CONN_OPEN) {
        if (c->peer.not_after && time(NULL) > c->peer.not_after) {
            /* radiusdtls-bis §3.3: a connection does not outlive the certificates it was
             * authenticated with. */
            rg_warn("event=cert_expired " RG_CONN_LOG_FMT
                    " reason=\"client certificate chain expired\"",
                    RG_CONN_LOG_ARGS(c));
            rg_conn_close(c, "client certificate expired");
            return;
        }
        uint64_t idle = (uint64_t)cfg->listen.idle_timeout_s * 1000u;
        if (c->ninflight == 0 && now - c->last_activity_ms >= idle) {
            rg_conn_close(c, "idle timeout");
            return;
        }
        if (c->rate_blocked && now >= c->rate_window_ms + 1000u) {
            c->rate_blocked = false;
            process(c); /* the requests it sent meanwhile, then reading again */
            if (c->state == RG_CONN_CLOSED)
                return;
        }
    }
    arm_timer(c);
}

static void handshake_done(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    release_slot(c);
    if (c->gen != w->gen) {
        /* A reload arrived during the handshake: decide under the generation in force. */
        rg_gen_unref(c->gen);
        c->gen = rg_gen_ref(w->gen);
    }
    if (rg_tls_peer_identify(c->gen->tls, c->tls.ssl, (const struct sockaddr *)&c->addr, &c->peer) <
        0) {
        const char *reason = c->peer.reason[0] ? c->peer.reason : "not identified";
        c->peer.org = NULL;
        refuse(c, reason);
        return;
    }
    /* Under the listener setting the ClientHello was answered with (c->gen's). */
    int proto = rg_tls_protocol(c->tls.ssl, c->gen->cfg->listen.radius11);
    if (proto < 0) {
        refuse(c, "ALPN: the negotiated protocol does not satisfy radius-1.1");
        return;
    }
    c->proto = (uint8_t)proto;
    const char *why = rg_listener_established(w->gen->cfg, (const struct sockaddr *)&c->addr);
    if (why) {
        refuse(c, why);
        return;
    }
    c->established = true;
    c->state = RG_CONN_OPEN;
    RG_STAT_INC(&w->stats, conn_accepted);
    RG_STAT_INC(&w->stats, conn_open);
    if (c->proto == RG_PROTO_RADIUS_11)
        RG_STAT_INC(&w->stats, conn_radius11);
    rg_coa_conn_open(c);
    rg_metrics_conn(w->metrics, c->peer.org->name, 1);
    rg_notice("event=conn_open conn=%llu src=%s org=%s cn=\"%s\" tls=%s cipher=%s proto=%s",
              (unsigned long long)c->id, c->addr_text, c->peer.org->name, RG_LOG_ESC(c->peer.cn),
              wolfSSL_get_version(c->tls.ssl), wolfSSL_get_cipher(c->tls.ssl),
              rg_radius_proto_name((enum rg_radius_proto)c->proto));
    c->last_activity_ms = rg_now_ms();
    arm_timer(c);
}

void rg_conn_recheck(struct rg_conn *c, struct rg_gen *g)
{
    if (c->state != RG_CONN_OPEN || c->gen == g)
        return;
    struct rg_tls_peer now;
    const struct sockaddr *addr = (const struct sockaddr *)&c->addr;
    if (rg_tls_peer_recheck(g->tls, c->tls.ssl, addr, &c->peer, &now) < 0) {
        char why[192];
        snprintf(why, sizeof(why), "no longer verifies after reload: %s", now.reason);
        rg_conn_close(c, why);
        return;
    }
    /* Still the same org: adopt the new snapshot (its secret, pool, limits) so old ones are
     * not kept alive by long-lived connections. Safe here, on the worker's loop: requests in
     * flight reach the org only through c (c->peer.org, c->gen->cfg), and the WOLFSSL keeps
     * its own reference to the WOLFSSL_CTX it was created from. */
    c->peer = now;
    rg_gen_unref(c->gen);
    c->gen = rg_gen_ref(g);
    rg_debug("event=conn_recheck conn=%llu src=%s org=%s generation=%llu result=verified",
             (unsigned long long)c->id, c->addr_text, c->peer.org->name,
             (unsigned long long)g->number);
}

/* Decrypt within the connection's share of the turn: drive() stops at plain_limit, so the
 * limit is what fits in the share (and under RG_CONN_PLAIN_LIMIT). -1 on a TLS failure. */
static int decrypt(struct rg_conn *c)
{
    size_t before = c->tls.plain.len;
    size_t limit = before + c->turn_bytes;
    c->tls.plain_limit = limit < RG_CONN_PLAIN_LIMIT ? limit : RG_CONN_PLAIN_LIMIT;
    if (rg_tls_stream_drive(&c->tls) < 0 || c->tls.state == RG_TLS_STREAM_FAILED)
        return -1;
    size_t got = c->tls.plain.len > before ? c->tls.plain.len - before : 0;
    c->turn_bytes -= got < c->turn_bytes ? got : c->turn_bytes;
    return 0;
}

/* One step of the handshake, within the worker's handshake work for this turn; false when
 * that is used up (the connection continues next turn). */
static bool handshake_step(struct rg_conn *c, int *rc)
{
    struct rg_worker *w = c->worker;
    if (w->handshake_turn != w->turn) {
        w->handshake_turn = w->turn;
        w->handshake_ns = 0;
    } else if (w->handshake_ns >= RG_TURN_HANDSHAKE_NS) {
        return false;
    }
    uint64_t t0 = uv_hrtime();
    *rc = rg_tls_stream_drive(&c->tls);
    w->handshake_ns += uv_hrtime() - t0;
    return true;
}

static void process(struct rg_conn *c)
{
    if (c->state != RG_CONN_HANDSHAKE && c->state != RG_CONN_OPEN)
        return;
    turn_refresh(c);
    bool more = false;
    if (c->state == RG_CONN_HANDSHAKE && !c->alpn_ready) {
        /* RFC 9765: the listener's radius-1.1 answers the ClientHello before wolfSSL does
         * (the handshake timeout bounds the wait for all of it). */
        int r = rg_tls_alpn_prepare(c->gen->tls, c->tls.ssl, c->tls.in.data, c->tls.in.len,
                                    c->peer.reason, sizeof(c->peer.reason));
        if (r > 0)
            return;
        c->alpn_ready = true;
        if (r < 0) {
            rg_buf_append(&c->tls.out, rg_tls_alert_no_application_protocol,
                          sizeof(rg_tls_alert_no_application_protocol));
            refuse(c, c->peer.reason);
            return;
        }
    }
    if (c->state == RG_CONN_HANDSHAKE) {
        int rc = 0;
        if (!handshake_step(c, &rc)) {
            more = true;
        } else if (rc < 0 || c->tls.state == RG_TLS_STREAM_FAILED) {
            if (!rg_tls_handshake_failure(c->tls.ssl, &c->peer))
                snprintf(c->peer.reason, sizeof(c->peer.reason), "TLS handshake failed: %.100s",
                         c->tls.err_text[0] ? c->tls.err_text : "protocol error");
            refuse(c, c->peer.reason);
            return;
        } else if (c->tls.handshake_done_event) {
            c->tls.handshake_done_event = false;
            handshake_done(c);
            if (c->state != RG_CONN_OPEN)
                return;
            /* Application data may have arrived with the handshake's last flight. */
            if (decrypt(c) < 0) {
                rg_conn_close(c, c->tls.err_text[0] ? c->tls.err_text : "TLS error");
                return;
            }
        }
    } else if (decrypt(c) < 0) {
        rg_conn_close(c, c->tls.err_text[0] ? c->tls.err_text : "TLS error");
        return;
    }
    /* drive() stops decrypting when the plaintext buffer is full or the share is used;
     * once frame() has consumed packets, decrypt what is still buffered, until no progress
     * is made or the share of this turn is used. */
    while (c->state == RG_CONN_OPEN) {
        size_t in_before = c->tls.in.len, plain_before = c->tls.plain.len;
        frame(c);
        if (c->state != RG_CONN_OPEN || c->paused || c->rate_blocked || c->abandon_blocked ||
            turn_used(c) || c->tls.plain.len == plain_before ||
            (c->tls.in.len == 0 && !rg_tls_stream_pending(&c->tls)))
            break;
        if (decrypt(c) < 0) {
            rg_conn_close(c, c->tls.err_text[0] ? c->tls.err_text : "TLS error");
            return;
        }
        if (c->tls.in.len == in_before && c->tls.plain.len == plain_before)
            break;
    }
    if (c->state == RG_CONN_CLOSED)
        return;
    if (c->tls.state == RG_TLS_STREAM_CLOSED) {
        rg_conn_close(c, "close_notify from peer");
        return;
    }
    if (c->state == RG_CONN_OPEN && !c->paused && !c->rate_blocked && !c->abandon_blocked &&
        turn_used(c) && (c->tls.plain.len > 0 || rg_tls_stream_pending(&c->tls)))
        more = true;
    if (more)
        more_push(c); /* stops reading until its turn comes again */
    flush(c);
    update_reading(c);
    want_trim(c);
}

/* Close the oldest connection of w that has not sent a byte, to make room while a global
 * limit is full: a handshake holding a slot, or (with_waiting) a connection waiting for
 * one. True if one was closed. Only the heads are looked at: both lists are oldest first,
 * and a head found to have bytes pending is no longer silent and leaves the list. */
static bool evict_silent(struct rg_worker *w, bool with_waiting)
{
    while (w->silent.head && bytes_pending(w->silent.head)) {
        w->silent.head->heard = true;
        list_remove(w->silent.head);
    }
    struct rg_conn *victim = w->silent.head;
    if (with_waiting) {
        /* The first few waiting connections: one that sent its ClientHello is no victim. */
        struct rg_conn *c = w->waiting.head;
        for (int i = 0; c && i < 16; i++, c = c->admit_next) {
            if (bytes_pending(c))
                continue;
            if (!victim || c->accepted_ms < victim->accepted_ms)
                victim = c;
            break;
        }
    }
    if (!victim)
        return false;
    RG_STAT_INC(&w->stats, conn_evicted);
    rg_listener_note(RG_LISTENER_EVICTED);
    rg_conn_close(victim, "evicted: silent while a connection limit was full");
    return true;
}

/* A handshake slot was taken for c: set up TLS and start reading. */
static void start_handshake(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    if (c->watching) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->watching = false;
    }
    c->holds_slot = true;
    RG_STAT_INC(&w->stats, conn_handshaking);
    if (c->gen != w->gen) { /* waited across a reload: the generation in force */
        rg_gen_unref(c->gen);
        c->gen = rg_gen_ref(w->gen);
    }
    c->state = RG_CONN_HANDSHAKE; /* the TLS session is created when the first byte arrives */
    c->last_activity_ms = rg_now_ms();
    if (!c->heard)
        list_push(c, RG_CONN_LIST_SILENT);
    update_reading(c);
}

/* Waiting connections looked at per pass: a flood from one address at its per-address
 * limit must not make every slot release walk the whole queue. */
#define RG_ADMIT_SCAN 1024

/* A waiting connection is not read (it holds no buffers), but the loop tells when its
 * peer has sent something: an empty buffer makes libuv report UV_ENOBUFS instead of
 * reading. Then it goes first in the queue and, when every slot is taken, the oldest
 * silent handshake makes room for it (a half-open flood must not keep an AP's ClientHello
 * waiting until handshake-timeout frees slots). */
static void on_watch_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(NULL, 0);
}

static void on_watch_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rg_conn *c = s->data;
    struct rg_worker *w = c->worker;
    (void)nread; /* UV_ENOBUFS: readable (data, or the peer's FIN, which the read will see) */
    (void)buf;
    uv_read_stop(s);
    c->watching = false;
    if (c->state != RG_CONN_WAITING || c->list != RG_CONN_LIST_WAITING)
        return;
    c->heard = true;
    list_waiting_to_front(c);
    const struct rg_config *cfg = w->gen->cfg;
    const struct sockaddr *addr = (const struct sockaddr *)&c->addr;
    int rc = rg_listener_handshake_take(cfg, addr);
    if (rc == -ENOSPC && evict_silent(w, false))
        rc = rg_listener_handshake_take(cfg, addr);
    if (rc < 0)
        return; /* first in line for the next slot */
    list_remove(c);
    start_handshake(c);
}

static void watch_waiting(struct rg_conn *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_watch_alloc, on_watch_read) == 0)
        c->watching = true;
}

void rg_conn_admit_waiting(struct rg_worker *w)
{
    const struct rg_config *cfg = w->gen->cfg;
    unsigned scanned = 0;
    for (struct rg_conn *c = w->waiting.head, *next; c && scanned < RG_ADMIT_SCAN; c = next) {
        next = c->admit_next;
        scanned++;
        if (!rg_listener_handshake_possible(cfg))
            break;
        int rc = rg_listener_handshake_take(cfg, (const struct sockaddr *)&c->addr);
        if (rc == -ENOSPC)
            break;
        if (rc < 0)
            continue; /* its address is at max-handshakes-per-ip: the next one may go */
        list_remove(c);
        start_handshake(c);
    }
}

/* Descriptors below RLIMIT_NOFILE that count as the limit being reached. */
#define RG_CONN_FD_MARGIN 16

/* Out of descriptors, accept(2) fails with EMFILE and libuv closes the pending connections
 * itself (it keeps a reserve descriptor for that), without telling us: the listener goes on,
 * the APs retry. Descriptors are handed out lowest first, so an accepted one this close to
 * the limit means that point is reached: counted (fd_limit) and logged, rate-limited. */
static void fd_limit_check(struct rg_conn *c)
{
    uv_os_fd_t fd;
    struct rlimit rl;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0 ||
        rl.rlim_cur == RLIM_INFINITY || (rlim_t)fd + RG_CONN_FD_MARGIN < rl.rlim_cur)
        return;
    RG_STAT_INC(&c->worker->stats, fd_limit);
    rg_log_limited("fd-limit", LOG_WARNING,
                   "event=fd_limit conn=%llu src=%s fd=%d limit=%llu "
                   "reason=\"descriptors exhausted: new connections are closed at accept; raise "
                   "LimitNOFILE above max-connections\"",
                   (unsigned long long)c->id, c->addr_text, fd, (unsigned long long)rl.rlim_cur);
}

/* ---- behind a balancer: the PROXY v2 header before anything else ---- */

static void on_header_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rg_conn *c = h->data;
    uint8_t *at;
    size_t n;
    (void)suggested;
    /* Exactly what the header still lacks: the bytes after it stay in the socket. */
    rg_pp2_reader_want(c->pp2, &at, &n);
    *buf = uv_buf_init((char *)at, (unsigned)n);
}

static void on_header_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rg_conn *c = s->data;
    struct rg_worker *w = c->worker;
    (void)buf;
    if (nread == 0 || c->state != RG_CONN_PROXY_HEADER)
        return;
    if (nread < 0) {
        if (c->pp2->have == 0) {
            /* A bare connect from a balancer: its TCP health check. */
            RG_STAT_INC(&w->stats, proxy_checks);
            rg_pp2_note(RG_PP2_HEALTH_CHECK, c->addr_text, NULL);
            rg_conn_close(c, "balancer health check (connect)");
        } else {
            RG_STAT_INC(&w->stats, proxy_refused);
            rg_pp2_note(RG_PP2_MALFORMED, c->addr_text, "closed inside the PROXY header");
            rg_conn_close(c, "closed inside the PROXY header");
        }
        return;
    }
    struct rg_pp2_header h;
    const char *why = NULL;
    int rc = rg_pp2_reader_got(c->pp2, (size_t)nread, &h, &why);
    if (rc == 0)
        return;
    uv_read_stop(s);
    if (rc < 0) {
        RG_STAT_INC(&w->stats, proxy_refused);
        rg_pp2_note(RG_PP2_MALFORMED, c->addr_text, why);
        rg_conn_close(c, why);
        return;
    }
    if (h.local) {
        RG_STAT_INC(&w->stats, proxy_checks);
        rg_pp2_note(RG_PP2_HEALTH_CHECK, c->addr_text, NULL);
        rg_conn_close(c, "balancer health check (PROXY LOCAL)");
        return;
    }
    free(c->pp2);
    c->pp2 = NULL;
    /* From here on the AP's address is the connection's address: allow prefixes, every
     * limit, the registry and each log line see it, not the balancer. */
    snprintf(c->via_text, sizeof(c->via_text), "%s", c->addr_text);
    c->addr = h.src;
    addr_format(&c->addr, c->addr_text, sizeof(c->addr_text));
    uv_timer_stop(&c->timer);
    c->state = RG_CONN_WAITING;
    rg_debug("event=proxy_header conn=%llu src=%s via=%s", (unsigned long long)c->id, c->addr_text,
             c->via_text);
    admit(c);
}

static void expect_proxy_header(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    const struct rg_config *cfg = w->gen->cfg;
    if (!rg_pp2_trusted(cfg, (const struct sockaddr *)&c->addr)) {
        /* Only the balancers may connect: anyone else could claim any address. */
        RG_STAT_INC(&w->stats, proxy_refused);
        rg_pp2_note(RG_PP2_UNTRUSTED, c->addr_text, NULL);
        rg_conn_close(c, "not a balancer in proxy-from");
        return;
    }
    c->pp2 = malloc(sizeof(*c->pp2));
    if (!c->pp2) {
        rg_conn_close(c, "out of memory");
        return;
    }
    rg_pp2_reader_init(c->pp2);
    c->state = RG_CONN_PROXY_HEADER;
    uv_timer_start(&c->timer, on_timer, (uint64_t)cfg->listen.handshake_timeout_s * 1000u, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_header_alloc, on_header_read) < 0)
        rg_conn_close(c, "cannot read the PROXY header");
}

void rg_conn_accept(struct rg_worker *w, uv_stream_t *server)
{
    struct rg_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        rg_listener_drop(server); /* still taken off the queue, or the listener stalls */
        return;
    }
    c->worker = w;
    c->writing.pool = c->staged.pool = &w->buf_pool;
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    c->open_handles = 1;
    c->gen = rg_gen_ref(w->gen);
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    int alen = sizeof(c->addr);
    if (rc == 0)
        rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->addr, &alen);
    if (rc < 0) {
        rg_debug("event=accept_gone reason=\"%s\"", rg_strerror(rc));
        c->state = RG_CONN_CLOSED;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        return;
    }
    addr_format(&c->addr, c->addr_text, sizeof(c->addr_text));
    uv_timer_init(&w->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    c->id = __atomic_add_fetch(&conn_ids, 1, __ATOMIC_RELAXED);
    fd_limit_check(c);
    c->accepted_ms = rg_now_ms();
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    c->state = RG_CONN_WAITING;
    if (w->gen->cfg->listen.proxy_protocol) {
        expect_proxy_header(c);
        return;
    }
    admit(c);
}

/* A connection whose source is known (the TCP peer, or the AP named by a PROXY header):
 * admission, then a handshake slot or the waiting queue. */
static void admit(struct rg_conn *c)
{
    struct rg_worker *w = c->worker;
    int rc;
    const struct rg_config *cfg = w->gen->cfg;
    const struct sockaddr *addr = (const struct sockaddr *)&c->addr;
    /* Limits and source prefixes cost nothing but a lookup: checked before any TLS. */
    const char *why;
    rc = rg_listener_admit(cfg, addr, &why);
    if (rc == -EAGAIN && evict_silent(w, true))
        rc = rg_listener_admit(cfg, addr, &why);
    if (rc < 0) {
        RG_STAT_INC(&w->stats, conn_refused);
        rg_metrics_refused(w->metrics, why);
        if (rc == -EAGAIN)
            rg_listener_note(RG_LISTENER_REFUSED);
        else if (rg_listener_refusal(why, c->addr_text, false))
            rg_warn("event=conn_refused conn=%llu src=%s reason=\"%s\"", (unsigned long long)c->id,
                    c->addr_text, why);
        rg_conn_close(c, why);
        return;
    }
    c->counted = true;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 60);
    /* A fixed send buffer instead of autotuning's up to 4 MB: a peer that does not read
     * fills it (and then RG_CONN_WRITE_PAUSE) quickly, so it stops being read and holds
     * little kernel memory. 256 KiB is thousands of replies in flight per round trip. */
    int sndbuf = RG_CONN_SNDBUF;
    uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf);
    /* handshake-timeout counts from here, so a connection that waits for a slot is bounded
     * by it as well. */
    arm_timer(c);

    /* Connections that wait for a slot keep their place in line: a newcomer does not
     * overtake them. */
    if (w->waiting.n)
        rc = rg_listener_handshake_possible(cfg) ? -EAGAIN : -ENOSPC;
    else
        rc = rg_listener_handshake_take(cfg, addr);
    if (rc == 0) {
        start_handshake(c);
        rg_debug("event=conn_accept conn=%llu src=%s worker=%u", (unsigned long long)c->id,
                 c->addr_text, w->index);
        return;
    }
    /* Beyond max-handshakes(-per-ip) a connection waits, accepted but unread, instead of
     * being refused: hundreds of APs behind one NAT address reconnecting together all get
     * in, as handshakes finish (aggregate log line: rg_listener_report). */
    list_push(c, RG_CONN_LIST_WAITING);
    watch_waiting(c);
    RG_STAT_INC(&w->stats, conn_waited);
    rg_listener_note(rc == -ENOSPC ? RG_LISTENER_WAITED_GLOBAL : RG_LISTENER_WAITED_IP);
    rg_debug("event=conn_accept conn=%llu src=%s worker=%u wait=handshake_slot",
             (unsigned long long)c->id, c->addr_text, w->index);
    if (rc == -ENOSPC) {
        /* Every slot is taken: the oldest silent handshake makes room (its slot goes to the
         * oldest waiting connection that may take it). */
        evict_silent(w, false);
    }
    rg_worker_schedule_admit(w);
}
