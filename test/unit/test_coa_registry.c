/* Tests of src/coa_registry.c (pure): the NAS registry (learn, match per org on every
 * identification attribute, forget a connection's keys, bounds) and routing a client's
 * request to its own orgs' NASes only. The CoA translation is test_translate_coa.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "radsecgw/coa.h"
#include "radsecgw/common.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/translate.h"

static struct rg_coa_conn *conn_new(unsigned worker, uint64_t id, const char *org)
{
    struct rg_coa_conn *cc = calloc(1, sizeof(*cc));
    cc->worker = worker;
    cc->conn_id = id;
    cc->org = strdup(org);
    snprintf(cc->addr, sizeof(cc->addr), "127.0.0.1:%u", (unsigned)(40000 + id));
    return cc;
}

static void conn_free(struct rg_coa_registry *r, struct rg_coa_conn *cc)
{
    rg_coa_registry_remove_conn(r, cc);
    free(cc->org);
    free(cc);
}

/* Connections of org carrying one identity. */
static size_t find1(struct rg_coa_registry *r, const char *org, enum rg_coa_key_kind kind,
                    const void *value, size_t len, struct rg_coa_target *t, size_t max)
{
    struct rg_coa_ident id = {.kind = kind, .value = value, .len = len};
    return rg_coa_registry_match(r, org, &id, 1, t, max);
}

static void test_registry_learn_find_forget(void **state)
{
    (void)state;
    struct rg_coa_registry r;
    struct rg_coa_target t[4];
    assert_int_equal(rg_coa_registry_init(&r), 0);
    struct rg_coa_conn *a = conn_new(0, 11, "acme"), *b = conn_new(1, 22, "acme");
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_ID, "ap-1", 4), 1);
    /* Known already: the per-connection cache answers, nothing is added. */
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_ID, "ap-1", 4), 0);
    assert_int_equal(a->nkeys, 1);
    uint8_t ip[4] = {192, 0, 2, 7};
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_IP, ip, 4), 1);

    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_ID, "ap-1", 4, t, 4), 1);
    assert_int_equal(t[0].worker, 0);
    assert_int_equal(t[0].conn_id, 11);
    assert_string_equal(t[0].addr, "127.0.0.1:40011");
    /* Kind is part of the key: the same octets as another kind do not match. */
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_OPERATOR_NAS_ID, "ap-1", 4, t, 4), 0);
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_ID, "ap-2", 4, t, 4), 0);
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_IP, ip, 4, t, 4), 1);

    /* A second connection of the org claims the same NAS-Identifier: both match. */
    assert_int_equal(rg_coa_registry_add(&r, b, RG_COA_KEY_NAS_ID, "ap-1", 4), 1);
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_ID, "ap-1", 4, t, 4), 2);
    /* ... but only one also carries the NAS-IP-Address: every attribute must match */
    struct rg_coa_ident both[2] = {{RG_COA_KEY_NAS_ID, (const uint8_t *)"ap-1", 4},
                                   {RG_COA_KEY_NAS_IP, ip, 4}};
    assert_int_equal(rg_coa_registry_match(&r, "acme", both, 2, t, 4), 1);
    assert_int_equal(t[0].conn_id, 11);
    /* in either order */
    struct rg_coa_ident rev[2] = {both[1], both[0]};
    assert_int_equal(rg_coa_registry_match(&r, "acme", rev, 2, t, 4), 1);
    assert_int_equal(t[0].conn_id, 11);
    assert_int_equal(rg_coa_registry_match(&r, "acme", both, 0, t, 4), 0);

    /* The second connection closes: every one of its keys goes, the first still matches. */
    rg_coa_registry_remove_conn(&r, b);
    assert_int_equal(b->nkeys, 0);
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_ID, "ap-1", 4, t, 4), 1);
    assert_int_equal(t[0].conn_id, 11);
    rg_coa_registry_remove_conn(&r, a);
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_ID, "ap-1", 4, t, 4), 0);
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_IP, ip, 4, t, 4), 0);
    assert_int_equal(r.nkeys, 0);
    conn_free(&r, a);
    conn_free(&r, b);
    rg_coa_registry_free(&r);
}

