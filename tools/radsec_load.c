/* radsec_load: a RadSec (RFC 6614) load generator. Opens C TLS connections, keeps N requests
 * in flight spread over them (closed loop, or paced with --rate), verifies every reply
 * (Response Authenticator, Message-Authenticator) and prints one summary line. With --hold it
 * first holds every connection idle (source addresses spread with --source) until SIGUSR1,
 * for memory measurements of idle connections. A test and
 * benchmark tool, not part of the daemon: libuv + tls_stream + the RADIUS codec of rg_core. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "radsecgw/common.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/tls.h"
#include "radsecgw/tls_stream.h"

#define IDS        256 /* one RADIUS ID space per connection */
#define SWEEP_MS   50  /* timeout scan period */
#define PACE_MS    1   /* --rate token period */
#define NAS_ID     "radsec-load"
#define CALLING_ID "02-00-00-00-00-02"
#define WIRELESS   19 /* NAS-Port-Type Wireless-802.11 (RFC 2865 §5.41) */

enum req_type { TYPE_AUTH, TYPE_ACCT, TYPE_MIX };

static struct {
    const char *host, *ca, *cert, *key, *secret, *user, *password;
    int port;
    unsigned connections, inflight;
    uint64_t requests;
    double rate;       /* requests per second; 0: closed loop */
    double timeout_s;  /* per request */
    double duration_s; /* stop sending after this long; 0: no limit */
    enum req_type type;
    unsigned duplicate_every; /* send every Nth request twice with the same ID */
    unsigned per_conn;        /* each connection sends at most this many; 0: no limit */
    bool close_after_send;    /* close each connection once everything is sent */
    bool allow_loss;
    bool verbose;
    uint32_t source_net;   /* --source: first address (host order); 0: the kernel's choice */
    uint32_t source_count; /* addresses used from it */
    double connect_rate;   /* connections started per second; 0: all at once */
    bool hold;             /* send nothing until SIGUSR1 */
    const char *ready_file;
    FILE *latency_log; /* --latency-log: "SECONDS LATENCY_MS" per answer, since the start */
    int tls_version;   /* 12 or 13 only; 0: 1.2 or 1.3, as negotiated */
    int groups[4];     /* --groups: key-exchange groups in preference order */
    int ngroups;       /* 0: wolfSSL's default (a P-256 key share) */
    size_t secret_len;
} opt = {
    .host = "127.0.0.1",
    .port = 2083,
    .secret = "radsec",
    .user = "alice",
    .password = "wonderland",
    .connections = 1,
    .inflight = 1,
    .requests = 1000,
    .timeout_s = 10,
};

/* One request in flight on a connection, by RADIUS ID. */
struct slot {
    bool busy;    /* waiting for its reply */
    bool expired; /* timed out; the ID stays reserved until a late reply or 2 timeouts */
    uint8_t code;
    uint8_t auth[RG_RADIUS_AUTH_LEN];
    uint64_t sent_us;
};

struct lconn {
    uv_tcp_t tcp; /* embedded; freed with the connection array after the loop ends */
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    struct rg_tls_stream tls; /* owns the WOLFSSL */
    struct rg_buf staged;     /* plaintext requests not yet encrypted (one record per flush) */
    struct rg_buf writing;    /* ciphertext handed to uv_write, owned */
    bool write_busy, open, closed, shutting_down;
    unsigned index;
    unsigned target;       /* requests to keep in flight on this connection */
    unsigned inflight;     /* busy and not expired */
    uint8_t free_ids[IDS]; /* FIFO: the ID reused next is the one released longest ago */
    unsigned head, nfree;
    uint64_t nsent; /* requests sent on this connection (--per-connection) */
    struct slot slots[IDS];
};

static struct {
    uint64_t sent, answered, accept, reject, challenge, acct, timeouts, bad, late, dup_sent;
    uint64_t lost;        /* in flight on a connection that closed */
    uint64_t conn_failed; /* connections that failed or were closed by the server */
    uint64_t established; /* connections whose TLS handshake completed */
    uint64_t inflight, max_inflight;
    uint64_t start_us, end_us;
    uint32_t *lat_us; /* malloced: latency of each answered request */
} st;

static uv_loop_t *loop;
static WOLFSSL_CTX *ctx;
static struct lconn *conns; /* malloced array of opt.connections */
static uv_timer_t sweep_timer, pace_timer;
static double tokens;
static uint64_t pace_last_us;
static unsigned pace_next;
static bool finished;
/* --hold: connections held idle until SIGUSR1, then the requests, then held idle again
 * until a second SIGUSR1 (so the server can be measured after its connections carried a
 * request), then closed all at once. */
