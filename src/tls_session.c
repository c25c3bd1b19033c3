/* TLS session resumption (radiusdtls-bis "TLS Session Resumption") through tickets whose state
 * is this process's own bounded cache: the verified peer chain and the ticket's secrets stay
 * here, the client holds only a random handle. Which org a resumed session gets is decided
 * again by tls_peer.c from the kept chain, under the configuration in force. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "radsecgw/common.h"
#include "radsecgw/log.h"
#include "radsecgw/radius11.h"
#include "radsecgw/tls.h"
#include "tls_internal.h"

/* wolfSSL 5.5 cannot keep the client certificate in a ticket: its ticket has a fixed size
 * (the master secret and a few fields) and, built without SESSION_CERTS, a resumed session has
 * no peer certificate at all. So a ticket here is an unguessable handle (the key name, 16
 * random octets, picks the entry; the IV and MAC fields, 48 more, must match it) to an entry
 * holding what wolfSSL would have encrypted into it and the chain the verify callback kept.
 * Nothing secret leaves the process; an entry is wiped when it goes. One lock for all
 * workers, taken about once per handshake. */

#define HANDLE_LEN WOLFSSL_TICKET_NAME_SZ
#define CHECK_LEN  (WOLFSSL_TICKET_IV_SZ + WOLFSSL_TICKET_MAC_SZ)

struct entry {
    uint8_t id[HANDLE_LEN];
    uint8_t check[CHECK_LEN];
    struct entry *hnext;                 /* hash chain */
    struct entry *older, *newer;         /* age list */
    struct org_share *share;             /* its org's record, once confirmed; else NULL */
    struct entry *org_older, *org_newer; /* age list of that org's confirmed entries */
    time_t auth_time;                    /* the full handshake's, carried over by resumptions */
    time_t expires;                      /* auth_time + session-lifetime, lowered to the notAfter */
    bool confirmed;                      /* the connection it was issued on was accepted */
    bool tls13;            /* issued in TLS 1.3 (else 1.2): resumes only in that version */
    uint8_t policy[32];    /* the cipher list and min-version it was negotiated under */
    int proto;             /* enum rg_radius_proto of that connection */
    uint8_t ca_digest[32]; /* that org's CA files then */
    size_t data_len;       /* octets at data */
    int secret_len;        /* wolfSSL's ticket contents, at secret */
    int nchain;
    int chain_len[CHAIN_MAX];
    uint8_t *secret; /* points into data */
    uint8_t *chain;  /* points into data, after the secret */
    uint8_t data[];
};

/* The confirmed entries of one org: how many and which is oldest. The cache is shared fairly
 * (tenants never reach each other): over session-cache, the org holding the most gives up its
 * own oldest, so an org under its share keeps its sessions whoever grows, and an org alone
 * can use the whole cache. A record lives while the org has confirmed entries (the last one
 * gone frees it), so there are never more than the orgs configured since. */
struct org_share {
    struct org_share *next; /* the cache's list of records */
    size_t n;
    struct entry *oldest, *newest;
    char name[]; /* the org's name */
};

