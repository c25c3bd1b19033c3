/* Tests of src/proxy.c: the state table driven through rg_proxy_on_request /
 * rg_proxy_on_reply with a worker whose backend sockets are real but whose replies the test
 * hands in (no TLS, no backend process), and on a fake clock and backend. The AP is an
 * origin (origin.h) the test makes: no connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy_packets.h"
#include "radsecgw/backend.h"
#include "radsecgw/common.h"
#include "radsecgw/config.h"
#include "radsecgw/origin.h"
#include "radsecgw/proxy.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius11.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/tls_stream.h"

/* ---- the AP as the state table sees it: an origin whose replies the test keeps ---- */

static struct fake_ap {
    struct rg_origin o;
    bool open; /* false: send says the AP is gone (the table counts no reply) */
    uint8_t last[RG_RADIUS_MAX_LEN]; /* the last packet it was sent */
    size_t last_len;
    unsigned nsent, nverified, ndrained;
} fap;

static bool fap_send(void *arg, const uint8_t *pkt, size_t len)
{
    struct fake_ap *a = arg;
    if (!a->open)
        return false;
    assert_true(len <= sizeof(a->last));
    memcpy(a->last, pkt, len);
    a->last_len = len;
    a->nsent++;
    return true;
}

static void fap_verified(void *arg, const uint8_t *pkt)
{
    (void)pkt;
    ((struct fake_ap *)arg)->nverified++;
}

static void fap_drained(void *arg)
{
    ((struct fake_ap *)arg)->ndrained++;
}

static const struct rg_origin_ops fap_ops = {
    .send = fap_send,
    .verified = fap_verified,
    .drained = fap_drained,
};

/* The AP of org "acme" in cfg (its secret, its pool). */
static void fap_up(const struct rg_config *cfg, bool open)
{
    memset(&fap, 0, sizeof(fap));
    fap.open = open;
    fap.o.ops = &fap_ops;
    fap.o.arg = &fap;
    fap.o.id = 1;
    fap.o.addr_text = "127.0.0.1:1";
    fap.o.cn = "ap";
    const struct rg_org *org = rg_config_find_org(cfg, "acme");
    rg_origin_describe(&fap.o, cfg, org, RG_SECRET_OF(org), RG_PROTO_HISTORIC);
}

/* ---- the state table driven without TLS: a worker with a loop and real UDP sockets towards
 * a port nobody answers on; replies are handed to rg_proxy_on_reply directly. The AP is
 * gone for what it would be sent (no reply is counted). ---- */

/* What a worker lends its table and backend sets, and nothing else of it. */
static struct {
    uv_loop_t loop;
    uv_check_t flush_check; /* batched sends, as the worker's check handle does them */
    struct rg_backend_io backend_io;
    struct rg_backend_set *backends;
    struct rg_stats stats;
    struct rg_proxy proxy;
} wk;

static void on_flush_check(uv_check_t *h)
{
    rg_backend_flush(&wk.backend_io);
    if (!wk.backend_io.send_socks)
        uv_check_stop(h);
}

static void schedule_flush(void *arg)
{
    (void)arg;
    uv_check_start(&wk.flush_check, on_flush_check);
}

static void table_up(uv_loop_t *loop)
{
    const struct rg_proxy_host host = {.stats = &wk.stats};
    assert_int_equal(rg_proxy_init(&wk.proxy, &host, loop, 1024), 0);
}
static struct rg_config *wcfg; /* the table's config, owned by the test */

static void worker_up(const char *ma)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "tls { certificate = \"c.pem\" key = \"k.pem\" }\n"
             "pool \"corp\" { timeout = 2 retries = 2 status-server = false\n"
             "  require-message-authenticator = %s\n"
             "  server \"rad1\" { host = \"127.0.0.1\" auth-port = 9 acct-port = 9 "
             "secret = \"" BE_SECRET "\" } }\n"
             "org \"acme\" { ca = {\"ca.pem\"} pool = \"corp\" secret = \"" AP_SECRET "\" }\n"
             "log { requests = false }\n",
             ma);
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    int rc = rg_config_load_buf("t.conf", text, false, &cfg, &diag);
    if (rc != 0)
        fail_msg("config: %s", diag.text ? diag.text : "?");
    rg_config_diag_free(&diag);
    memset(&wk, 0, sizeof(wk));
    assert_int_equal(uv_loop_init(&wk.loop), 0);
    assert_int_equal(uv_check_init(&wk.loop, &wk.flush_check), 0);
    table_up(&wk.loop);
    struct rg_backend_events ev = rg_proxy_backend_events(&wk.proxy);
    rg_backend_io_init(&wk.backend_io, &wk.loop, &wk.stats, NULL, schedule_flush, NULL);
    wk.backends = rg_backend_set_new(&wk.backend_io, cfg, &ev);
    rg_proxy_set_backends(&wk.proxy, wk.backends);
    wcfg = cfg;
    fap_up(cfg, false);
}