enum { HOLD_BEFORE, HOLD_SENDING, HOLD_AFTER, HOLD_CLOSING };
static int hold_phase = HOLD_CLOSING; /* HOLD_BEFORE with --hold */
static bool holding;                  /* hold_phase == HOLD_BEFORE */
static bool ready_written;            /* --ready-file written for the phase before */
static unsigned next_conn;            /* connections started so far */
static uint64_t connect_t0_us;        /* --connect-rate: when the first one started */
static uv_timer_t connect_timer;
static uv_signal_t release_signal;
static uint8_t wbuf[RG_RADIUS_MAX_LEN];

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: radsec_load [options]\n"
                 "  --host H --port P        gateway (default 127.0.0.1:2083)\n"
                 "  --ca F --cert F --key F  server CA, client certificate and key\n"
                 "  --secret S               RadSec secret (default radsec)\n"
                 "  --connections C          TLS connections (default 1)\n"
                 "  --inflight N             requests in flight in total, spread over the\n"
                 "                           connections, at most 256 each (default 1)\n"
                 "  --requests R             requests in total (default 1000)\n"
                 "  --rate RPS               pace sends (default: closed loop)\n"
                 "  --duration S             stop sending after S seconds\n"
                 "  --type auth|acct|mix     Access-Request, Accounting-Request or both\n"
                 "  --tls 1.2|1.3            offer only this TLS version (default: both)\n"
                 "  --groups G,G...          key-exchange groups (x25519, p256, p384) in order;\n"
                 "                           TLS 1.3 sends a key share for the first only\n"
                 "  --timeout S              per request (default 10)\n"
                 "  --user U --password P    PAP credentials (default alice / wonderland)\n"
                 "  --duplicate-every N      send every Nth request twice with the same ID\n"
                 "  --per-connection N       each connection sends N requests, no more (so all\n"
                 "                           of them must be established; sets --requests)\n"
                 "  --close-after-send       close each connection once every request is sent\n"
                 "  --allow-loss             exit 0 even when requests were not answered\n"
                 "  --source NET/LEN         bind connection i to the i-th host address of NET\n"
                 "                           (IPv4; e.g. 127.2.0.0/16: ~28k ports per address)\n"
                 "  --connect-rate N         start N connections per second (default: all)\n"
                 "  --hold                   send nothing until SIGUSR1 (idle connections), then\n"
                 "                           the requests, then hold again until a second\n"
                 "                           SIGUSR1 before closing every connection\n"
                 "  --ready-file F           write \"established=N failed=M\" to F once every\n"
                 "                           connection is established or has failed, and\n"
                 "                           \"answered=N sent=M\" once the replies are in\n"
                 "  --latency-log F          write \"SECONDS LATENCY_MS\" to F for every answer\n"
                 "                           (seconds since the start: a timeline of the tail)\n"
                 "  -v                       per-connection messages on stderr\n"
                 "Prints: sent= answered= accept= reject= acct= timeouts= bad= duration_ms= rps=\n"
                 "p50_ms= p99_ms= max_inflight= established= ... Exit 0 iff answered == sent\n"
                 "and bad == 0.\n");
}

/* ---- requests ---- */

static int add_string(struct rg_radius_pkt *p, uint8_t type, const char *s)
{
    return rg_radius_attr_add(p, type, s, strlen(s));
}

static int add_int(struct rg_radius_pkt *p, uint8_t type, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return rg_radius_attr_add(p, type, b, 4);
}

/* Build request number n with id into wbuf; returns its length or negative. */
static int build(uint64_t n, uint8_t id)
{
    struct rg_radius_pkt p = {.data = wbuf, .cap = sizeof(wbuf)};
    bool acct = opt.type == TYPE_ACCT || (opt.type == TYPE_MIX && (n & 1));
    int rc = 0;
    if (!acct) {
        uint8_t hidden[RG_RADIUS_PASSWORD_MAX];
        size_t hidden_len;
        rc |= rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, id, NULL);
        rg_radius_auth_random(wbuf);
        /* RFC 3579 §3.2 and the BlastRADIUS advice: Message-Authenticator first. */
        rc |= rg_radius_msgauth_add_first(&p);
        rc |= add_string(&p, RG_RADIUS_ATTR_USER_NAME, opt.user);
        if (rg_radius_password_hide((const uint8_t *)opt.password, strlen(opt.password), wbuf + 4,
                                    RG_SECRET_OF(&opt), hidden, &hidden_len))
            return -EINVAL;
        rc |= rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, hidden, hidden_len);
        rc |= add_string(&p, RG_RADIUS_ATTR_NAS_IDENTIFIER, NAS_ID);
        rc |= add_string(&p, RG_RADIUS_ATTR_CALLING_STATION_ID, CALLING_ID);
        rc |= add_int(&p, RG_RADIUS_ATTR_NAS_PORT_TYPE, WIRELESS);
        if (rc)
            return -ENOSPC;
        rg_radius_msgauth_sign(wbuf, NULL, RG_SECRET_OF(&opt));
    } else {
        char session[32];
        snprintf(session, sizeof(session), "load-%llu", (unsigned long long)n);
        rc |= rg_radius_init(&p, RG_RADIUS_ACCOUNTING_REQUEST, id, NULL);
        rc |= add_int(&p, RG_RADIUS_ATTR_ACCT_STATUS_TYPE, 3); /* Interim-Update */
        rc |= add_string(&p, RG_RADIUS_ATTR_USER_NAME, opt.user);
        rc |= add_string(&p, RG_RADIUS_ATTR_ACCT_SESSION_ID, session);
        rc |= add_string(&p, RG_RADIUS_ATTR_NAS_IDENTIFIER, NAS_ID);
        rc |= add_string(&p, RG_RADIUS_ATTR_CALLING_STATION_ID, CALLING_ID);
        rc |= add_int(&p, RG_RADIUS_ATTR_EVENT_TIMESTAMP, (uint32_t)time(NULL));
        if (rc)
            return -ENOSPC;
        /* RFC 2866 §3: the Request Authenticator is computed. */
        rg_radius_auth_request_sign(wbuf, RG_SECRET_OF(&opt));
    }
    return rg_radius_len(wbuf);
}