static struct {
    pthread_mutex_t lock;
    struct entry **buckets; /* malloced, owned; nbuckets a power of two */
    size_t nbuckets;
    size_t n;
    size_t nconfirmed; /* at most tls.session-cache; the others wait for their handshake */
    struct entry *oldest, *newest;
    struct org_share *shares; /* malloced, owned: one per org with confirmed entries */
    struct rg_tls_session_stats stats;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t bucket_of(const uint8_t *id)
{
    uint64_t h;
    memcpy(&h, id, sizeof(h)); /* the id is random */
    return (size_t)h & (cache.nbuckets - 1);
}

static struct entry *find(const uint8_t *id)
{
    if (!cache.nbuckets)
        return NULL;
    for (struct entry *e = cache.buckets[bucket_of(id)]; e; e = e->hnext)
        if (memcmp(e->id, id, HANDLE_LEN) == 0)
            return e;
    return NULL;
}

static void entry_free(struct entry *e)
{
    /* The master secret and the handle: gone from memory with the entry. */
    explicit_bzero(e, sizeof(*e) + e->data_len);
    free(e);
}

/* The record of the org named, made if it has none; NULL if out of memory. */
static struct org_share *share_of(const char *org)
{
    for (struct org_share *s = cache.shares; s; s = s->next)
        if (strcmp(s->name, org) == 0)
            return s;
    size_t len = strlen(org) + 1;
    struct org_share *s = calloc(1, sizeof(*s) + len);
    if (!s)
        return NULL;
    memcpy(s->name, org, len);
    s->next = cache.shares;
    cache.shares = s;
    return s;
}

static void share_add(struct org_share *s, struct entry *e)
{
    e->share = s;
    e->org_newer = NULL;
    e->org_older = s->newest;
    if (s->newest)
        s->newest->org_newer = e;
    else
        s->oldest = e;
    s->newest = e;
    s->n++;
}

static void share_remove(struct entry *e)
{
    struct org_share *s = e->share;
    if (e->org_older)
        e->org_older->org_newer = e->org_newer;
    else
        s->oldest = e->org_newer;
    if (e->org_newer)
        e->org_newer->org_older = e->org_older;
    else
        s->newest = e->org_older;
    e->share = NULL;
    if (--s->n)
        return;
    struct org_share **pp = &cache.shares;
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    free(s);
}

static void unlink_entry(struct entry *e)
{
    struct entry **pp = &cache.buckets[bucket_of(e->id)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->older)
        e->older->newer = e->newer;
    else
        cache.oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        cache.newest = e->older;
    cache.n--;
    if (e->confirmed)
        cache.nconfirmed--;
    if (e->share)
        share_remove(e);
}

static void drop(struct entry *e)
{
    unlink_entry(e);
    entry_free(e);
}

/* Until at most max confirmed entries are left, the org holding the most gives up its oldest
 * (struct org_share); O(orgs) each. Entries still waiting for their handshake are not counted
 * and not evicted: a peer whose handshake is then refused cannot push out the sessions of
 * accepted ones. They are bounded by the handshakes in progress. */
static size_t evict_to(size_t max)
{
    size_t dropped = 0;
    while (cache.nconfirmed > max) {
        struct org_share *most = cache.shares;
        for (struct org_share *s = cache.shares; s; s = s->next)
            if (s->n > most->n)
                most = s;
        RG_REQUIRE(most && most->oldest);
        drop(most->oldest);
        dropped++;
    }
    return dropped;
}

/* The entry the id names, dropped if there. */
static void drop_id(const uint8_t *id)
{
    struct entry *e = find(id);
    if (e)
        drop(e);
}

/* Enough buckets for max entries (about one each); grows, never shrinks. */
static int reserve(size_t max)
{
    size_t want = 256;
    while (want < max && want < ((size_t)1 << 24))
        want <<= 1;
    if (want <= cache.nbuckets)
        return 0;
    struct entry **b = calloc(want, sizeof(*b));
    if (!b)
        return -ENOMEM;
    struct entry **old = cache.buckets;
    size_t nold = cache.nbuckets;
    cache.buckets = b;
    cache.nbuckets = want;
    for (size_t i = 0; i < nold; i++)
        for (struct entry *e = old[i], *next; e; e = next) {
            next = e->hnext;
            size_t k = bucket_of(e->id);
            e->hnext = b[k];
            b[k] = e;
        }
    free(old);
    return 0;
}

static const struct org_trust *org_named(const struct rg_tls_ctx *tc, const char *name)
{
    for (size_t i = 0; tc && i < tc->norgs; i++)
        if (strcmp(tc->orgs[i].org->name, name) == 0)
            return &tc->orgs[i];
    return NULL;
}

#ifdef HAVE_SESSION_TICKET

/* A new ticket for ssl: keep what wolfSSL asked to encrypt (buf, len) and the peer's chain,
 * give wolfSSL random octets in their place. */
static int issue(struct rg_tls_ctx *tc, WOLFSSL *ssl, uint8_t *name, uint8_t *iv, uint8_t *mac,
                 uint8_t *buf, int len, int *outlen)
{
    struct resume_state *rs = rg_tls_resume_of(ssl);
    struct peer_chain pc;
    rg_tls_peer_chain(ssl, &pc);
    size_t total = (size_t)len;
    for (int i = 0; i < pc.n; i++)
        total += (size_t)pc.len[i];
    if (!rs || len <= 0)
        return WOLFSSL_TICKET_RET_FATAL;
    struct entry *e = calloc(1, sizeof(*e) + total);
    if (!e)
        return WOLFSSL_TICKET_RET_FATAL;
    rg_random_bytes(e->id, HANDLE_LEN);
    rg_random_bytes(e->check, CHECK_LEN);
    /* A ticket given on a resumed session (TLS 1.3) does not extend the time since the peer
     * last proved its key with a full handshake (RFC 8446 §4.6.1). */
    e->auth_time = rs->restored ? rs->auth_time : time(NULL);
    e->expires = e->auth_time + (time_t)tc->cfg->tls.session_lifetime_s;
    e->tls13 = wolfSSL_GetVersion(ssl) == WOLFSSL_TLSV1_3;
    memcpy(e->policy, tc->policy_digest, sizeof(e->policy));
    e->data_len = total;
    e->secret = e->data;
    e->secret_len = len;
    memcpy(e->secret, buf, (size_t)len);
    e->chain = e->data + len;
    e->nchain = pc.n;
    uint8_t *p = e->chain;
    for (int i = 0; i < pc.n; i++) {
        memcpy(p, pc.der[i], (size_t)pc.len[i]);
        e->chain_len[i] = pc.len[i];
        p += pc.len[i];
    }

    pthread_mutex_lock(&cache.lock);
    if (reserve(tc->cfg->tls.session_cache) < 0) {
        pthread_mutex_unlock(&cache.lock);
        explicit_bzero(e, sizeof(*e) + total);
        free(e);
        return WOLFSSL_TICKET_RET_FATAL;
    }
    /* A connection gets one ticket (TLS 1.3: one per handshake); another replaces it. */
    if (rs->have_issued) {
        struct entry *prev = find(rs->issued);
        if (prev && !prev->confirmed)
            drop(prev);
    }
    size_t k = bucket_of(e->id);
    e->hnext = cache.buckets[k];
    cache.buckets[k] = e;
    e->older = cache.newest;
    if (cache.newest)
        cache.newest->newer = e;
    else
        cache.oldest = e;
    cache.newest = e;
    cache.n++;
    cache.stats.issued++;
    memcpy(rs->issued, e->id, HANDLE_LEN);
    rs->have_issued = true;
    rs->confirmed = false;
    pthread_mutex_unlock(&cache.lock);

    memcpy(name, e->id, HANDLE_LEN);
    memcpy(iv, e->check, WOLFSSL_TICKET_IV_SZ);
    memcpy(mac, e->check + WOLFSSL_TICKET_IV_SZ, WOLFSSL_TICKET_MAC_SZ);
    rg_random_bytes(buf, (size_t)len); /* what the client holds: no secret of ours */
    *outlen = len;
    return WOLFSSL_TICKET_RET_OK;
}

/* A client offers a ticket: give wolfSSL back its contents and put the kept chain on ssl, or
 * say no (a full handshake follows). Only an entry whose connection was accepted, offered in
 * the TLS version it was issued in, not past its lifetime or its chain's notAfter, negotiated
 * under the cipher list and min-version in force, and whose org still has the same CA files,
 * resumes; the org itself is decided again after the handshake (rg_tls_peer_identify). The
 * entry is not used up here: wolfSSL may ask again (once per cipher suite and identity, and
 * after a HelloRetryRequest), and the peer has proved nothing yet. A TLS 1.3 ticket is used
 * once, dropped when the resumed connection is accepted (rg_tls_session_confirm: it brings a
 * new one) or refused (rg_tls_session_forget); wolfSSL 5.5 sends no new ticket on a resumed
 * TLS 1.2 session, so a TLS 1.2 entry stays until its lifetime ends (RFC 5077 §3.3 lets a
 * client offer a ticket again) or a connection resumed from it is refused. */
static int resume(struct rg_tls_ctx *tc, WOLFSSL *ssl, const uint8_t *name, const uint8_t *iv,
                  const uint8_t *mac, uint8_t *buf, int len, int *outlen)
{
    struct resume_state *rs = rg_tls_resume_of(ssl);
    if (!rs)
        return WOLFSSL_TICKET_RET_REJECT;
    bool tls13 = wolfSSL_GetVersion(ssl) == WOLFSSL_TLSV1_3;
    uint8_t check[CHECK_LEN];
    memcpy(check, iv, WOLFSSL_TICKET_IV_SZ);
    memcpy(check + WOLFSSL_TICKET_IV_SZ, mac, WOLFSSL_TICKET_MAC_SZ);
    const char *why = NULL;
    char org[64] = "";
    char *own_org = NULL;
    int ret = WOLFSSL_TICKET_RET_REJECT;

    pthread_mutex_lock(&cache.lock);
    struct entry *e = find(name);
    if (!e || rg_memcmp_ct(check, e->check, CHECK_LEN) != 0) {
        cache.stats.unknown++;
        pthread_mutex_unlock(&cache.lock);
        return WOLFSSL_TICKET_RET_REJECT;
    }
    if (e->tls13 != tls13) {
        /* Kept: anyone can replay a ticket seen in clear in another version's ClientHello. */
        cache.stats.rejected++;
        pthread_mutex_unlock(&cache.lock);
        return WOLFSSL_TICKET_RET_REJECT;
    }
    if (e->confirmed && e->proto == RG_PROTO_RADIUS_11 && rs->offered != RG_PROTO_RADIUS_11) {
        /* RFC 9765 §"Session Resumption": no down-bidding; the server MUST close the
         * connection with a TLS error. wolfSSL 5.5 takes FATAL for a TLS 1.3 PSK like REJECT
         * (it goes on to a full handshake), so the connection closes it, with an alert in
         * place of the answer to this ClientHello (rg_tls_resume_downgraded). Kept: the handle
         * is sent in clear, and whoever replays it without radius/1.1 loses only their own
         * connection. */
        cache.stats.rejected++;
        rs->downgraded = true;
        pthread_mutex_unlock(&cache.lock);
        return WOLFSSL_TICKET_RET_FATAL;
    }
    const char *e_org = e->share ? e->share->name : NULL; /* the org it was accepted for */
    const struct org_trust *ot = e->confirmed ? org_named(tc, e_org) : NULL;
    if (!e->confirmed)
        why = "its connection was not accepted";
    else if (time(NULL) >= e->expires)
        why = "expired";
    else if (!ot)
        why = "its org is no longer configured";
    else if (memcmp(ot->ca_digest, e->ca_digest, sizeof(e->ca_digest)) != 0)
        why = "its org's CA files changed";
    else if (memcmp(tc->policy_digest, e->policy, sizeof(e->policy)) != 0)
        why = "the cipher list or min-version changed";
    else if (e->secret_len != len)
        why = "ticket size differs";
    else if (!(own_org = strdup(e_org)))
        why = "out of memory";
    if (e_org)
        snprintf(org, sizeof(org), "%s", e_org);
    if (!why && rg_tls_chain_set(ssl, e->chain, e->chain_len, e->nchain) == 0) {
        free(rs->org);
        rs->org = own_org;
        own_org = NULL;
        rs->proto = e->proto;
        rs->restored = true;
        rs->auth_time = e->auth_time;
        memcpy(rs->resumed, e->id, HANDLE_LEN);
        memcpy(buf, e->secret, (size_t)len);
        *outlen = len;
        ret = WOLFSSL_TICKET_RET_OK;
    } else {
        cache.stats.rejected++;
        drop(e); /* a refused one never again */
    }
    pthread_mutex_unlock(&cache.lock);
    free(own_org);
    if (why)
        rg_debug("event=tls_resume_refused org=%s reason=\"%s\" effect=\"full handshake\"",
                 org[0] ? org : "-", why);
    return ret;
}

static int ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
                     unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                     unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *buf, int len,
                     int *outlen, void *arg)
{
    struct rg_tls_ctx *tc = arg;
    if (!tc)
        return WOLFSSL_TICKET_RET_FATAL;
    return enc ? issue(tc, ssl, name, iv, mac, buf, len, outlen)
               : resume(tc, ssl, name, iv, mac, buf, len, outlen);
}