static void worker_down(void)
{
    rg_proxy_origin_closed(&wk.proxy, &fap.o);
    rg_proxy_abort_all(&wk.proxy);
    rg_backend_set_retire(wk.backends);
    rg_proxy_close(&wk.proxy);
    uv_close((uv_handle_t *)&wk.flush_check, NULL);
    assert_int_equal(uv_run(&wk.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&wk.loop), 0);
    rg_proxy_free(&wk.proxy);
    rg_backend_io_free(&wk.backend_io);
    rg_config_unref(wcfg);
}

static struct rg_backend_server *wserver(void)
{
    return &wk.backends->pools[0].servers[0];
}

/* The AP sends pkt; returns what rg_proxy_on_request returned. */
static int ap_sends(const uint8_t *pkt)
{
    return rg_proxy_on_request(&wk.proxy, &fap.o, pkt, rg_radius_len(pkt));
}

/* The backend answers the request in flight for AP ID ap_id. */
static void backend_answers(uint8_t ap_id, uint8_t code, bool ma, bool eap)
{
    struct rg_request *req = fap.o.inflight[ap_id];
    assert_non_null(req);
    uint8_t buf[RG_RADIUS_MAX_LEN];
    make_reply(buf, code, req->id, req->sent_auth, ma, eap);
    rg_proxy_on_reply(&wk.proxy, req->sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)req->sock->dest->addr);
}

static size_t make_eap_request(uint8_t *buf, uint8_t id)
{
    struct rg_radius_pkt p = {.data = buf, .cap = RG_RADIUS_MAX_LEN};
    rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, id, NULL);
    rg_radius_auth_random(buf);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "bob", 3);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_EAP_MESSAGE,
                       "\x02\x01\x00\x08\x01"
                       "bob",
                       8);
    rg_radius_msgauth_add_first(&p);
    rg_radius_msgauth_sign(buf, NULL, RG_SECRET_LIT(AP_SECRET));
    return rg_radius_len(buf);
}

static size_t make_pap_request(uint8_t *buf, uint8_t id)
{
    size_t n = make_ap_access_request(buf, "wonderland", false);
    buf[1] = id;
    rg_radius_msgauth_sign(buf, NULL, RG_SECRET_LIT(AP_SECRET));
    return n;
}

#define STAT(name) __atomic_load_n(&wk.stats.name, __ATOMIC_RELAXED)

/* auto against a server that signs EAP replies but not PAP ones (stock FreeRADIUS 3.2.1):
 * EAP first, then PAP: both pass; the state is the process's, shared by every backend set
 * built for the same server (another worker, a reload), and a server that then signs a PAP
 * reply has its unsigned ones dropped from then on. */
static void test_worker_auto_eap_then_pap(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    worker_up("auto");
    struct rg_backend_shared *sh = wserver()->shared;
    assert_false(rg_backend_signs(sh));

    make_eap_request(pkt, 10);
    assert_int_equal(ap_sends(pkt), 0);
    assert_true(fap.o.inflight[10]->eap);
    backend_answers(10, RG_RADIUS_ACCESS_CHALLENGE, true, true);
    assert_null(fap.o.inflight[10]); /* answered */
    assert_false(rg_backend_signs(sh));

    make_pap_request(pkt, 11);
    assert_int_equal(ap_sends(pkt), 0);
    backend_answers(11, RG_RADIUS_ACCESS_ACCEPT, false, false);
    assert_null(fap.o.inflight[11]);
    assert_int_equal(STAT(unsigned_accepted), 1);
    assert_int_equal(STAT(drop_unsigned), 0);
    assert_false(rg_backend_signs(sh));

    /* Another worker's (or the next generation's) set for the same server shares the state. */
    struct rg_backend_set *other = rg_backend_set_new(NULL, wcfg, NULL);
    assert_ptr_equal(other->pools[0].servers[0].shared, sh);

    make_pap_request(pkt, 12);
    assert_int_equal(ap_sends(pkt), 0);
    backend_answers(12, RG_RADIUS_ACCESS_ACCEPT, true, false);
    assert_true(rg_backend_signs(sh));
    assert_true(rg_backend_signs(other->pools[0].servers[0].shared));

    make_pap_request(pkt, 13);
    assert_int_equal(ap_sends(pkt), 0);
    backend_answers(13, RG_RADIUS_ACCESS_ACCEPT, false, false);
    assert_null(fap.o.inflight[13]); /* ended: an answered request is not retransmitted */
    assert_int_equal(STAT(drop_unsigned), 1);
    assert_int_equal(wserver()->health, RG_BACKEND_ALIVE);
    assert_int_equal(STAT(outstanding), 0);
    rg_backend_set_retire(other);
    worker_down();
}

/* true against a server that does not sign: every reply is discarded, but it answered, so the
 * server stays alive (no "marked dead", no failover storm) and a dead one comes back. */