/* ---- connections ---- */

static void check_done(void);
static void conn_flush(struct lconn *c);

static void conn_fail(struct lconn *c, const char *why)
{
    if (c->closed)
        return;
    if (!c->shutting_down) {
        st.conn_failed++;
        fprintf(stderr, "radsec_load: connection %u: %s (%u in flight)\n", c->index, why,
                c->inflight);
    }
    for (unsigned i = 0; i < IDS; i++) {
        struct slot *s = &c->slots[i];
        if (s->busy && !s->expired) {
            st.lost++;
            st.inflight--;
        }
        s->busy = false;
    }
    c->inflight = 0;
    c->open = false;
    c->closed = true;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, NULL);
    check_done();
}

static bool sending_allowed(void)
{
    if (holding)
        return false;
    if (st.sent >= opt.requests)
        return false;
    if (opt.duration_s > 0 && now_us() - st.start_us >= (uint64_t)(opt.duration_s * 1e6))
        return false;
    return true;
}

/* Send one request on c; false when it cannot. */
static bool send_one(struct lconn *c)
{
    if (!c->open || c->shutting_down || c->inflight >= c->target || c->nfree == 0 ||
        (opt.per_conn && c->nsent >= opt.per_conn) || !sending_allowed())
        return false;
    uint8_t id = c->free_ids[c->head];
    int len = build(st.sent, id);
    if (len < 0) {
        fprintf(stderr, "radsec_load: cannot build a request: %s\n", rg_strerror(len));
        exit(2);
    }
    c->head = (c->head + 1) % IDS;
    c->nfree--;
    struct slot *s = &c->slots[id];
    s->busy = true;
    s->expired = false;
    s->code = wbuf[0];
    memcpy(s->auth, wbuf + 4, RG_RADIUS_AUTH_LEN);
    s->sent_us = now_us();
    st.sent++;
    c->nsent++;
    c->inflight++;
    if (++st.inflight > st.max_inflight)
        st.max_inflight = st.inflight;
    bool dup = opt.duplicate_every && st.sent % opt.duplicate_every == 0;
    for (int k = 0; k < (dup ? 2 : 1); k++)
        if (rg_buf_append(&c->staged, wbuf, (size_t)len) < 0) {
            conn_fail(c, "out of memory");
            return false;
        }
    if (dup)
        st.dup_sent++;
    return true;
}

static void release_id(struct lconn *c, uint8_t id)
{
    c->slots[id].busy = false;
    c->slots[id].expired = false;
    c->free_ids[(c->head + c->nfree) % IDS] = id;
    c->nfree++;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct lconn *c = req->data;
    (void)status;
    conn_fail(c, "closed after sending");
}

/* --close-after-send: once everything is sent and flushed, FIN and close. */
static void maybe_close_after_send(struct lconn *c)
{
    if (!opt.close_after_send || c->closed || c->shutting_down || sending_allowed() ||
        c->write_busy || c->tls.out.len || c->staged.len)
        return;
    c->shutting_down = true;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        conn_fail(c, "shutdown failed");
}

/* Closed loop: fill c up to its target. */
static void pump(struct lconn *c)
{
    if (opt.rate > 0)
        return;
    while (send_one(c))
        ;
    conn_flush(c);
}

static void on_write(uv_write_t *wr, int status)
{
    struct lconn *c = wr->data;
    c->write_busy = false;
    c->writing.len = 0;
    if (c->closed)
        return;
    if (status < 0) {
        conn_fail(c, uv_strerror(status));
        return;
    }
    conn_flush(c);
    maybe_close_after_send(c);
}

