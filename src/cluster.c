/* Scale-out (docs/ha.md): this instance's NAS registry published to Redis with TTLs
 * refreshed while the connections live, the lookup of the instance holding a NAS, and the
 * hand-off of a CoA to it over UDP signed with the cluster secret. Everything here runs on
 * the main loop (hiredis with its libuv adapter); workers only queue registry changes.
 * Redis down or slow never blocks anything: CoA falls back to the local registry. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <hiredis/adapters/libuv.h>
#pragma GCC diagnostic pop

#include "radsecgw/cluster.h"
#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/translate.h"

/* Proxy-State value of a hand-off: this prefix, then the name of the DAC's coa client. */
#define HANDOFF_TAG     "radsecgw-cluster "
#define HANDOFF_TAG_LEN (sizeof(HANDOFF_TAG) - 1)

/* Delete a key only while it still names this instance (the NAS may have moved). */
#define CAS_DEL                                                                                    \
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

struct note {
    struct note *next;
    bool added;
    uint8_t kind;
    uint8_t len;
    char *org; /* malloced, owned */
    uint8_t value[];
};

/* A lookup in Redis for rg_cluster_forward, then the hand-off it led to. */
struct lookup {
    struct lookup *next, *prev; /* cl.lookups: waiting for Redis */
    rg_cluster_done_cb cb;
    void *arg;
    bool answered; /* cb called (Redis slow or down): the reply, if any, is ignored */
    bool in_redis; /* a Redis callback is still due: it frees */
    uint64_t started_ms;
    char client[64];
    uint16_t len;
    uint8_t pkt[]; /* the DAC's request (as authenticated with the client's secret) */
};

struct handoff {
    rg_cluster_done_cb cb;
    void *arg;
    uint8_t id;
    uint8_t code;
    uint8_t sent_auth[RG_RADIUS_AUTH_LEN];
    uint64_t deadline_ms;
    struct sockaddr_storage to;
    char owner[64];
};

enum redis_state { REDIS_DOWN, REDIS_CONNECTING, REDIS_UP };

static struct {
    bool enabled;
    uv_loop_t *loop;
    rg_cluster_each_fn each; /* lists the keys to publish (rg_cluster_start's) */
    void *each_arg;
    /* copies of the config, owned */
    char *instance, *host, *password, *secret, *self;
    size_t secret_len;
    uint16_t port;
    redisAsyncContext *ac; /* owned by hiredis; NULL when down */
    enum redis_state state;
    bool down_logged;
    char down_reason[128];
    uv_timer_t timer; /* embedded: flush, refresh, reconnect, timeouts */
    bool timer_init;
    uv_udp_t *udp; /* malloced, freed in its close callback: hand-offs out and answers in */
    uint64_t last_refresh_ms, last_connect_ms;
    bool resync;
    struct lookup *lookups;
    struct handoff *inflight[256];
    unsigned ninflight;
    uint8_t next_id;
    uint8_t rbuf[RG_RADIUS_MAX_LEN];
    /* registry changes from the workers */
    pthread_mutex_t qlock;
    struct note *qhead, *qtail;
    size_t qlen;
    bool qoverflow;
} cl = {.qlock = PTHREAD_MUTEX_INITIALIZER};

bool rg_cluster_enabled(void)
{
    return cl.enabled;
}

rg_secret rg_cluster_secret(void)
{
    return RG_SECRET_OF(&cl);
}

size_t rg_cluster_key(const char *org, enum rg_coa_key_kind kind, const void *value, size_t len,
                      char *buf, size_t cap)
{
    /* The org by length and name (names may hold ':'), the value in hex (it is binary). */
    size_t olen = strlen(org);
    int n = snprintf(buf, cap, "radsecgw:nas:%zu:%s:%u:", olen, org, (unsigned)kind);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t used = (size_t)n;
    const uint8_t *v = value;
    for (size_t i = 0; i < len && used + 2 < cap; i++) {
        static const char hex[] = "0123456789abcdef";
        buf[used++] = hex[v[i] >> 4];
        buf[used++] = hex[v[i] & 15];
    }
    buf[used] = '\0';
    return used;
}