static void test_worker_true_unsigned_server_stays_alive(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    worker_up("true");
    make_pap_request(pkt, 20);
    assert_int_equal(ap_sends(pkt), 0);
    rg_backend_mark_dead(wserver(), rg_now_ms(), "test");
    wserver()->missed = 3;
    backend_answers(20, RG_RADIUS_ACCESS_ACCEPT, false, false);
    assert_null(fap.o.inflight[20]);
    assert_int_equal(STAT(drop_unsigned), 1);
    assert_int_equal(STAT(retransmits), 0);
    assert_int_equal(wserver()->health, RG_BACKEND_ALIVE);
    assert_int_equal(wserver()->missed, 0);
    assert_null(rg_proxy_heap_peek(&wk.proxy)); /* no timer left that could retransmit */
    /* EAP replies are signed: they pass under true. */
    make_eap_request(pkt, 21);
    assert_int_equal(ap_sends(pkt), 0);
    backend_answers(21, RG_RADIUS_ACCESS_CHALLENGE, true, true);
    assert_int_equal(STAT(drop_unsigned), 1);
    assert_int_equal(STAT(drop_bad_reply), 0);
    worker_down();
}

/* A reply that fails verification is as if it never came: same deadline, same tries, the
 * request still in flight and answered by the good reply that follows. */
static void test_worker_unverified_changes_nothing(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN], buf[RG_RADIUS_MAX_LEN];
    worker_up("auto");
    make_pap_request(pkt, 30);
    assert_int_equal(ap_sends(pkt), 0);
    struct rg_request *req = fap.o.inflight[30];
    uint64_t deadline = req->deadline_ms;
    unsigned tries = req->tries;
    rg_backend_mark_dead(wserver(), rg_now_ms(), "test");
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, req->id, req->sent_auth, true, false);
    buf[4] ^= 0x5a;
    rg_proxy_on_reply(&wk.proxy, req->sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)req->sock->dest->addr);
    assert_int_equal(STAT(drop_bad_reply), 1);
    assert_ptr_equal(fap.o.inflight[30], req);
    assert_int_equal(req->deadline_ms, deadline);
    assert_int_equal(req->tries, tries);
    assert_int_equal(wserver()->health, RG_BACKEND_DEAD); /* proves nothing */
    assert_false(rg_backend_signs(wserver()->shared));
    backend_answers(30, RG_RADIUS_ACCESS_ACCEPT, true, false);
    assert_null(fap.o.inflight[30]);
    assert_int_equal(wserver()->health, RG_BACKEND_ALIVE);
    worker_down();
}

/* A verified reply that cannot be used ends its request at once: no retransmission. */
static void test_worker_unusable_reply_finishes(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    worker_up("false");
    make_pap_request(pkt, 40);
    assert_int_equal(ap_sends(pkt), 0);
    backend_answers(40, RG_RADIUS_ACCOUNTING_RESPONSE, false, false);
    assert_null(fap.o.inflight[40]);
    assert_int_equal(STAT(drop_unusable), 1);
    assert_null(rg_proxy_heap_peek(&wk.proxy));

    /* A Tunnel-Password that does not decrypt (length not 2 + n*16 after the tag). */
    make_pap_request(pkt, 41);
    assert_int_equal(ap_sends(pkt), 0);
    struct rg_request *req = fap.o.inflight[41];
    uint8_t buf[RG_RADIUS_MAX_LEN];
    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, req->id, NULL);
    rg_radius_msgauth_add_first(&p);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_TUNNEL_PASSWORD, "\x01\x80\x01xyz", 6);
    rg_radius_msgauth_sign(buf, req->sent_auth, rg_secret_str(BE_SECRET));
    rg_radius_auth_response_sign(buf, req->sent_auth, rg_secret_str(BE_SECRET));
    rg_proxy_on_reply(&wk.proxy, req->sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)req->sock->dest->addr);
    assert_null(fap.o.inflight[41]);
    assert_int_equal(STAT(drop_unusable), 2);

    /* Too big to take the Message-Authenticator for the AP. */
    make_pap_request(pkt, 42);
    assert_int_equal(ap_sends(pkt), 0);
    req = fap.o.inflight[42];
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, req->id, NULL);
    uint8_t filler[253];
    memset(filler, 'c', sizeof(filler));
    while ((size_t)rg_radius_len(buf) + 255 + 3 <= RG_RADIUS_MAX_LEN)
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, filler, 253);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, filler,
                       RG_RADIUS_MAX_LEN - rg_radius_len(buf) - 2);
    assert_int_equal(rg_radius_len(buf), RG_RADIUS_MAX_LEN);
    rg_radius_auth_response_sign(buf, req->sent_auth, rg_secret_str(BE_SECRET));
    rg_proxy_on_reply(&wk.proxy, req->sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)req->sock->dest->addr);
    assert_null(fap.o.inflight[42]);
    assert_int_equal(STAT(drop_unusable), 3);
    assert_int_equal(STAT(outstanding), 0);
    worker_down();
}

/* RFC 5080 §2.2.2: the same ID with a new Request Authenticator is a new request; the old
 * one is abandoned and its late reply dropped. The same ID and authenticator is a duplicate. */