/* What the cluster is told (rg_coa_registry_watch): every registration, and a name once
 * its last holder closed; nothing once unwatched. */
struct change {
    bool added;
    char org[16];
    enum rg_coa_key_kind kind;
    uint8_t value[16];
    size_t len;
};
struct changes {
    struct change c[8];
    unsigned n;
};

static void on_change(void *arg, bool added, const char *org, enum rg_coa_key_kind kind,
                      const uint8_t *value, size_t len)
{
    struct changes *ch = arg;
    assert_true(ch->n < 8 && len <= sizeof(ch->c[0].value));
    struct change *c = &ch->c[ch->n++];
    c->added = added;
    snprintf(c->org, sizeof(c->org), "%s", org);
    c->kind = kind;
    memcpy(c->value, value, len);
    c->len = len;
}

static void test_registry_reports_changes(void **state)
{
    (void)state;
    struct rg_coa_registry r;
    struct changes ch = {.n = 0};
    assert_int_equal(rg_coa_registry_init(&r), 0);
    rg_coa_registry_watch(&r, on_change, &ch);
    struct rg_coa_conn *a = conn_new(0, 1, "acme"), *b = conn_new(1, 2, "acme");
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_ID, "ap-1", 4), 1);
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_ID, "ap-1", 4), 0); /* known */
    assert_int_equal(rg_coa_registry_add(&r, b, RG_COA_KEY_NAS_ID, "ap-1", 4), 1);
    assert_int_equal(ch.n, 2);
    assert_true(ch.c[0].added && ch.c[1].added);
    assert_string_equal(ch.c[0].org, "acme");
    assert_int_equal(ch.c[0].kind, RG_COA_KEY_NAS_ID);
    assert_int_equal(ch.c[0].len, 4);
    assert_memory_equal(ch.c[0].value, "ap-1", 4);
    /* a still holds the name: b's close removes nothing from the cluster's view */
    rg_coa_registry_remove_conn(&r, b);
    assert_int_equal(ch.n, 2);
    rg_coa_registry_remove_conn(&r, a);
    assert_int_equal(ch.n, 3);
    assert_false(ch.c[2].added);
    assert_memory_equal(ch.c[2].value, "ap-1", 4);
    /* the refresh lists what is held, as additions */
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_OPERATOR_NAS_ID, "op", 2), 1);
    ch.n = 0;
    rg_coa_registry_each(&r, on_change, &ch);
    assert_int_equal(ch.n, 1);
    assert_true(ch.c[0].added);
    assert_int_equal(ch.c[0].kind, RG_COA_KEY_OPERATOR_NAS_ID);
    /* unwatched: no more reports */
    rg_coa_registry_watch(&r, NULL, NULL);
    ch.n = 0;
    assert_int_equal(rg_coa_registry_add(&r, b, RG_COA_KEY_NAS_ID, "ap-2", 4), 1);
    rg_coa_registry_remove_conn(&r, a);
    rg_coa_registry_remove_conn(&r, b);
    assert_int_equal(ch.n, 0);
    conn_free(&r, a);
    conn_free(&r, b);
    rg_coa_registry_free(&r);
}

/* The NAS identification attributes and how a log line shows them (the registry's debug
 * line and every CoA's nas= fields use the same text). */