/* ---- Redis connection: one log line per state change ---- */

static void set_up(void)
{
    if (cl.state != REDIS_UP)
        rg_notice("event=cluster_redis state=up redis=%s:%u instance=%s", cl.host, cl.port,
                  cl.instance);
    cl.state = REDIS_UP;
    cl.down_logged = false;
    cl.resync = true; /* whatever was queued or expired meanwhile: publish everything */
}

static void set_down(const char *why)
{
    bool was = cl.state == REDIS_UP || !cl.down_logged;
    cl.state = REDIS_DOWN;
    if (was) {
        snprintf(cl.down_reason, sizeof(cl.down_reason), "%s", why);
        if (!cl.enabled)
            return;
        rg_warn("event=cluster_redis state=down redis=%s:%u reason=\"%s\" coa=local-only", cl.host,
                cl.port, RG_LOG_ESC(why));
        cl.down_logged = true;
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    if (cl.ac == ac)
        cl.ac = NULL;
    set_down(status == REDIS_OK ? "connection closed" : ac->errstr[0] ? ac->errstr : "error");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        if (cl.ac == ac)
            cl.ac = NULL;
        set_down(ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    if (!cl.password[0] && cl.ac == ac)
        set_up();
}

static void on_auth(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    (void)priv;
    if (!reply || cl.ac != ac)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof(why), "AUTH refused: %.120s", reply->str);
        set_down(why);
        redisAsyncDisconnect(ac);
        return;
    }
    set_up();
}