#endif /* HAVE_SESSION_TICKET */

void rg_tls_session_setup(struct rg_tls_ctx *tc)
{
#ifdef HAVE_SESSION_TICKET
    if (tc->cfg->tls.session_cache > 0) {
        unsigned life = tc->cfg->tls.session_lifetime_s;
        wolfSSL_CTX_set_TicketEncCb(tc->ctx, ticket_cb);
        wolfSSL_CTX_set_TicketEncCtx(tc->ctx, tc);
        wolfSSL_CTX_set_TicketHint(tc->ctx, (int)life); /* the lifetime clients are told */
        wolfSSL_CTX_set_timeout(tc->ctx, life);         /* wolfSSL's own age check (TLS 1.3) */
        wolfSSL_CTX_set_num_tickets(tc->ctx, 1);
#ifdef WOLFSSL_EARLY_DATA
        wolfSSL_CTX_set_max_early_data(tc->ctx, 0); /* never 0-RTT (radiusdtls-bis) */
#endif
        return;
    }
    wolfSSL_CTX_NoTicketTLSv12(tc->ctx);
    wolfSSL_CTX_no_ticket_TLSv13(tc->ctx);
#else
    (void)tc;
#endif
}

/* A connection that neither got a ticket nor offered one has nothing in the cache: most of
 * those closed or refused (garbage, slowloris, refused certificates) never take the lock. */