static void conn_flush(struct lconn *c)
{
    if (c->closed)
        return;
    if (c->staged.len) {
        if (rg_tls_stream_write(&c->tls, c->staged.data, c->staged.len) < 0) {
            conn_fail(c, "TLS write failed");
            return;
        }
        c->staged.len = 0;
    }
    if (c->write_busy || c->tls.out.len == 0)
        return;
    struct rg_buf t = c->writing;
    c->writing = c->tls.out;
    c->tls.out = t;
    c->tls.out.len = 0;
    uv_buf_t b = uv_buf_init((char *)c->writing.data, (unsigned)c->writing.len);
    c->write_req.data = c;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        c->writing.len = 0;
        conn_fail(c, uv_strerror(rc));
        return;
    }
    c->write_busy = true;
}

static void handle_reply(struct lconn *c, const uint8_t *pkt, size_t len)
{
    struct rg_radius_error err;
    char why[128];
    if (rg_radius_validate(pkt, len, &err) != 0) {
        fprintf(stderr, "radsec_load: connection %u: malformed reply: %s\n", c->index,
                rg_radius_error_str(&err, why, sizeof(why)));
        st.bad++;
        return;
    }
    uint8_t code = pkt[0], id = pkt[1];
    struct slot *s = &c->slots[id];
    if (!s->busy) {
        fprintf(stderr, "radsec_load: connection %u: %s id=%u: no request in flight\n", c->index,
                rg_radius_code_name(code), id);
        st.bad++;
        return;
    }
    const char *bad = NULL;
    int ma = rg_radius_msgauth_verify(pkt, s->auth, RG_SECRET_OF(&opt));
    bool access = s->code == RG_RADIUS_ACCESS_REQUEST;
    if (rg_radius_auth_response_verify(pkt, s->auth, RG_SECRET_OF(&opt)) != 0)
        bad = "bad Response Authenticator";
    else if (ma != 0 && (ma != -ENOENT || access))
        bad = ma == -ENOENT ? "no Message-Authenticator" : "bad Message-Authenticator";
    else if (access && code != RG_RADIUS_ACCESS_ACCEPT && code != RG_RADIUS_ACCESS_REJECT &&
             code != RG_RADIUS_ACCESS_CHALLENGE)
        bad = "reply code does not match the request";
    else if (!access && code != RG_RADIUS_ACCOUNTING_RESPONSE)
        bad = "reply code does not match the request";
    if (bad) {
        fprintf(stderr, "radsec_load: connection %u: %s id=%u: %s\n", c->index,
                rg_radius_code_name(code), id, bad);
        st.bad++;
        return; /* the request stays in flight: a good reply may still come */
    }
    if (s->expired) {
        st.late++;
        release_id(c, id);
        return;
    }
    uint64_t now = now_us(), lat = now - s->sent_us;
    if (opt.latency_log)
        fprintf(opt.latency_log, "%.3f %.3f\n", (double)(now - st.start_us) / 1e6,
                (double)lat / 1e3);
    if (st.answered < opt.requests)
        st.lat_us[st.answered] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
    st.answered++;
    st.accept += code == RG_RADIUS_ACCESS_ACCEPT;
    st.reject += code == RG_RADIUS_ACCESS_REJECT;
    st.challenge += code == RG_RADIUS_ACCESS_CHALLENGE;
    st.acct += code == RG_RADIUS_ACCOUNTING_RESPONSE;
    c->inflight--;
    st.inflight--;
    release_id(c, id);
}

/* Frame the decrypted stream into replies (RFC 6613 §2.6.4: Length delimits). */
static void frame(struct lconn *c)
{
    struct rg_buf *plain = &c->tls.plain;
    size_t off = 0;
    while (!c->closed) {
        long need = rg_radius_frame_len(plain->data + off, plain->len - off);
        if (need < 0) {
            st.bad++;
            conn_fail(c, "reply with a Length outside 20..4096");
            return;
        }
        if (need == 0 || (size_t)need > plain->len - off)
            break;
        handle_reply(c, plain->data + off, (size_t)need);
        off += (size_t)need;
    }
    rg_buf_consume(plain, off);
}