static void test_worker_reused_id_is_new_request(void **state)
{
    (void)state;
    uint8_t a[RG_RADIUS_MAX_LEN], b[RG_RADIUS_MAX_LEN];
    worker_up("auto");
    make_pap_request(a, 50);
    assert_int_equal(ap_sends(a), 0);
    struct rg_request *old = fap.o.inflight[50];
    uint8_t old_id = old->id;
    uint8_t old_auth[16];
    memcpy(old_auth, old->sent_auth, 16);
    struct rg_backend_sock *old_sock = old->sock;

    assert_int_equal(ap_sends(a), 0); /* the same packet again */
    assert_int_equal(STAT(duplicates), 1);
    assert_ptr_equal(fap.o.inflight[50], old);

    make_pap_request(b, 50); /* fresh authenticator */
    assert_memory_not_equal(a + 4, b + 4, 16);
    assert_int_equal(ap_sends(b), 0);
    assert_int_equal(STAT(abandoned), 1);
    assert_int_equal(STAT(forwarded), 2);
    struct rg_request *now = fap.o.inflight[50];
    assert_non_null(now);
    assert_ptr_not_equal(now, old);
    assert_memory_equal(now->ap_auth, b + 4, 16);
    assert_null(old->origin);

    /* The old request's reply arrives late: dropped, the new one still waits. */
    uint8_t buf[RG_RADIUS_MAX_LEN];
    make_reply(buf, RG_RADIUS_ACCESS_ACCEPT, old_id, old_auth, true, false);
    rg_proxy_on_reply(&wk.proxy, old_sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)old_sock->dest->addr);
    assert_int_equal(STAT(drop_late_reply), 1);
    assert_ptr_equal(fap.o.inflight[50], now);
    backend_answers(50, RG_RADIUS_ACCESS_ACCEPT, true, false);
    assert_null(fap.o.inflight[50]);
    worker_down();
}

/* Requests that cannot take the added attributes are dropped at once: never -EAGAIN (that
 * pauses the connection until replies drain, and none are coming), never -EBADMSG. */
static void test_worker_near_4096_dropped_not_paused(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    worker_up("auto");
    make_big_request(pkt, RG_RADIUS_ACCESS_REQUEST, 4090, false);
    int rc = ap_sends(pkt);
    assert_int_not_equal(rc, -EAGAIN);
    assert_int_not_equal(rc, -EBADMSG);
    assert_int_equal(STAT(drop_invalid), 1);
    assert_int_equal(STAT(outstanding), 0);
    assert_int_equal(wk.backends->outstanding, 0);
    make_big_request(pkt, RG_RADIUS_ACCESS_REQUEST, 4070, true);
    rc = ap_sends(pkt);
    assert_int_not_equal(rc, -EAGAIN);
    assert_int_equal(STAT(drop_invalid), 2);
    /* A full-size Accounting-Request goes out (nothing is added to it). */
    make_big_request(pkt, RG_RADIUS_ACCOUNTING_REQUEST, 4096, false);
    assert_int_equal(ap_sends(pkt), 0);
    assert_int_equal(STAT(forwarded), 1);
    worker_down();
}

/* A badly shaped User-Password: discarded and counted, -EINVAL (the connection stays), not
 * the -EBADMSG that closes it. */
static void test_worker_bad_user_password_keeps_connection(void **state)
{
    (void)state;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    static const struct {
        size_t len;
        bool twice;
    } bad[] = {{0, false}, {144, false}, {20, false}, {16, true}};
    worker_up("auto");
    for (unsigned i = 0; i < 4; i++) {
        make_password_request(pkt, bad[i].len, bad[i].twice);
        assert_int_equal(ap_sends(pkt), -EINVAL);
        assert_int_equal(STAT(drop_invalid), i + 1);
    }
    assert_int_equal(STAT(drop_bad_request), 0);
    assert_int_equal(STAT(forwarded), 0);
    make_password_request(pkt, 32, false);
    assert_int_equal(ap_sends(pkt), 0);
    assert_int_equal(STAT(forwarded), 1);
    worker_down();
}

/* ---- the state table on a fake clock and a fake backend (no sockets, no sleeps, no uv
 * timer): rg_proxy_set_ops hands the table a clock the test moves, a fixed RAND, and a
 * backend whose sockets are plain structs that record every datagram; rg_proxy_expire is
 * what the timer would do. The AP is there: the test reads what it is sent in fap. ---- */

struct fake_sent {
    struct rg_backend_sock *sock;
    uint64_t at;
    uint16_t len;
    uint8_t pkt[RG_RADIUS_MAX_LEN];
};

static struct fake {
    uint64_t now;
    int rand_permille;
    struct rg_backend_sock socks[4]; /* one per destination used, in order of first use */
    unsigned nsocks;
    struct fake_sent sent[80];
    unsigned nsent;
} fk;

static uint64_t fake_now(void *arg)
{
    return ((struct fake *)arg)->now;
}

static int fake_rand(void *arg)
{
    return ((struct fake *)arg)->rand_permille;
}

static int fake_alloc_id(void *arg, struct rg_backend_dest *dest, struct rg_request *req,
                         struct rg_backend_sock **sock, uint8_t *id)
{
    struct fake *f = arg;
    struct rg_backend_sock *s = NULL;
    for (unsigned i = 0; i < f->nsocks && !s; i++)
        if (f->socks[i].dest == dest)
            s = &f->socks[i];
    if (!s) {
        assert_true(f->nsocks < 4);
        s = &f->socks[f->nsocks++];
        s->dest = dest;
        rg_idspace_init(&s->ids);
    }
    if (s->ids.nfree == 0)
        return -ENOSPC;
    *id = (uint8_t)rg_idspace_alloc(&s->ids, req);
    *sock = s;
    dest->outstanding++;
    dest->server->pool->set->outstanding++;
    return 0;
}