static void test_ident_kind_and_text(void **state)
{
    (void)state;
    enum rg_coa_key_kind kind;
    const char *key;
    assert_true(rg_coa_ident_kind(RG_RADIUS_ATTR_NAS_IP_ADDRESS, &kind, &key));
    assert_int_equal(kind, RG_COA_KEY_NAS_IP);
    assert_string_equal(key, "nas_ip_address");
    assert_true(rg_coa_ident_kind(RG_RADIUS_ATTR_NAS_IPV6_ADDRESS, &kind, &key));
    assert_int_equal(kind, RG_COA_KEY_NAS_IPV6);
    assert_string_equal(key, "nas_ipv6_address");
    assert_true(rg_coa_ident_kind(RG_RADIUS_ATTR_NAS_IDENTIFIER, &kind, &key));
    assert_int_equal(kind, RG_COA_KEY_NAS_ID);
    assert_string_equal(key, "nas_identifier");
    assert_true(rg_coa_ident_kind(RG_RADIUS_ATTR_OPERATOR_NAS_IDENTIFIER, &kind, &key));
    assert_int_equal(kind, RG_COA_KEY_OPERATOR_NAS_ID);
    assert_string_equal(key, "operator_nas_identifier");
    assert_false(rg_coa_ident_kind(RG_RADIUS_ATTR_USER_NAME, &kind, &key));

    char buf[100];
    const uint8_t v4[4] = {192, 0, 2, 7};
    const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 7};
    assert_string_equal(rg_coa_ident_text(RG_COA_KEY_NAS_IP, v4, 4, buf, sizeof(buf)), "192.0.2.7");
    assert_string_equal(rg_coa_ident_text(RG_COA_KEY_NAS_IPV6, v6, 16, buf, sizeof(buf)),
                        "2001:db8::7");
    /* a malformed address, and names, are escaped octets, never formatted as addresses */
    assert_string_equal(rg_coa_ident_text(RG_COA_KEY_NAS_IP, v4, 3, buf, sizeof(buf)),
                        "\\xc0\\x00\\x02");
    assert_string_equal(rg_coa_ident_text(RG_COA_KEY_NAS_ID, v4, 4, buf, sizeof(buf)),
                        "\\xc0\\x00\\x02\\x07");
    assert_string_equal(
        rg_coa_ident_text(RG_COA_KEY_NAS_ID, (const uint8_t *)"ap\"1", 4, buf, sizeof(buf)),
        "ap\\\"1");
}

/* Identities are registered per org: an AP of one org claiming another org's NAS-Identifier
 * (or sharing its certificate CN) is invisible to lookups in the other org. */
static void test_registry_scoped_by_org(void **state)
{
    (void)state;
    struct rg_coa_registry r;
    struct rg_coa_target t[4];
    assert_int_equal(rg_coa_registry_init(&r), 0);
    struct rg_coa_conn *a = conn_new(0, 1, "acme"), *g = conn_new(1, 2, "globex");
    struct rg_coa_conn *a2 = conn_new(0, 3, "acme-corp"); /* a name another one starts with */
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_CERT_NAME, "Q2AA", 4), 1);
    assert_int_equal(rg_coa_registry_add(&r, g, RG_COA_KEY_CERT_NAME, "Q2AA", 4), 1);
    assert_int_equal(rg_coa_registry_add(&r, g, RG_COA_KEY_NAS_ID, "ap-a", 4), 1);
    assert_int_equal(rg_coa_registry_add(&r, a2, RG_COA_KEY_NAS_ID, "ap-a", 4), 1);
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_ID, "ap-a", 4), 1);

    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_ID, "ap-a", 4, t, 4), 1);
    assert_int_equal(t[0].conn_id, 1);
    assert_int_equal(find1(&r, "globex", RG_COA_KEY_NAS_ID, "ap-a", 4, t, 4), 1);
    assert_int_equal(t[0].conn_id, 2);
    assert_int_equal(find1(&r, "acme-corp", RG_COA_KEY_NAS_ID, "ap-a", 4, t, 4), 1);
    assert_int_equal(t[0].conn_id, 3);
    assert_int_equal(find1(&r, "initech", RG_COA_KEY_NAS_ID, "ap-a", 4, t, 4), 0);
    /* A NAS-Identifier also finds a certificate name, within the org only */
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_ID, "Q2AA", 4, t, 4), 1);
    assert_int_equal(t[0].conn_id, 1);
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_CERT_NAME, "Q2AA", 4, t, 4), 1);
    /* A connection matching by both NAS-Identifier and CN counts once. */
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_ID, "Q2AA", 4), 1);
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_ID, "Q2AA", 4, t, 4), 1);
    /* The per-connection hash includes the org */
    assert_true(rg_coa_key_hash("acme", RG_COA_KEY_NAS_ID, "x", 1) !=
                rg_coa_key_hash("globex", RG_COA_KEY_NAS_ID, "x", 1));
    conn_free(&r, a);
    conn_free(&r, g);
    conn_free(&r, a2);
    assert_int_equal(r.nkeys, 0);
    rg_coa_registry_free(&r);
}