static bool in_cache(const struct resume_state *rs)
{
    return rs->have_issued || rs->restored;
}

void rg_tls_session_ssl_gone(WOLFSSL *ssl, struct resume_state *rs)
{
    if (!in_cache(rs))
        return;
    pthread_mutex_lock(&cache.lock);
    if (rs->have_issued && !rs->confirmed) {
        struct entry *e = find(rs->issued);
        if (e && !e->confirmed)
            drop(e);
    }
    /* A TLS 1.3 ticket that wolfSSL resumed is used up, whatever became of the connection. */
    if (rs->restored && wolfSSL_session_reused(ssl) && wolfSSL_GetVersion(ssl) == WOLFSSL_TLSV1_3)
        drop_id(rs->resumed);
    pthread_mutex_unlock(&cache.lock);
    rs->have_issued = false;
}

void rg_tls_session_forget(WOLFSSL *ssl)
{
    struct resume_state *rs = rg_tls_resume_of(ssl);
    if (!rs || !in_cache(rs))
        return;
    pthread_mutex_lock(&cache.lock);
    if (rs->have_issued)
        drop_id(rs->issued);
    /* Only once the peer has finished the handshake: a ticket seen in clear and replayed by
     * someone else, whose handshake then fails, does not take the owner's session. */
    if (rs->restored && wolfSSL_session_reused(ssl) && wolfSSL_is_init_finished(ssl))
        drop_id(rs->resumed);
    pthread_mutex_unlock(&cache.lock);
    rs->have_issued = rs->confirmed = false;
}