static void fake_release_id(void *arg, struct rg_backend_sock *sock, uint8_t id)
{
    (void)arg;
    rg_idspace_release(&sock->ids, id);
    sock->dest->outstanding--;
    rg_backend_set_release(sock->dest->server->pool->set);
}

static int fake_send(void *arg, struct rg_backend_sock *sock, struct rg_request *req)
{
    struct fake *f = arg;
    assert_true(f->nsent < 80);
    struct fake_sent *d = &f->sent[f->nsent++];
    d->sock = sock;
    d->at = f->now;
    d->len = req->len;
    memcpy(d->pkt, req->pkt, req->len);
    return 0;
}

static const struct rg_proxy_ops fake_ops = {
    .now_ms = fake_now,
    .rand_permille = fake_rand,
    .alloc_id = fake_alloc_id,
    .release_id = fake_release_id,
    .send = fake_send,
};

#define FAKE_T0 1000000u

/* Two servers in failover order, IRT 2 s, one retransmission (MRC 1); org "acme" with the
 * RadSec secret ap_secret. */
static struct rg_config *fake_config(const char *ap_secret)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "tls { certificate = \"c.pem\" key = \"k.pem\" }\n"
             "pool \"corp\" { timeout = 2 retries = 1 status-server = false\n"
             "  policy = \"failover\" dead-time = 60\n"
             "  server \"rad1\" { host = \"127.0.0.1\" auth-port = 9 acct-port = 9 "
             "secret = \"" BE_SECRET "\" }\n"
             "  server \"rad2\" { host = \"127.0.0.2\" auth-port = 9 acct-port = 9 "
             "secret = \"" BE_SECRET "\" } }\n"
             "org \"acme\" { ca = {\"ca.pem\"} pool = \"corp\" secret = \"%s\" }\n"
             "log { requests = false }\n",
             ap_secret);
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    if (rg_config_load_buf("t.conf", text, false, &cfg, &diag) != 0)
        fail_msg("config: %s", diag.text ? diag.text : "?");
    rg_config_diag_free(&diag);
    return cfg;
}

static void fake_up_with(struct rg_config *cfg)
{
    memset(&fk, 0, sizeof(fk));
    fk.now = FAKE_T0;
    fk.rand_permille = 50;      /* RAND = +0.05: RT = 2100, then 2 * 2100 + 105 */
    memset(&wk, 0, sizeof(wk)); /* no loop: no uv timer, no connection */
    table_up(NULL);
    rg_proxy_set_ops(&wk.proxy, &fake_ops, &fk);
    wk.backends = rg_backend_set_new(NULL, cfg, NULL); /* fake_ops: no sockets, nothing reported */
    rg_proxy_set_backends(&wk.proxy, wk.backends);
    wcfg = cfg;
    fap_up(cfg, true);
}

static void fake_up(void)
{
    fake_up_with(fake_config(AP_SECRET));
}

static void fake_down(void)
{
    rg_proxy_origin_closed(&wk.proxy, &fap.o);
    rg_proxy_abort_all(&wk.proxy);
    assert_int_equal(wk.proxy.inuse, 0);
    rg_backend_set_retire(wk.backends);
    rg_proxy_free(&wk.proxy);
    rg_config_unref(wcfg);
}

/* The backend answers the datagram fake sent as sent[i] (its ID, its authenticator). */
static void fake_backend_answers(unsigned i, uint8_t code)
{
    const struct fake_sent *d = &fk.sent[i];
    uint8_t buf[RG_RADIUS_MAX_LEN];
    make_reply(buf, code, d->pkt[1], d->pkt + 4, true, false);
    rg_proxy_on_reply(&wk.proxy, d->sock, buf, rg_radius_len(buf),
                      (const struct sockaddr *)d->sock->dest->addr);
}

/* The clock moves to FAKE_T0 + ms and the due deadlines run. */
static void fake_at(uint64_t ms)
{
    fk.now = FAKE_T0 + ms;
    rg_proxy_expire(&wk.proxy);
}

/* RFC 5080 §2.2.1 end to end: the request goes to rad1; at RT (IRT + RAND*IRT) it is sent
 * again unchanged; at the next RT (2*RT + RAND*RT), MRC spent, rad1 is marked dead and the
 * request fails over to rad2 with a fresh ID and authenticator; rad1's late reply finds no
 * request (its ID was released) and reaches nobody; rad2's reply reaches the AP with the
 * AP's ID, signed with the AP's secret. */