static void test_registry_bounded_per_connection(void **state)
{
    (void)state;
    struct rg_coa_registry r;
    assert_int_equal(rg_coa_registry_init(&r), 0);
    struct rg_coa_conn *a = conn_new(0, 1, "acme");
    char name[16];
    for (unsigned i = 0; i < RG_COA_CONN_KEYS; i++) {
        snprintf(name, sizeof(name), "nas-%u", i);
        assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_ID, name, strlen(name)), 1);
    }
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_ID, "one-more", 8), -ENOSPC);
    assert_int_equal(rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_ID, "", 0), -EINVAL);
    conn_free(&r, a);
    rg_coa_registry_free(&r);
}

static void test_registry_grows(void **state)
{
    (void)state;
    struct rg_coa_registry r;
    struct rg_coa_target t[RG_COA_MAX_MATCHES];
    assert_int_equal(rg_coa_registry_init(&r), 0);
    enum { NCONN = 600 };
    struct rg_coa_conn *c[NCONN];
    char name[32];
    for (unsigned i = 0; i < NCONN; i++) {
        c[i] = conn_new(i % 4, 1000 + i, "acme");
        snprintf(name, sizeof(name), "ap-%u", i);
        assert_int_equal(rg_coa_registry_add(&r, c[i], RG_COA_KEY_NAS_ID, name, strlen(name)), 1);
        assert_int_equal(rg_coa_registry_add(&r, c[i], RG_COA_KEY_CERT_NAME, "shared-cn", 9), 1);
    }
    assert_true(r.nbuckets > 1024); /* 1200 keys: the table doubled */
    for (unsigned i = 0; i < NCONN; i += 37) {
        snprintf(name, sizeof(name), "ap-%u", i);
        assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_ID, name, strlen(name), t, 2), 1);
        assert_int_equal(t[0].conn_id, 1000 + i);
    }
    /* 600 APs share one certificate: the answer is bounded, never a pick. */
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_CERT_NAME, "shared-cn", 9, t, 100),
                     RG_COA_MAX_MATCHES);
    /* NAS-Identifier + CN narrows it to one again */
    struct rg_coa_ident ids[2] = {{RG_COA_KEY_NAS_ID, (const uint8_t *)"shared-cn", 9},
                                  {RG_COA_KEY_NAS_ID, (const uint8_t *)"ap-77", 5}};
    assert_int_equal(rg_coa_registry_match(&r, "acme", ids, 2, t, 8), 1);
    assert_int_equal(t[0].conn_id, 1077);
    for (unsigned i = 0; i < NCONN; i++)
        conn_free(&r, c[i]);
    assert_int_equal(r.nkeys, 0);
    rg_coa_registry_free(&r);
}

/* 20,000 APs behind one NAT address: every connection registers the same NAS-IP-Address and
 * its own NAS-Identifier. Connections close oldest first, from the middle and newest first
 * (each order is the worst case of some list); the rest still match, by the shared address
 * together with their own name, and the shared name goes with its last holder. */