static void redis_connect(void)
{
    cl.last_connect_ms = rg_now_ms();
    redisAsyncContext *ac = redisAsyncConnect(cl.host, cl.port);
    if (!ac || ac->err) {
        set_down(ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        return;
    }
    if (redisLibuvAttach(ac, cl.loop) != REDIS_OK) {
        redisAsyncFree(ac);
        set_down("cannot attach to the loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    cl.ac = ac;
    cl.state = REDIS_CONNECTING;
    if (cl.password[0])
        redisAsyncCommand(ac, on_auth, NULL, "AUTH %s", cl.password);
}

/* Redis did not answer in time: drop the connection (its callbacks run with no reply),
 * route CoA locally, try again from the timer. */
static void redis_abandon(const char *why)
{
    redisAsyncContext *ac = cl.ac;
    set_down(why);
    cl.ac = NULL;
    if (ac)
        redisAsyncFree(ac);
}

/* ---- publishing ---- */

static void publish(bool added, const char *org, enum rg_coa_key_kind kind, const uint8_t *value,
                    size_t len)
{
    char key[600];
    if (!cl.ac || !rg_cluster_key(org, kind, value, len, key, sizeof(key)))
        return;
    if (added)
        redisAsyncCommand(cl.ac, NULL, NULL, "SET %s %s EX %d", key, cl.self, RG_CLUSTER_TTL_S);
    else
        redisAsyncCommand(cl.ac, NULL, NULL, "EVAL %s 1 %s %s", CAS_DEL, key, cl.self);
}

static void publish_entry(void *arg, bool added, const char *org, enum rg_coa_key_kind kind,
                          const uint8_t *value, size_t len)
{
    (void)arg;
    publish(added, org, kind, value, len);
}

void rg_cluster_note(void *arg, bool added, const char *org, enum rg_coa_key_kind kind,
                     const uint8_t *value, size_t len)
{
    (void)arg;
    if (!__atomic_load_n(&cl.enabled, __ATOMIC_RELAXED) || len > 253)
        return;
    struct note *n = malloc(sizeof(*n) + len);
    char *o = strdup(org);
    pthread_mutex_lock(&cl.qlock);
    if (!n || !o || cl.qlen >= RG_CLUSTER_MAX_QUEUE) {
        /* Redis is far behind: forget the details, write everything once it is back. */
        cl.qoverflow = true;
        pthread_mutex_unlock(&cl.qlock);
        free(n);
        free(o);
        return;
    }
    n->next = NULL;
    n->added = added;
    n->kind = (uint8_t)kind;
    n->len = (uint8_t)len;
    n->org = o;
    memcpy(n->value, value, len);
    if (cl.qtail)
        cl.qtail->next = n;
    else
        cl.qhead = n;
    cl.qtail = n;
    cl.qlen++;
    pthread_mutex_unlock(&cl.qlock);
}

static void flush_queue(bool send)
{
    pthread_mutex_lock(&cl.qlock);
    struct note *q = cl.qhead;
    bool overflow = cl.qoverflow;
    cl.qhead = cl.qtail = NULL;
    cl.qlen = 0;
    cl.qoverflow = false;
    pthread_mutex_unlock(&cl.qlock);
    if (overflow)
        cl.resync = true;
    for (struct note *n = q, *next; n; n = next) {
        next = n->next;
        if (send)
            publish(n->added, n->org, (enum rg_coa_key_kind)n->kind, n->value, n->len);
        free(n->org);
        free(n);
    }
}

/* ---- lookups and hand-offs ---- */

static void lookup_unlink(struct lookup *lk)
{
    if (lk->prev)
        lk->prev->next = lk->next;
    else if (cl.lookups == lk)
        cl.lookups = lk->next;
    if (lk->next)
        lk->next->prev = lk->prev;
    lk->next = lk->prev = NULL;
}

static void lookup_answer(struct lookup *lk, int status, const char *why)
{
    if (lk->answered)
        return;
    lk->answered = true;
    lookup_unlink(lk);
    lk->cb(lk->arg, status, NULL, 0, why);
}

static int parse_owner(const char *v, char *name, size_t namelen, struct sockaddr_storage *to)
{
    char host[64];
    unsigned port;
    if (sscanf(v, "%63s %63s %u", name, host, &port) != 3 || port == 0 || port > 65535)
        return -EINVAL;
    (void)namelen;
    memset(to, 0, sizeof(*to));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)to) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)to) != 0)
        return -EINVAL;
    return 0;
}

static void handoff_send(struct lookup *lk, const char *owner, const struct sockaddr_storage *to)
{
    int id = -1;
    for (unsigned i = 0; i < 256 && id < 0; i++) {
        uint8_t c = cl.next_id++;
        if (!cl.inflight[c])
            id = c;
    }
    struct handoff *h = id >= 0 && cl.udp ? calloc(1, sizeof(*h)) : NULL;
    if (!h) {
        lookup_answer(lk, 0, "no room for another hand-off");
        return;
    }
    uint8_t buf[RG_RADIUS_MAX_LEN];
    memcpy(buf, lk->pkt, lk->len);
    struct rg_radius_pkt p = {.data = buf, .cap = sizeof(buf)};
    char tag[HANDOFF_TAG_LEN + 64];
    int tl = snprintf(tag, sizeof(tag), "%s%s", HANDOFF_TAG, lk->client);
    /* The holder trusts the client name because the cluster secret signs it: a
     * Message-Authenticator always, first (deprecating-radius: never without). */
    int rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, tag, (size_t)tl);
    if (rc == 0)
        rc = rg_radius_msgauth_add_first(&p);
    int n = rc == 0 ? rg_translate_coa_request(buf, rg_radius_len(buf), (uint8_t)id,
                                               RG_SECRET_OF(&cl), buf, sizeof(buf), h->sent_auth)
                    : rc;
    uv_buf_t b = uv_buf_init((char *)buf, n > 0 ? (unsigned)n : 0);
    if (n < 0 || uv_udp_try_send(cl.udp, &b, 1, (const struct sockaddr *)to) < 0) {
        free(h);
        lookup_answer(lk, 0, "cannot send the hand-off");
        return;
    }
    h->cb = lk->cb;
    h->arg = lk->arg;
    h->id = (uint8_t)id;
    h->code = buf[0];
    h->to = *to;
    h->deadline_ms = rg_now_ms() + RG_CLUSTER_HANDOFF_MS;
    snprintf(h->owner, sizeof(h->owner), "%s", owner);
    cl.inflight[id] = h;
    cl.ninflight++;
    /* The DAC's request now waits for the holder, not for Redis. */
    lk->answered = true;
    lookup_unlink(lk);
    rg_debug("event=cluster_handoff_sent instance=%s id=%d client=%s", owner, id, lk->client);
}