static void test_table_timeout_retransmit_failover_late_reply(void **state)
{
    (void)state;
    fake_up();
    struct rg_backend_server *rad1 = &wk.backends->pools[0].servers[0];
    struct rg_backend_server *rad2 = &wk.backends->pools[0].servers[1];
    uint8_t ap[RG_RADIUS_MAX_LEN];
    make_pap_request(ap, 33);
    assert_int_equal(ap_sends(ap), 0);
    assert_int_equal(fk.nsent, 1);
    assert_ptr_equal(fk.sent[0].sock->dest, &rad1->auth);
    assert_int_equal(fk.sent[0].at, FAKE_T0);

    fake_at(2099); /* RT = 2000 + 2000 * 0.05 */
    assert_int_equal(fk.nsent, 1);
    fake_at(2100);
    assert_int_equal(fk.nsent, 2);
    assert_ptr_equal(fk.sent[1].sock, fk.sent[0].sock); /* same source port */
    assert_int_equal(fk.sent[1].len, fk.sent[0].len);
    assert_memory_equal(fk.sent[1].pkt, fk.sent[0].pkt, fk.sent[0].len); /* same ID, auth */
    assert_int_equal(STAT(retransmits), 1);
    assert_int_equal(rad1->health, RG_BACKEND_ALIVE);

    fake_at(2100 + 4304); /* next RT = 2 * 2100 + 2100 * 0.05 = 4305 */
    assert_int_equal(fk.nsent, 2);
    fake_at(2100 + 4305);
    assert_int_equal(fk.nsent, 3);
    assert_int_equal(rad1->health, RG_BACKEND_DEAD);
    assert_int_equal(STAT(failovers), 1);
    assert_int_equal(STAT(timeouts), 0);
    assert_ptr_equal(fk.sent[2].sock->dest, &rad2->auth);
    assert_memory_not_equal(fk.sent[2].pkt + 4, fk.sent[0].pkt + 4, RG_RADIUS_AUTH_LEN);
    assert_int_equal(rad1->auth.outstanding, 0); /* rad1's ID was given back */
    assert_int_equal(rad2->auth.outstanding, 1);

    fake_backend_answers(0, RG_RADIUS_ACCESS_ACCEPT); /* rad1, late */
    assert_int_equal(STAT(drop_unknown_reply), 1);
    assert_int_equal(fap.nsent, 0);
    assert_int_equal(rad1->health, RG_BACKEND_DEAD); /* an unknown ID proves nothing */

    fk.now = FAKE_T0 + 2100 + 4305 + 40;
    fake_backend_answers(2, RG_RADIUS_ACCESS_ACCEPT); /* rad2 */
    assert_int_equal(STAT(replies), 1);
    assert_int_equal(fap.nsent, 1);
    assert_int_equal(fap.last_len, rg_radius_len(fap.last));
    assert_int_equal(fap.last[0], RG_RADIUS_ACCESS_ACCEPT);
    assert_int_equal(fap.last[1], 33);
    assert_int_equal(rg_radius_auth_response_verify(fap.last, ap + 4, RG_SECRET_LIT(AP_SECRET)), 0);
    assert_int_equal(rg_radius_msgauth_verify(fap.last, ap + 4, RG_SECRET_LIT(AP_SECRET)), 0);
    assert_null(fap.o.inflight[33]);
    assert_int_equal(wk.proxy.inuse, 0);
    assert_int_equal(rad2->auth.outstanding, 0);
    assert_null(rg_proxy_heap_peek(&wk.proxy)); /* nothing left to retransmit */
    fake_down();
}

/* A reply for a request whose AP connection closed is late: counted, sent to no one, and
 * the ID is given back at once; before it, the closed connection's request was never
 * retransmitted. */
static void test_table_reply_after_conn_closed(void **state)
{
    (void)state;
    fake_up();
    struct rg_backend_server *rad1 = &wk.backends->pools[0].servers[0];
    uint8_t ap[RG_RADIUS_MAX_LEN];
    make_pap_request(ap, 7);
    assert_int_equal(ap_sends(ap), 0);
    rg_proxy_origin_closed(&wk.proxy, &fap.o);
    fake_at(2100);
    assert_int_equal(fk.nsent, 1); /* radiusdtls-bis §6.2.2: nothing more for it */
    assert_int_equal(STAT(retransmits), 0);
    assert_int_equal(wk.proxy.inuse, 0); /* its deadline passed: the slot is free */
    assert_int_equal(rad1->auth.outstanding, 0);
    /* Again, with the reply arriving before the deadline. */
    make_pap_request(ap, 8);
    assert_int_equal(ap_sends(ap), 0);
    rg_proxy_origin_closed(&wk.proxy, &fap.o);
    assert_int_equal(rad1->auth.outstanding, 1); /* the ID stays reserved */
    fake_backend_answers(1, RG_RADIUS_ACCESS_ACCEPT);
    assert_int_equal(STAT(drop_late_reply), 1);
    assert_int_equal(STAT(replies), 0);
    assert_int_equal(fap.nsent, 0);
    assert_int_equal(rad1->auth.outstanding, 0);
    assert_int_equal(wk.proxy.inuse, 0);
    fake_down();
}

/* A reload that changed the org's secret while a request was in flight (the connection
 * re-verified and adopted the new snapshot, radiusdtls-bis §3.3): the origin is described
 * from the new snapshot, as conn.c's rg_conn_recheck does before it lets the old generation
 * go, and the old snapshot is freed. The reply that arrives afterwards reaches the AP with
 * its ID, signed with the new secret, and nothing reads the old secret's freed bytes (the
 * ASan build fails on any read). */