static void test_registry_shared_name_closes(void **state)
{
    (void)state;
    struct rg_coa_registry r;
    struct rg_coa_target t[RG_COA_MAX_MATCHES];
    assert_int_equal(rg_coa_registry_init(&r), 0);
    enum { NCONN = 20000 };
    struct rg_coa_conn **c = calloc(NCONN, sizeof(*c));
    assert_non_null(c);
    uint8_t nat[4] = {198, 51, 100, 1};
    char name[32];
    for (unsigned i = 0; i < NCONN; i++) {
        c[i] = conn_new(i % 2, 1 + i, "acme");
        snprintf(name, sizeof(name), "ap-%u", i);
        assert_int_equal(rg_coa_registry_add(&r, c[i], RG_COA_KEY_NAS_IP, nat, 4), 1);
        assert_int_equal(rg_coa_registry_add(&r, c[i], RG_COA_KEY_NAS_ID, name, strlen(name)), 1);
    }
    assert_int_equal(r.nkeys, 2 * NCONN);
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_IP, nat, 4, t, RG_COA_MAX_MATCHES),
                     RG_COA_MAX_MATCHES);
    /* close a third oldest first, a third from the middle out, the rest newest first */
    unsigned closed = 0;
    bool *gone = calloc(NCONN, sizeof(*gone));
    assert_non_null(gone);
    for (unsigned i = 0; i < NCONN / 3; i++, closed++) {
        gone[i] = true;
        rg_coa_registry_remove_conn(&r, c[i]);
    }
    for (unsigned i = 0; i < NCONN / 6; i++, closed += 2) {
        gone[NCONN / 2 + i] = gone[NCONN / 2 - 1 - i] = true;
        rg_coa_registry_remove_conn(&r, c[NCONN / 2 + i]);
        rg_coa_registry_remove_conn(&r, c[NCONN / 2 - 1 - i]);
    }
    assert_int_equal(r.nkeys, 2 * (NCONN - closed));
    for (unsigned i = 0; i < NCONN; i += 97) {
        snprintf(name, sizeof(name), "ap-%u", i);
        struct rg_coa_ident ids[2] = {{RG_COA_KEY_NAS_IP, nat, 4},
                                      {RG_COA_KEY_NAS_ID, (const uint8_t *)name, strlen(name)}};
        size_t n = rg_coa_registry_match(&r, "acme", ids, 2, t, RG_COA_MAX_MATCHES);
        assert_int_equal(n, gone[i] ? 0 : 1);
        if (n)
            assert_int_equal(t[0].conn_id, 1 + i);
    }
    for (unsigned i = NCONN; i-- > 0;)
        if (!gone[i])
            rg_coa_registry_remove_conn(&r, c[i]);
    assert_int_equal(r.nkeys, 0);
    assert_int_equal(find1(&r, "acme", RG_COA_KEY_NAS_IP, nat, 4, t, RG_COA_MAX_MATCHES), 0);
    for (size_t i = 0; i < r.nbuckets; i++)
        assert_null(r.buckets[i]); /* every name freed with its last holder */
    for (unsigned i = 0; i < NCONN; i++)
        conn_free(&r, c[i]);
    free(gone);
    free(c);
    rg_coa_registry_free(&r);
}

/* ---- routing a request from a client (rg_coa_route) ---- */

static const char route_conf[] =
    "tls { certificate = \"c.pem\" key = \"k.pem\" }\n"
    "pool \"p\" { server \"s\" { host = \"192.0.2.1\" secret = \"0123456789abcdef\" } }\n"
    "org \"acme\" { ca = \"a.pem\" }\n"
    "org \"globex\" { ca = \"g.pem\" }\n"
    "org \"initech\" { ca = \"i.pem\" coa = false }\n"
    "coa {\n"
    "  client \"dac-a\" { host = \"127.0.0.1\" secret = \"0123456789abcdef\" orgs = {\"acme\"} }\n"
    "  client \"dac-g\" { host = \"127.0.0.2\" secret = \"0123456789abcdef\" orgs = {\"globex\"} "
    "}\n"
    "  client \"dac-2\" { host = \"127.0.0.3\" secret = \"0123456789abcdef\"\n"
    "                   orgs = {\"acme\", \"globex\", \"initech\"} }\n"
    "}\n";

/* A Disconnect-Request naming the NAS by a NAS-Identifier and, if ip, a NAS-IP-Address. */
static void build_disconnect(uint8_t *buf, const char *nas_id, const uint8_t *ip)
{
    struct rg_radius_pkt p = {.data = buf, .cap = RG_RADIUS_MAX_LEN};
    assert_int_equal(rg_radius_init(&p, RG_RADIUS_DISCONNECT_REQUEST, 9, NULL), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "alice", 5), 0);
    if (nas_id)
        assert_int_equal(
            rg_radius_attr_add(&p, RG_RADIUS_ATTR_NAS_IDENTIFIER, nas_id, strlen(nas_id)), 0);
    if (ip)
        assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_NAS_IP_ADDRESS, ip, 4), 0);
    rg_radius_auth_request_sign(buf, RG_SECRET_LIT("x"));
}

struct route_result {
    int routed;
    struct rg_coa_target t;
    char nas[280], why[400];
};