static void on_lookup(redisAsyncContext *ac, void *r, void *priv)
{
    struct lookup *lk = priv;
    redisReply *reply = r;
    (void)ac;
    lk->in_redis = false;
    if (lk->answered) {
        free(lk);
        return;
    }
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        char why[200];
        snprintf(why, sizeof(why), "Redis gave no answer (%s): local registry only",
                 cl.down_reason[0] ? cl.down_reason : "error");
        lookup_answer(lk, 0, why);
        free(lk);
        return;
    }
    char owner[64] = "", other[64] = "";
    struct sockaddr_storage to;
    for (size_t i = 0; i < reply->elements; i++) {
        redisReply *e = reply->element[i];
        char name[64];
        struct sockaddr_storage a;
        if (e->type != REDIS_REPLY_STRING || parse_owner(e->str, name, sizeof(name), &a) < 0)
            continue;
        if (strcmp(name, cl.instance) == 0)
            continue; /* stale: routed locally already and not found */
        if (!owner[0]) {
            snprintf(owner, sizeof(owner), "%s", name);
            to = a;
        } else if (strcmp(owner, name) != 0) {
            snprintf(other, sizeof(other), "%s", name);
        }
    }
    if (!owner[0]) {
        lookup_answer(lk, 0, "no instance holds the NAS");
    } else if (other[0]) {
        char why[200];
        /* Like local ambiguity: several connections match, none is picked. */
        snprintf(why, sizeof(why), "ambiguous: instances %s and %s hold a matching NAS", owner,
                 other);
        lookup_answer(lk, 0, why);
    } else {
        handoff_send(lk, owner, &to);
    }
    free(lk);
}

int rg_cluster_forward(const struct rg_coa_client *client, const uint8_t *pkt, size_t len,
                       const struct rg_coa_ident *ids, size_t nids, rg_cluster_done_cb cb,
                       void *arg)
{
    if (!cl.enabled || cl.state != REDIS_UP || !cl.ac)
        return -ENOTCONN;
    if (nids == 0 || len > RG_RADIUS_MAX_LEN)
        return -EINVAL;
    if (cl.ninflight >= RG_CLUSTER_MAX_HANDOFFS)
        return -EBUSY;
    /* The first identity, per org the client may reach (the holder matches all of them). */
    enum { MAX_KEYS = 2 * 16 };
    char keys[MAX_KEYS][600];
    const char *argv[MAX_KEYS + 1];
    size_t argvlen[MAX_KEYS + 1];
    int argc = 0;
    argv[argc] = "MGET";
    argvlen[argc++] = 4;
    for (size_t i = 0; i < client->norgs && argc + 2 <= MAX_KEYS; i++) {
        const struct rg_org *o = client->orgs[i];
        if (!o->coa)
            continue;
        for (int k = 0; k < (ids[0].kind == RG_COA_KEY_NAS_ID ? 2 : 1); k++) {
            enum rg_coa_key_kind kind = k ? RG_COA_KEY_CERT_NAME : ids[0].kind;
            size_t n = rg_cluster_key(o->name, kind, ids[0].value, ids[0].len, keys[argc],
                                      sizeof(keys[argc]));
            if (!n)
                continue;
            argv[argc] = keys[argc];
            argvlen[argc++] = n;
        }
    }
    if (argc == 1)
        return -EINVAL;
    struct lookup *lk = calloc(1, sizeof(*lk) + len);
    if (!lk)
        return -ENOMEM;
    lk->cb = cb;
    lk->arg = arg;
    lk->started_ms = rg_now_ms();
    lk->len = (uint16_t)len;
    memcpy(lk->pkt, pkt, len);
    snprintf(lk->client, sizeof(lk->client), "%s", client->name);
    if (redisAsyncCommandArgv(cl.ac, on_lookup, lk, argc, argv, argvlen) != REDIS_OK) {
        free(lk);
        return -ENOTCONN;
    }
    lk->in_redis = true;
    lk->next = cl.lookups;
    if (cl.lookups)
        cl.lookups->prev = lk;
    cl.lookups = lk;
    return 0;
}