static void test_table_reply_after_reload_new_secret(void **state)
{
    (void)state;
    static const char reloaded[] = "reloaded-secret";
    fake_up();
    /* The AP's snapshot, apart from the one the backend set holds a reference to. */
    struct rg_config *before = fake_config(AP_SECRET), *after = fake_config(reloaded);
    fap_up(before, true);
    uint8_t ap[RG_RADIUS_MAX_LEN];
    make_pap_request(ap, 5);
    assert_int_equal(ap_sends(ap), 0);
    assert_int_equal(fk.nsent, 1);

    const struct rg_org *org = rg_config_find_org(after, "acme");
    rg_origin_describe(&fap.o, after, org, RG_SECRET_OF(org), RG_PROTO_HISTORIC);
    rg_config_unref(before); /* the last reference: the old secret's bytes are freed */

    fake_backend_answers(0, RG_RADIUS_ACCESS_ACCEPT);
    assert_int_equal(STAT(replies), 1);
    assert_int_equal(fap.nsent, 1);
    assert_int_equal(fap.last[1], 5);
    assert_int_equal(rg_radius_auth_response_verify(fap.last, ap + 4, rg_secret_str(reloaded)), 0);
    assert_int_equal(rg_radius_msgauth_verify(fap.last, ap + 4, rg_secret_str(reloaded)), 0);
    assert_int_not_equal(rg_radius_auth_response_verify(fap.last, ap + 4, RG_SECRET_LIT(AP_SECRET)),
                         0);
    assert_int_equal(wk.proxy.inuse, 0);
    fake_down();
    rg_config_unref(after);
}

/* An AP that reuses one ID without waiting for replies (RFC 5080 §2.2.2): each reuse abandons
 * a request that keeps its backend ID until its deadline. At RG_PROXY_ABANDONED_MAX the next
 * reuse is refused (-EBUSY: the origin stops reading) and the origin is told once, through
 * its drained callback, when half of them have ended; then the packet is taken. */
static void test_table_abandoned_bound_and_drained(void **state)
{
    (void)state;
    fake_up();
    uint8_t ap[RG_RADIUS_MAX_LEN];
    for (unsigned i = 0; i <= RG_PROXY_ABANDONED_MAX; i++) {
        make_pap_request(ap, 9); /* a fresh Request Authenticator each time */
        assert_int_equal(ap_sends(ap), 0);
    }
    assert_int_equal(STAT(abandoned), RG_PROXY_ABANDONED_MAX);
    assert_int_equal(fap.o.nabandoned, RG_PROXY_ABANDONED_MAX);
    assert_int_equal(rg_origin_inflight(&fap.o), 1);
    assert_int_equal(fap.nverified, RG_PROXY_ABANDONED_MAX + 1);
    make_pap_request(ap, 9);
    assert_int_equal(ap_sends(ap), -EBUSY);
    assert_int_equal(fap.ndrained, 0);
    assert_int_equal(STAT(forwarded), RG_PROXY_ABANDONED_MAX + 1);

    fake_at(2100); /* every deadline: the abandoned end, the one in flight is retransmitted */
    assert_int_equal(fap.ndrained, 1);
    assert_int_equal(fap.o.nabandoned, 0);
    assert_int_equal(STAT(retransmits), 1);
    assert_int_equal(ap_sends(ap), 0);
    assert_int_equal(STAT(forwarded), RG_PROXY_ABANDONED_MAX + 2);
    assert_int_equal(fap.o.nabandoned, 1);
    assert_int_equal(fap.ndrained, 1);
    fake_down();
}

/* The fair shares are per backend server (proxy_fair.h): with rad1 congested (its budget
 * at 16, as after late intervals; test_proxy_fair covers how it gets there), a flooder that
 * sends to rad1 is held back at its share there, an AP whose requests go to rad3 (another
 * pool) is not held back at all, and a reply from rad3 does not wake the flooder; rad1's
 * first reply does (test_proxy_fair: when a share makes room). Failover moves a request's count
 * to the server it moves to. */