static void process(struct lconn *c)
{
    for (;;) {
        if (rg_tls_stream_drive(&c->tls) < 0 || c->tls.state == RG_TLS_STREAM_FAILED) {
            char why[160];
            snprintf(why, sizeof(why), "TLS: %s", c->tls.err_text);
            conn_flush(c);
            conn_fail(c, why);
            return;
        }
        if (c->tls.handshake_done_event) {
            c->open = true;
            st.established++;
            if (opt.verbose) {
                const char *group = wolfSSL_get_curve_name(c->tls.ssl);
                fprintf(stderr, "radsec_load: connection %u: %s %s %s\n", c->index,
                        wolfSSL_get_version(c->tls.ssl), wolfSSL_get_cipher(c->tls.ssl),
                        group ? group : "-");
            }
        }
        /* drive() stops at plain_limit; records may then wait inside wolfSSL. */
        bool full = c->tls.plain.len >= c->tls.plain_limit;
        frame(c);
        if (c->closed)
            return;
        if (c->tls.state == RG_TLS_STREAM_CLOSED) {
            conn_flush(c);
            conn_fail(c, "close_notify from the server");
            return;
        }
        if (!full)
            break;
    }
    pump(c);
    conn_flush(c);
    maybe_close_after_send(c);
    check_done();
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char rbuf[65536];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct lconn *c = s->data;
    if (nread == 0 || c->closed)
        return;
    if (nread < 0) {
        conn_fail(c, nread == UV_EOF ? "closed by the server" : uv_strerror((int)nread));
        return;
    }
    if (rg_tls_stream_feed(&c->tls, (const uint8_t *)buf->base, (size_t)nread) < 0) {
        conn_fail(c, "out of memory");
        return;
    }
    process(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct lconn *c = req->data;
    if (status < 0) {
        char why[96];
        snprintf(why, sizeof(why), "connect: %s", uv_strerror(status));
        conn_fail(c, why);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (rg_tls_stream_init(&c->tls, wolfSSL_new(ctx)) < 0) {
        conn_fail(c, "cannot create a TLS session");
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        conn_fail(c, "read_start failed");
        return;
    }
    process(c); /* ClientHello */
}

static struct sockaddr_storage server_addr;

/* Start connection i: bound to its --source address, if any. */
static int start_conn(unsigned i)
{
    struct lconn *c = &conns[i];
    c->index = i;
    c->target = opt.inflight / opt.connections + (i < opt.inflight % opt.connections);
    /* Start the IDs at a different point per connection; any order works. */
    for (unsigned k = 0; k < IDS; k++)
        c->free_ids[k] = (uint8_t)(i * 37 + k);
    c->nfree = IDS;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->connect_req.data = c;
    if (opt.source_count) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(opt.source_net + i % opt.source_count);
        int rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
        if (rc < 0)
            return rc;
    }
    return uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&server_addr,
                          on_connect);
}

/* Start the connections due by now (all of them without --connect-rate). */
static void start_due(void)
{
    unsigned due = opt.connections;
    if (opt.connect_rate > 0) {
        double t = (double)(now_us() - connect_t0_us) / 1e6;
        double n = 1 + t * opt.connect_rate;
        due = n < (double)opt.connections ? (unsigned)n : opt.connections;
    }
    while (next_conn < due) {
        int rc = start_conn(next_conn);
        next_conn++;
        if (rc < 0) {
            char why[96];
            snprintf(why, sizeof(why), "connect: %s", uv_strerror(rc));
            conn_fail(&conns[next_conn - 1], why);
        }
    }
    if (next_conn == opt.connections)
        uv_timer_stop(&connect_timer);
}

static void on_connect_timer(uv_timer_t *t)
{
    (void)t;
    start_due();
    check_done();
}

/* SIGUSR1 ends a --hold phase: every connection sends its requests now, or, after them, every
 * connection closes. */
static void on_release(uv_signal_t *h, int signum)
{
    (void)signum;
    if (hold_phase == HOLD_AFTER) {
        hold_phase = HOLD_CLOSING;
        uv_signal_stop(h);
        check_done();
        return;
    }
    if (hold_phase != HOLD_BEFORE)
        return;
    hold_phase = HOLD_SENDING;
    holding = false;
    st.start_us = now_us();
    pace_last_us = st.start_us;
    for (unsigned i = 0; i < next_conn; i++)
        pump(&conns[i]);
    check_done();
}

/* ---- timers and the end ---- */

static void on_sweep(uv_timer_t *t)
{
    uint64_t now = now_us(), tmo = (uint64_t)(opt.timeout_s * 1e6);
    (void)t;
    for (unsigned i = 0; i < next_conn; i++) {
        struct lconn *c = &conns[i];
        if (c->closed)
            continue;
        for (unsigned id = 0; id < IDS && c->nfree < IDS; id++) {
            struct slot *s = &c->slots[id];
            if (!s->busy)
                continue;
            if (!s->expired && now - s->sent_us >= tmo) {
                s->expired = true;
                st.timeouts++;
                c->inflight--;
                st.inflight--;
            } else if (s->expired && now - s->sent_us >= 2 * tmo) {
                release_id(c, (uint8_t)id);
            }
        }
        if (opt.rate <= 0)
            pump(c);
        maybe_close_after_send(c);
    }
    check_done();
}

static void on_pace(uv_timer_t *t)
{
    uint64_t now = now_us();
    (void)t;
    tokens += opt.rate * (double)(now - pace_last_us) / 1e6;
    pace_last_us = now;
    if (tokens > opt.rate / 10 + 1)
        tokens = opt.rate / 10 + 1; /* no burst larger than 100 ms worth after a stall */
    unsigned tried = 0;
    while (tokens >= 1 && tried < next_conn) {
        struct lconn *c = &conns[pace_next];
        pace_next = (pace_next + 1) % next_conn;
        if (send_one(c)) {
            tokens -= 1;
            tried = 0;
            conn_flush(c);
        } else {
            tried++;
        }
    }
    for (unsigned i = 0; i < next_conn; i++)
        conn_flush(&conns[i]);
    check_done();
}