static void handoff_finish(struct handoff *h)
{
    cl.inflight[h->id] = NULL;
    cl.ninflight--;
    free(h);
}

static void on_udp_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    (void)hd;
    (void)suggested;
    *buf = uv_buf_init((char *)cl.rbuf, sizeof(cl.rbuf));
}

static void on_udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *sa,
                        unsigned flags)
{
    (void)u;
    (void)flags;
    if (nread <= 0 || !sa)
        return;
    const uint8_t *pkt = (const uint8_t *)buf->base;
    struct rg_radius_error err;
    if (rg_radius_validate(pkt, (size_t)nread, &err) < 0)
        return;
    struct handoff *h = cl.inflight[pkt[1]];
    if (!h || !rg_translate_reply_matches(h->code, pkt[0]) ||
        !rg_sockaddr_equal(sa, (const struct sockaddr *)&h->to)) {
        rg_log_limited("cluster-unmatched", LOG_NOTICE,
                       "event=cluster_answer_dropped reason=\"matches no hand-off\" code=%s id=%u",
                       rg_radius_code_name(pkt[0]), pkt[1]);
        return;
    }
    const char *why = NULL;
    size_t len = rg_radius_len(pkt);
    if (rg_translate_verify_reply(pkt, len, h->sent_auth, RG_SECRET_OF(&cl), &why) < 0) {
        rg_log_limited("cluster-bad", LOG_WARNING,
                       "event=cluster_answer_dropped reason=\"%s\" instance=%s id=%u", why,
                       h->owner, pkt[1]);
        return;
    }
    rg_cluster_done_cb cb = h->cb;
    void *arg = h->arg;
    char owner[64];
    snprintf(owner, sizeof(owner), "%s", h->owner);
    handoff_finish(h);
    cb(arg, 1, pkt, len, owner);
}

int rg_cluster_handoff_check(const uint8_t *pkt, const char **client_name, size_t *name_len)
{
    if (!cl.enabled)
        return 0;
    size_t pos = 0;
    struct rg_radius_attr a, tag = {0};
    bool found = false;
    while (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a))
        if (a.value_len > HANDOFF_TAG_LEN && memcmp(a.value, HANDOFF_TAG, HANDOFF_TAG_LEN) == 0) {
            tag = a;
            found = true;
        }
    if (!found)
        return 0;
    /* Signed with the cluster secret, Message-Authenticator required. */
    if (rg_translate_coa_check_request(pkt, RG_SECRET_OF(&cl)) != NULL ||
        rg_radius_msgauth_verify(pkt, NULL, RG_SECRET_OF(&cl)) != 0)
        return -EBADMSG;
    *client_name = (const char *)tag.value + HANDOFF_TAG_LEN;
    *name_len = tag.value_len - HANDOFF_TAG_LEN;
    return 1;
}