static struct route_result route(struct rg_coa_registry *r, const struct rg_config *cfg,
                                 const char *client, const uint8_t *pkt)
{
    const struct rg_coa_client *cl = NULL;
    for (size_t i = 0; i < cfg->coa.nclients; i++)
        if (strcmp(cfg->coa.clients[i].name, client) == 0)
            cl = &cfg->coa.clients[i];
    assert_non_null(cl);
    struct route_result res = {0};
    res.routed =
        rg_coa_route(r, cfg, cl, pkt, &res.t, res.nas, sizeof(res.nas), res.why, sizeof(res.why));
    return res;
}

static void test_route_tenants_apart(void **state)
{
    (void)state;
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    if (rg_config_load_buf("route.conf", route_conf, false, &cfg, &diag) != 0)
        fail_msg("%s", diag.text);
    rg_config_diag_free(&diag);
    struct rg_coa_registry r;
    assert_int_equal(rg_coa_registry_init(&r), 0);
    /* acme and globex each have an AP with the same certificate CN (different CAs); the
     * globex AP also claims acme's NAS-Identifier; initech (coa = false) has ap-i. */
    struct rg_coa_conn *a = conn_new(0, 1, "acme"), *g = conn_new(1, 2, "globex");
    struct rg_coa_conn *i = conn_new(1, 3, "initech");
    rg_coa_registry_add(&r, a, RG_COA_KEY_CERT_NAME, "Q2AA-BBBB-CCCC", 14);
    rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_ID, "ap-a", 4);
    rg_coa_registry_add(&r, g, RG_COA_KEY_CERT_NAME, "Q2AA-BBBB-CCCC", 14);
    rg_coa_registry_add(&r, g, RG_COA_KEY_NAS_ID, "ap-a", 4);
    rg_coa_registry_add(&r, g, RG_COA_KEY_NAS_ID, "ap-g", 4);
    rg_coa_registry_add(&r, i, RG_COA_KEY_NAS_ID, "ap-i", 4);
    uint8_t pkt[RG_RADIUS_MAX_LEN];

    /* Each client reaches its own org's NAS, by NAS-Identifier or certificate CN. */
    build_disconnect(pkt, "ap-a", NULL);
    struct route_result res = route(&r, cfg, "dac-a", pkt);
    assert_int_equal(res.routed, 1);
    assert_int_equal(res.t.conn_id, 1);
    assert_string_equal(res.nas, "nas_identifier=\"ap-a\"");
    res = route(&r, cfg, "dac-g", pkt);
    assert_int_equal(res.routed, 1);
    assert_int_equal(res.t.conn_id, 2);
    build_disconnect(pkt, "Q2AA-BBBB-CCCC", NULL);
    res = route(&r, cfg, "dac-a", pkt);
    assert_int_equal(res.routed, 1);
    assert_int_equal(res.t.conn_id, 1);
    res = route(&r, cfg, "dac-g", pkt);
    assert_int_equal(res.routed, 1);
    assert_int_equal(res.t.conn_id, 2);

    /* A client never reaches another org's NAS; the log line says so, the DAC gets 502. */
    build_disconnect(pkt, "ap-g", NULL);
    res = route(&r, cfg, "dac-a", pkt);
    assert_int_equal(res.routed, 0);
    assert_string_equal(res.why, "no connected NAS in the orgs client dac-a may reach (a NAS "
                                 "of org globex matches)");
    /* coa = false, even for a client that names the org */
    build_disconnect(pkt, "ap-i", NULL);
    res = route(&r, cfg, "dac-2", pkt);
    assert_int_equal(res.routed, 0);
    assert_string_equal(res.why, "org initech has coa = false");
    build_disconnect(pkt, "ap-nowhere", NULL);
    res = route(&r, cfg, "dac-2", pkt);
    assert_int_equal(res.routed, 0);
    assert_string_equal(res.why, "no connected NAS");

    /* A client of both orgs: the shared CN matches two connections: not guessed. */
    build_disconnect(pkt, "Q2AA-BBBB-CCCC", NULL);
    res = route(&r, cfg, "dac-2", pkt);
    assert_int_equal(res.routed, 0);
    assert_string_equal(res.why, "ambiguous: 2 connections match (127.0.0.1:40001 org acme, "
                                 "127.0.0.1:40002 org globex)");
    /* ap-g narrows it to globex's AP */
    build_disconnect(pkt, "ap-g", NULL);
    res = route(&r, cfg, "dac-2", pkt);
    assert_int_equal(res.routed, 1);
    assert_int_equal(res.t.conn_id, 2);

    /* Every identification attribute must match: NAS-IP-Address narrows a shared name... */
    struct rg_coa_conn *a2 = conn_new(0, 4, "acme");
    uint8_t ip1[4] = {10, 0, 0, 1}, ip2[4] = {10, 0, 0, 2};
    rg_coa_registry_add(&r, a2, RG_COA_KEY_NAS_ID, "ap-a", 4);
    rg_coa_registry_add(&r, a2, RG_COA_KEY_NAS_IP, ip2, 4);
    rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_IP, ip1, 4);
    build_disconnect(pkt, "ap-a", NULL);
    res = route(&r, cfg, "dac-a", pkt);
    assert_int_equal(res.routed, 0);
    assert_non_null(strstr(res.why, "ambiguous: 2 connections match"));
    build_disconnect(pkt, "ap-a", ip2);
    res = route(&r, cfg, "dac-a", pkt);
    assert_int_equal(res.routed, 1);
    assert_int_equal(res.t.conn_id, 4);
    assert_string_equal(res.nas, "nas_identifier=\"ap-a\" nas_ip_address=\"10.0.0.2\"");
    /* ... and one that no connection carries with the other fails the request */
    uint8_t ip3[4] = {10, 0, 0, 3};
    build_disconnect(pkt, "ap-a", ip3);
    res = route(&r, cfg, "dac-a", pkt);
    assert_int_equal(res.routed, 0);
    assert_string_equal(res.why, "no connected NAS");
    /* NATed sites: the same private NAS-IP-Address alone in two connections of the org */
    rg_coa_registry_add(&r, a, RG_COA_KEY_NAS_IP, ip2, 4);
    build_disconnect(pkt, NULL, ip2);
    res = route(&r, cfg, "dac-a", pkt);
    assert_int_equal(res.routed, 0);
    assert_non_null(strstr(res.why, "ambiguous"));
    /* nothing to identify the NAS by */
    build_disconnect(pkt, NULL, NULL);
    res = route(&r, cfg, "dac-a", pkt);
    assert_int_equal(res.routed, 0);
    assert_string_equal(res.nas, "nas=none");

    /* Five long NAS-Identifiers: the description keeps whole items, then cut=1. */
    {
        struct rg_radius_pkt p = {.data = pkt, .cap = RG_RADIUS_MAX_LEN};
        char longid[90];
        memset(longid, '\n', sizeof(longid)); /* 4 characters each once escaped */
        assert_int_equal(rg_radius_init(&p, RG_RADIUS_DISCONNECT_REQUEST, 9, NULL), 0);
        for (int k = 0; k < 5; k++)
            assert_int_equal(
                rg_radius_attr_add(&p, RG_RADIUS_ATTR_NAS_IDENTIFIER, longid, sizeof(longid)), 0);
        res = route(&r, cfg, "dac-a", pkt);
        assert_int_equal(res.routed, 0);
        size_t l = strlen(res.nas);
        assert_true(l < sizeof(res.nas));
        assert_string_equal(res.nas + l - 7, "\" cut=1");
        assert_string_equal(res.why, "no connected NAS");
    }
    /* A NAS-Identifier with a newline and a quote is escaped in the description. */
    build_disconnect(pkt, "x\"\ny", NULL);
    res = route(&r, cfg, "dac-a", pkt);
    assert_string_equal(res.nas, "nas_identifier=\"x\\\"\\x0ay\"");

    conn_free(&r, a);
    conn_free(&r, a2);
    conn_free(&r, g);
    conn_free(&r, i);
    rg_coa_registry_free(&r);
    rg_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_learn_find_forget),
        cmocka_unit_test(test_registry_reports_changes),
        cmocka_unit_test(test_ident_kind_and_text),
        cmocka_unit_test(test_registry_scoped_by_org),
        cmocka_unit_test(test_registry_bounded_per_connection),
        cmocka_unit_test(test_registry_grows),
        cmocka_unit_test(test_registry_shared_name_closes),
        cmocka_unit_test(test_route_tenants_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