static void write_ready(void)
{
    if (!opt.ready_file || ready_written || st.established + st.conn_failed < opt.connections)
        return;
    ready_written = true;
    FILE *f = fopen(opt.ready_file, "w");
    if (!f) {
        fprintf(stderr, "radsec_load: %s: %s\n", opt.ready_file, strerror(errno));
        return;
    }
    fprintf(f, "established=%llu failed=%llu\n", (unsigned long long)st.established,
            (unsigned long long)st.conn_failed);
    fclose(f);
}

static void check_done(void)
{
    if (finished)
        return;
    write_ready();
    bool all_closed = next_conn == opt.connections;
    for (unsigned i = 0; i < next_conn && all_closed; i++)
        all_closed &= conns[i].closed;
    if (!all_closed && (holding || next_conn < opt.connections))
        return;
    bool done = all_closed || (!sending_allowed() && st.inflight == 0);
    if (!done)
        return;
    if (!all_closed && hold_phase == HOLD_SENDING) {
        /* Every reply is in: hold the connections idle again until the second SIGUSR1. */
        hold_phase = HOLD_AFTER;
        st.end_us = now_us(); /* rps and duration cover the requests, not the hold */
        if (opt.ready_file) {
            FILE *f = fopen(opt.ready_file, "w");
            if (f) {
                fprintf(f, "answered=%llu sent=%llu\n", (unsigned long long)st.answered,
                        (unsigned long long)st.sent);
                fclose(f);
            }
        }
        return;
    }
    if (hold_phase == HOLD_AFTER && !all_closed)
        return;
    finished = true;
    if (!opt.hold || !st.end_us)
        st.end_us = now_us();
    uv_timer_stop(&sweep_timer);
    uv_timer_stop(&pace_timer);
    uv_timer_stop(&connect_timer);
    uv_signal_stop(&release_signal);
    for (unsigned i = 0; i < next_conn; i++) {
        struct lconn *c = &conns[i];
        if (!c->closed) {
            c->shutting_down = true; /* not a failure */
            if (c->tls.state == RG_TLS_STREAM_OPEN) {
                rg_tls_stream_shutdown(&c->tls);
                if (!c->write_busy && c->tls.out.len) {
                    uv_buf_t b = uv_buf_init((char *)c->tls.out.data, (unsigned)c->tls.out.len);
                    uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
                }
            }
            conn_fail(c, "done");
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_ms(uint64_t n, double p)
{
    if (n == 0)
        return 0;
    uint64_t k = (uint64_t)(p * (double)(n - 1) + 0.5);
    return st.lat_us[k] / 1000.0;
}

/* ---- main ---- */

/* --groups "x25519,p256": opt.groups in that order. */
static int parse_groups(const char *list)
{
    static const struct {
        const char *name;
        int group;
    } names[] = {
        {"x25519", WOLFSSL_ECC_X25519},
        {"p256", WOLFSSL_ECC_SECP256R1},
        {"p384", WOLFSSL_ECC_SECP384R1},
    };
    opt.ngroups = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < sizeof(names) / sizeof(names[0]) &&
               (strlen(names[i].name) != len || strncmp(names[i].name, p, len) != 0))
            i++;
        if (i == sizeof(names) / sizeof(names[0]) ||
            opt.ngroups == (int)(sizeof(opt.groups) / sizeof(opt.groups[0])))
            return -1;
        opt.groups[opt.ngroups++] = names[i].group;
        p += len;
        if (*p == ',')
            p++;
    }
    return opt.ngroups > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_CA,
        O_CERT,
        O_KEY,
        O_SECRET,
        O_CONNS,
        O_INFLIGHT,
        O_REQS,
        O_RATE,
        O_DURATION,
        O_TYPE,
        O_TIMEOUT,
        O_USER,
        O_PASSWORD,
        O_DUP,
        O_PER_CONN,
        O_CLOSE,
        O_LOSS,
        O_SOURCE,
        O_CONNECT_RATE,
        O_HOLD,
        O_READY_FILE,
        O_LATENCY_LOG,
        O_TLS,
        O_GROUPS,
        O_HELP
    };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"ca", required_argument, NULL, O_CA},
        {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY},
        {"secret", required_argument, NULL, O_SECRET},
        {"connections", required_argument, NULL, O_CONNS},
        {"inflight", required_argument, NULL, O_INFLIGHT},
        {"requests", required_argument, NULL, O_REQS},
        {"rate", required_argument, NULL, O_RATE},
        {"duration", required_argument, NULL, O_DURATION},
        {"type", required_argument, NULL, O_TYPE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"user", required_argument, NULL, O_USER},
        {"password", required_argument, NULL, O_PASSWORD},
        {"duplicate-every", required_argument, NULL, O_DUP},
        {"per-connection", required_argument, NULL, O_PER_CONN},
        {"close-after-send", no_argument, NULL, O_CLOSE},
        {"allow-loss", no_argument, NULL, O_LOSS},
        {"source", required_argument, NULL, O_SOURCE},
        {"connect-rate", required_argument, NULL, O_CONNECT_RATE},
        {"hold", no_argument, NULL, O_HOLD},
        {"ready-file", required_argument, NULL, O_READY_FILE},
        {"latency-log", required_argument, NULL, O_LATENCY_LOG},
        {"tls", required_argument, NULL, O_TLS},
        {"groups", required_argument, NULL, O_GROUPS},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (ch) {
        case O_HOST:
            opt.host = optarg;
            break;
        case O_PORT:
            opt.port = atoi(optarg);
            break;
        case O_CA:
            opt.ca = optarg;
            break;
        case O_CERT:
            opt.cert = optarg;
            break;
        case O_KEY:
            opt.key = optarg;
            break;
        case O_SECRET:
            opt.secret = optarg;
            break;
        case O_CONNS:
            opt.connections = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case O_INFLIGHT:
            opt.inflight = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case O_REQS:
            opt.requests = strtoull(optarg, NULL, 10);
            break;
        case O_RATE:
            opt.rate = strtod(optarg, NULL);
            break;
        case O_DURATION:
            opt.duration_s = strtod(optarg, NULL);
            break;
        case O_TIMEOUT:
            opt.timeout_s = strtod(optarg, NULL);
            break;
        case O_USER:
            opt.user = optarg;
            break;
        case O_PASSWORD:
            opt.password = optarg;
            break;
        case O_DUP:
            opt.duplicate_every = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case O_PER_CONN:
            opt.per_conn = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case O_CLOSE:
            opt.close_after_send = true;
            break;
        case O_LOSS:
            opt.allow_loss = true;
            break;
        case O_SOURCE: {
            char net[64];
            unsigned len = 0;
            struct in_addr a;
            if (sscanf(optarg, "%63[0-9.]/%u", net, &len) != 2 || len < 8 || len > 30 ||
                inet_pton(AF_INET, net, &a) != 1)
                return -1;
            uint32_t mask = ~0u << (32 - len);
            opt.source_net = (ntohl(a.s_addr) & mask) + 1; /* the first host address */
            opt.source_count = (~mask) - 1;                /* neither network nor broadcast */
            break;
        }
        case O_CONNECT_RATE:
            opt.connect_rate = strtod(optarg, NULL);
            break;
        case O_HOLD:
            opt.hold = true;
            break;
        case O_READY_FILE:
            opt.ready_file = optarg;
            break;
        case O_LATENCY_LOG:
            if (!(opt.latency_log = fopen(optarg, "w"))) {
                fprintf(stderr, "radsec_load: %s: %s\n", optarg, strerror(errno));
                return 2;
            }
            break;
        case 'v':
            opt.verbose = true;
            break;
        case O_TLS:
            if (strcmp(optarg, "1.2") == 0)
                opt.tls_version = 12;
            else if (strcmp(optarg, "1.3") == 0)
                opt.tls_version = 13;
            else
                return -1;
            break;
        case O_GROUPS:
            if (parse_groups(optarg) < 0)
                return -1;
            break;
        case O_TYPE:
            if (strcmp(optarg, "auth") == 0)
                opt.type = TYPE_AUTH;
            else if (strcmp(optarg, "acct") == 0)
                opt.type = TYPE_ACCT;
            else if (strcmp(optarg, "mix") == 0)
                opt.type = TYPE_MIX;
            else
                return -1;
            break;
        case O_HELP:
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (optind != argc || !opt.ca || opt.connections == 0 || opt.inflight == 0 ||
        opt.requests == 0 || opt.timeout_s <= 0 || opt.port <= 0 || opt.port > 65535 ||
        (opt.cert && !opt.key))
        return -1;
    if (opt.inflight < opt.connections)
        opt.connections = opt.inflight; /* every connection keeps at least one in flight */
    if ((opt.inflight + opt.connections - 1) / opt.connections > IDS) {
        fprintf(stderr,
                "radsec_load: --inflight %u over %u connections is more than %u per "
                "connection (the RADIUS ID is 8 bits)\n",
                opt.inflight, opt.connections, IDS);
        return -1;
    }
    if (opt.per_conn)
        opt.requests = (uint64_t)opt.per_conn * opt.connections;
    opt.secret_len = strlen(opt.secret);
    return 0;
}