static void test_table_share_per_server(void **state)
{
    (void)state;
    const char *text =
        "tls { certificate = \"c.pem\" key = \"k.pem\" }\n"
        "pool \"corp\" { timeout = 2 retries = 1 status-server = false\n"
        "  server \"rad1\" { host = \"127.0.0.1\" auth-port = 9 acct-port = 9 "
        "secret = \"" BE_SECRET "\" } }\n"
        "pool \"other\" { timeout = 2 retries = 1 status-server = false\n"
        "  server \"rad3\" { host = \"127.0.0.3\" auth-port = 9 acct-port = 9 "
        "secret = \"" BE_SECRET "\" } }\n"
        "org \"acme\" { ca = {\"ca.pem\"} pool = \"corp\" secret = \"" AP_SECRET "\" }\n"
        "org \"beta\" { ca = {\"ca.pem\"} pool = \"other\" secret = \"" AP_SECRET "\" }\n"
        "log { requests = false }\n";
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    if (rg_config_load_buf("t.conf", text, false, &cfg, &diag) != 0)
        fail_msg("config: %s", diag.text ? diag.text : "?");
    rg_config_diag_free(&diag);
    fake_up_with(cfg);
    struct rg_backend_server *rad1 = &wk.backends->pools[0].servers[0];
    struct rg_backend_server *rad3 = &wk.backends->pools[1].servers[0];
    rad1->fair.limiting = true;
    rad1->fair.budget = 16;
    /* The other AP, of org beta: its requests go to rad3. */
    struct fake_ap ap2 = {.open = true};
    ap2.o = (struct rg_origin){
        .ops = &fap_ops, .arg = &ap2, .id = 2, .addr_text = "127.0.0.2:1", .cn = "ap2"};
    rg_origin_describe(&ap2.o, cfg, rg_config_find_org(cfg, "beta"), RG_SECRET_OF(&cfg->orgs[1]),
                       RG_PROTO_HISTORIC);
    uint8_t pkt[RG_RADIUS_MAX_LEN];
    unsigned i;
    for (i = 0; i < 40; i++) {
        make_pap_request(pkt, (uint8_t)i);
        if (ap_sends(pkt) != 0)
            break;
    }
    assert_int_equal(i, 16); /* the flooder: its share of rad1 is the whole budget */
    assert_int_equal(rg_proxy_held_at(&fap.o, rad1), 16);
    assert_int_equal(STAT(share_paused), 1);
    for (i = 0; i < 40; i++) {
        make_pap_request(pkt, (uint8_t)i);
        assert_int_equal(rg_proxy_on_request(&wk.proxy, &ap2.o, pkt, rg_radius_len(pkt)), 0);
    }
    assert_int_equal(rg_proxy_held_at(&ap2.o, rad3), 40);
    assert_int_equal(rg_proxy_held_at(&ap2.o, rad1), 0);
    assert_int_equal(rad3->fair.held, 40);
    assert_int_equal(rad1->fair.held, 16);
    assert_int_equal(rad1->fair.active, 1);
    assert_int_equal(STAT(share_paused), 1);
    /* rad3 answers the other AP: the flooder stays held back. */
    for (i = 16; i < 16 + 40; i++)
        fake_backend_answers(i, RG_RADIUS_ACCESS_ACCEPT);
    assert_int_equal(ap2.nsent, 40);
    assert_int_equal(rad3->fair.held, 0);
    assert_int_equal(fap.ndrained, 0);
    /* rad1 answers one: below its budget again, the flooder may be read (once). */
    assert_ptr_equal(fap.o.share_wait, rad1);
    fake_backend_answers(0, RG_RADIUS_ACCESS_ACCEPT);
    assert_int_equal(fap.ndrained, 1);
    assert_int_equal(rad1->fair.held, 15);
    assert_null(fap.o.share_wait);
    fake_backend_answers(1, RG_RADIUS_ACCESS_ACCEPT);
    assert_int_equal(fap.ndrained, 1);
    rg_proxy_origin_closed(&wk.proxy, &ap2.o);
    rg_proxy_origin_closed(&wk.proxy, &fap.o); /* every count goes with it */
    assert_int_equal(rad1->fair.held, 0);
    assert_int_equal(rad1->fair.active, 0);
    for (i = 0; i < RG_ORIGIN_SERVERS; i++)
        assert_null(fap.o.held[i].srv);
    fake_down();
}

/* A request that fails over (test_table_timeout_retransmit_failover_late_reply's path) is
 * counted at the server it moved to, not at the one it left. */
static void test_table_failover_moves_share(void **state)
{
    (void)state;
    fake_up();
    struct rg_backend_server *rad1 = &wk.backends->pools[0].servers[0];
    struct rg_backend_server *rad2 = &wk.backends->pools[0].servers[1];
    uint8_t ap[RG_RADIUS_MAX_LEN];
    make_pap_request(ap, 33);
    assert_int_equal(ap_sends(ap), 0);
    assert_int_equal(rad1->fair.held, 1);
    fake_at(2100);
    fake_at(2100 + 4305); /* MRC spent: rad1 dead, rad2 tried */
    assert_int_equal(STAT(failovers), 1);
    assert_int_equal(rad1->fair.held, 0);
    assert_int_equal(rad1->fair.active, 0);
    assert_int_equal(rad2->fair.held, 1);
    assert_int_equal(rg_proxy_held_at(&fap.o, rad2), 1);
    fake_backend_answers(2, RG_RADIUS_ACCESS_ACCEPT);
    assert_int_equal(rad2->fair.held, 0);
    assert_int_equal(fap.nsent, 1);
    fake_down();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_auto_eap_then_pap),
        cmocka_unit_test(test_worker_true_unsigned_server_stays_alive),
        cmocka_unit_test(test_worker_unverified_changes_nothing),
        cmocka_unit_test(test_worker_unusable_reply_finishes),
        cmocka_unit_test(test_worker_reused_id_is_new_request),
        cmocka_unit_test(test_worker_near_4096_dropped_not_paused),
        cmocka_unit_test(test_worker_bad_user_password_keeps_connection),
        cmocka_unit_test(test_table_timeout_retransmit_failover_late_reply),
        cmocka_unit_test(test_table_reply_after_conn_closed),
        cmocka_unit_test(test_table_reply_after_reload_new_secret),
        cmocka_unit_test(test_table_abandoned_bound_and_drained),
        cmocka_unit_test(test_table_share_per_server),
        cmocka_unit_test(test_table_failover_moves_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