size_t rg_cluster_handoff_strip(uint8_t *pkt)
{
    struct rg_radius_pkt p = {.data = pkt, .cap = rg_radius_len(pkt)};
    for (;;) {
        size_t pos = 0;
        struct rg_radius_attr a;
        bool removed = false;
        while (!removed && rg_radius_attr_find(pkt, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a))
            if (a.value_len > HANDOFF_TAG_LEN && memcmp(a.value, HANDOFF_TAG, HANDOFF_TAG_LEN) == 0)
                removed = rg_radius_attr_remove(&p, a.offset) == 0;
        if (!removed)
            break;
    }
    return rg_radius_len(pkt);
}

/* ---- the timer: flush, refresh, reconnect, timeouts ---- */

static void on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = rg_now_ms();
    /* A lookup past its time: Redis is slow. Dropping the connection answers every lookup
     * (their callbacks run without a reply): CoA is local-only until it is back. */
    bool overdue = false;
    for (struct lookup *lk = cl.lookups; lk && !overdue; lk = lk->next)
        overdue = now - lk->started_ms >= RG_CLUSTER_REDIS_WAIT_MS;
    if (overdue)
        redis_abandon("slow: no answer within 500 ms");
    if (cl.state == REDIS_CONNECTING && now - cl.last_connect_ms >= 2000)
        redis_abandon("connect timeout");
    for (unsigned i = 0; i < 256; i++) {
        struct handoff *h = cl.inflight[i];
        if (h && now >= h->deadline_ms) {
            rg_cluster_done_cb cb = h->cb;
            void *arg = h->arg;
            char owner[64];
            snprintf(owner, sizeof(owner), "%s", h->owner);
            handoff_finish(h);
            cb(arg, -ETIMEDOUT, NULL, 0, owner);
        }
    }
    if (cl.state == REDIS_DOWN) {
        flush_queue(false); /* the full refresh after reconnecting covers them */
        if (now - cl.last_connect_ms >= 1000)
            redis_connect();
        return;
    }
    if (cl.state != REDIS_UP)
        return;
    flush_queue(true);
    if (cl.resync || now - cl.last_refresh_ms >= RG_CLUSTER_REFRESH_MS) {
        cl.resync = false;
        cl.last_refresh_ms = now;
        if (cl.each)
            cl.each(cl.each_arg, publish_entry, NULL);
    }
}

/* ---- start, reload, stop ---- */

static void free_settings(void)
{
    free(cl.instance);
    free(cl.host);
    free(cl.password);
    free(cl.secret);
    free(cl.self);
    cl.instance = cl.host = cl.password = cl.secret = cl.self = NULL;
}

static int take_settings(const struct rg_config *cfg)
{
    free_settings();
    const char *addr = cfg->cluster.address ? cfg->cluster.address : "";
    char self[200];
    snprintf(self, sizeof(self), "%s %s %u", cfg->cluster.instance, addr, cfg->cluster.port);
    cl.instance = strdup(cfg->cluster.instance);
    cl.host = strdup(cfg->cluster.redis_host);
    cl.password = strdup(cfg->cluster.redis_password ? cfg->cluster.redis_password : "");
    cl.secret = strdup(cfg->cluster.secret);
    cl.self = strdup(self);
    cl.secret_len = cfg->cluster.secret_len;
    cl.port = cfg->cluster.redis_port;
    if (!cl.instance || !cl.host || !cl.password || !cl.secret || !cl.self)
        return -ENOMEM;
    return 0;
}

static void on_udp_closed(uv_handle_t *h)
{
    free(h);
}

static void answer_all(const char *why)
{
    while (cl.lookups)
        lookup_answer(cl.lookups, 0, why); /* each freed by its Redis callback */
    for (unsigned i = 0; i < 256; i++) {
        struct handoff *h = cl.inflight[i];
        if (!h)
            continue;
        rg_cluster_done_cb cb = h->cb;
        void *arg = h->arg;
        handoff_finish(h);
        cb(arg, -ETIMEDOUT, NULL, 0, why);
    }
}