void rg_tls_session_confirm(struct rg_tls_ctx *ctx, WOLFSSL *ssl, const struct rg_tls_peer *peer,
                            int proto)
{
    struct resume_state *rs = rg_tls_resume_of(ssl);
    if (!rs || !peer->org)
        return;
    bool resumed = rs->restored && wolfSSL_session_reused(ssl);
    const struct org_trust *ot = org_named(ctx, peer->org->name);
    pthread_mutex_lock(&cache.lock);
    if (resumed) {
        cache.stats.resumed++;
        if (wolfSSL_GetVersion(ssl) == WOLFSSL_TLSV1_3)
            drop_id(rs->resumed); /* used once: this connection got a ticket of its own */
    }
    struct entry *e = rs->have_issued ? find(rs->issued) : NULL;
    struct org_share *share = e && ot && !e->confirmed ? share_of(peer->org->name) : NULL;
    if (share) {
        e->confirmed = true;
        share_add(share, e);
        cache.nconfirmed++;
        e->proto = proto;
        memcpy(e->ca_digest, ot->ca_digest, sizeof(e->ca_digest));
        if (peer->not_after && peer->not_after < e->expires)
            e->expires = peer->not_after;
        rs->confirmed = true;
        cache.stats.evicted += evict_to(ctx->cfg->tls.session_cache);
    } else if (e && !e->confirmed) {
        drop(e);
    }
    pthread_mutex_unlock(&cache.lock);
}

int rg_tls_resumed(WOLFSSL *ssl)
{
    const struct resume_state *rs = rg_tls_resume_of(ssl);
    if (!rs || !wolfSSL_session_reused(ssl))
        return -1;
    return rs->restored ? rs->proto : -EPROTO;
}

bool rg_tls_resume_downgraded(const WOLFSSL *ssl)
{
    const struct resume_state *rs = rg_tls_resume_of(ssl);
    return rs && rs->downgraded;
}

size_t rg_tls_session_prune(const struct rg_tls_ctx *now)
{
    size_t dropped = 0;
    time_t t = time(NULL);
    size_t max = now ? now->cfg->tls.session_cache : 0;
    pthread_mutex_lock(&cache.lock);
    for (struct entry *e = cache.oldest, *next; e; e = next) {
        next = e->newer;
        const struct org_trust *ot = e->confirmed ? org_named(now, e->share->name) : NULL;
        if (e->confirmed && (t >= e->expires || !ot ||
                             memcmp(ot->ca_digest, e->ca_digest, sizeof(e->ca_digest)) != 0)) {
            drop(e);
            dropped++;
        }
    }
    dropped += evict_to(max);
    cache.stats.evicted += dropped;
    pthread_mutex_unlock(&cache.lock);
    return dropped;
}

void rg_tls_session_stats(struct rg_tls_session_stats *out)
{
    pthread_mutex_lock(&cache.lock);
    *out = cache.stats;
    out->kept = cache.n;
    pthread_mutex_unlock(&cache.lock);
}