/* --groups on the client context: the order of supported_groups and, for TLS 1.3, the
 * one key share sent (wolfSSL's set_groups refuses a TLS 1.2-only method). */
static int set_groups(void)
{
    if (opt.tls_version != 12)
        return wolfSSL_CTX_set_groups(ctx, opt.groups, opt.ngroups) == WOLFSSL_SUCCESS ? 0 : -1;
    for (int i = 0; i < opt.ngroups; i++)
        if (wolfSSL_CTX_UseSupportedCurve(ctx, (word16)opt.groups[i]) != WOLFSSL_SUCCESS)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a closed connection is a result, not a crash */
    if (parse_args(argc, argv) < 0) {
        usage(stderr);
        return 2;
    }
    char err[256];
    if (rg_tls_global_init() < 0 ||
        rg_tls_client_ctx_new(opt.ca, opt.cert, opt.key, opt.tls_version, &ctx, err, sizeof(err)) <
            0) {
        fprintf(stderr, "radsec_load: TLS: %s\n", err);
        return 2;
    }
    if (opt.ngroups > 0 && set_groups() < 0) {
        fprintf(stderr, "radsec_load: --groups: not supported by this wolfSSL\n");
        return 2;
    }
    struct sockaddr_storage *addr = &server_addr;
    if (uv_ip4_addr(opt.host, opt.port, (struct sockaddr_in *)addr) != 0 &&
        uv_ip6_addr(opt.host, opt.port, (struct sockaddr_in6 *)addr) != 0) {
        fprintf(stderr, "radsec_load: --host must be an IP address\n");
        return 2;
    }
    st.lat_us = calloc(opt.requests, sizeof(*st.lat_us));
    conns = calloc(opt.connections, sizeof(*conns));
    if (!st.lat_us || !conns) {
        fprintf(stderr, "radsec_load: out of memory\n");
        return 2;
    }
    if (opt.source_count && addr->ss_family != AF_INET) {
        fprintf(stderr, "radsec_load: --source is IPv4 only\n");
        return 2;
    }
    loop = uv_default_loop();
    st.start_us = connect_t0_us = now_us();
    holding = opt.hold;
    if (opt.hold)
        hold_phase = HOLD_BEFORE;
    uv_timer_init(loop, &sweep_timer);
    uv_timer_init(loop, &pace_timer);
    uv_timer_init(loop, &connect_timer);
    uv_signal_init(loop, &release_signal);
    if (opt.hold)
        uv_signal_start(&release_signal, on_release, SIGUSR1);
    if (start_conn(0) < 0) {
        fprintf(stderr, "radsec_load: cannot connect to %s port %d\n", opt.host, opt.port);
        return 2;
    }
    next_conn = 1;
    start_due();
    if (next_conn < opt.connections)
        uv_timer_start(&connect_timer, on_connect_timer, 10, 10);
    uv_timer_start(&sweep_timer, on_sweep, SWEEP_MS, SWEEP_MS);
    if (opt.rate > 0) {
        pace_last_us = now_us();
        uv_timer_start(&pace_timer, on_pace, PACE_MS, PACE_MS);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&sweep_timer, NULL);
    uv_close((uv_handle_t *)&pace_timer, NULL);
    uv_close((uv_handle_t *)&connect_timer, NULL);
    uv_close((uv_handle_t *)&release_signal, NULL);
    uv_run(loop, UV_RUN_DEFAULT);

    uint64_t n = st.answered < opt.requests ? st.answered : opt.requests;
    qsort(st.lat_us, n, sizeof(*st.lat_us), cmp_u32);
    double dur_ms = (double)(st.end_us - st.start_us) / 1000.0;
    printf("sent=%llu answered=%llu accept=%llu reject=%llu challenge=%llu acct=%llu "
           "timeouts=%llu late=%llu lost=%llu bad=%llu duplicates_sent=%llu conn_failed=%llu "
           "duration_ms=%.0f rps=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f max_inflight=%llu "
           "established=%llu\n",
           (unsigned long long)st.sent, (unsigned long long)st.answered,
           (unsigned long long)st.accept, (unsigned long long)st.reject,
           (unsigned long long)st.challenge, (unsigned long long)st.acct,
           (unsigned long long)st.timeouts, (unsigned long long)st.late,
           (unsigned long long)st.lost, (unsigned long long)st.bad, (unsigned long long)st.dup_sent,
           (unsigned long long)st.conn_failed, dur_ms,
           dur_ms > 0 ? (double)st.answered * 1000.0 / dur_ms : 0.0, percentile_ms(n, 0.50),
           percentile_ms(n, 0.99), n ? st.lat_us[n - 1] / 1000.0 : 0.0,
           (unsigned long long)st.max_inflight, (unsigned long long)st.established);
    fflush(stdout);

    for (unsigned i = 0; i < next_conn; i++) {
        rg_tls_stream_free(&conns[i].tls);
        rg_buf_free(&conns[i].staged);
        rg_buf_free(&conns[i].writing);
    }
    free(conns);
    free(st.lat_us);
    wolfSSL_CTX_free(ctx);
    uv_loop_close(loop);
    rg_tls_global_cleanup();
    bool good = st.answered == st.sent && st.bad == 0 && st.sent > 0;
    return good || (opt.allow_loss && st.bad == 0) ? 0 : 1;
}