int rg_cluster_start(uv_loop_t *loop, const struct rg_config *cfg, rg_cluster_each_fn each,
                     void *each_arg)
{
    cl.loop = loop;
    cl.each = each;
    cl.each_arg = each_arg;
    if (!cfg->cluster.enabled)
        return 0;
    if (take_settings(cfg) < 0)
        return -ENOMEM;
    cl.udp = calloc(1, sizeof(*cl.udp));
    if (!cl.udp)
        return -ENOMEM;
    uv_udp_init(loop, cl.udp);
    struct sockaddr_storage any;
    memset(&any, 0, sizeof(any));
    /* Answers come back to the port hand-offs leave from (any address, a port of its own). */
    bool v6 = strchr(cfg->cluster.address ? cfg->cluster.address : "", ':') != NULL;
    if (v6)
        uv_ip6_addr("::", 0, (struct sockaddr_in6 *)&any);
    else
        uv_ip4_addr("0.0.0.0", 0, (struct sockaddr_in *)&any);
    int rc = uv_udp_bind(cl.udp, (const struct sockaddr *)&any, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(cl.udp, on_udp_alloc, on_udp_recv);
    if (rc < 0) {
        rg_err("event=cluster_start_failed reason=\"hand-off socket: %s\"", rg_strerror(rc));
        uv_close((uv_handle_t *)cl.udp, on_udp_closed);
        cl.udp = NULL;
        return rc;
    }
    uv_timer_init(loop, &cl.timer);
    cl.timer_init = true;
    uv_timer_start(&cl.timer, on_tick, RG_CLUSTER_FLUSH_MS, RG_CLUSTER_FLUSH_MS);
    __atomic_store_n(&cl.enabled, true, __ATOMIC_RELAXED);
    cl.down_logged = false;
    rg_notice("event=cluster_start instance=%s redis=%s:%u coa_address=%s:%u", cl.instance, cl.host,
              cl.port, cfg->cluster.address ? cfg->cluster.address : "-", cfg->cluster.port);
    redis_connect();
    return 0;
}

void rg_cluster_reload(const struct rg_config *cfg)
{
    if (!cl.enabled) {
        if (cfg->cluster.enabled && cl.loop)
            rg_cluster_start(cl.loop, cfg, cl.each, cl.each_arg);
        return;
    }
    if (!cfg->cluster.enabled) {
        rg_cluster_stop();
        return;
    }
    bool same = strcmp(cl.instance, cfg->cluster.instance) == 0 &&
                strcmp(cl.host, cfg->cluster.redis_host) == 0 &&
                cl.port == cfg->cluster.redis_port &&
                strcmp(cl.password, cfg->cluster.redis_password) == 0;
    if (take_settings(cfg) < 0) {
        rg_err("event=cluster_reload_failed reason=\"out of memory\"");
        return;
    }
    if (!same) {
        redis_abandon("reconnecting with the new cluster settings");
        redis_connect();
    }
    cl.resync = true;
}

void rg_cluster_stop(void)
{
    if (!cl.enabled)
        return;
    __atomic_store_n(&cl.enabled, false, __ATOMIC_RELAXED);
    answer_all("stopping");
    cl.state = REDIS_DOWN;
    cl.down_logged = true; /* no "down" line for our own stop */
    if (cl.ac) {
        redisAsyncContext *ac = cl.ac;
        cl.ac = NULL;
        redisAsyncFree(ac);
    }
    if (cl.timer_init) {
        uv_close((uv_handle_t *)&cl.timer, NULL);
        cl.timer_init = false;
    }
    if (cl.udp) {
        uv_close((uv_handle_t *)cl.udp, on_udp_closed);
        cl.udp = NULL;
    }
    flush_queue(false);
}

void rg_cluster_shutdown(void)
{
    flush_queue(false);
    free_settings();
}
