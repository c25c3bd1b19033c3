/* Tests src/tls_ctx.c, tls_verify.c and tls_peer.c: the server context built from a config
 * snapshot and the peer identity: which org a client certificate belongs to (CAs, rotation,
 * intermediates, CRLs, allow prefixes, match rules) and the reason given when it belongs to
 * none. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <time.h>

#include "tls_test_env.h"

#include "radsecgw/radius11.h"

/* Handshake name (presenting name.pem / name.key, or the given files) against a context
 * built from cfg, then identify it from addr (NULL: no prefix check). Returns the identify
 * result; a failed handshake fails the test unless want_handshake is false. */
static int identify_files(struct rg_config *cfg, const char *cert, const char *key,
                          const char *addr, struct rg_tls_peer *peer, bool want_handshake)
{
    char err[256];
    struct rg_tls_ctx *tls;
    struct sockaddr_storage ss;
    if (rg_tls_ctx_new(cfg, &tls, err, sizeof(err)) != 0)
        fail_msg("rg_tls_ctx_new: %s", err);
    int ret = -1;
    for (int version = 12; version <= 13; version++) {
        struct pair p;
        assert_int_equal(pair_open_files(&p, tls, cert, key, version), 0);
        pair_pump(&p, 0);
        memset(peer, 0, sizeof(*peer));
        if (p.srv.state != RG_TLS_STREAM_OPEN) {
            if (want_handshake)
                fail_msg("handshake of %s failed: %s", cert, p.srv.err_text);
            assert_int_equal(rg_tls_handshake_failure(p.srv.ssl, peer), 1);
            ret = -EPROTO;
        } else {
            if (!want_handshake)
                fail_msg("handshake of %s succeeded", cert);
            int r = rg_tls_peer_identify(tls, p.srv.ssl, addr ? sa_of(addr, &ss) : NULL, peer);
            /* the same answer with TLS 1.2 and 1.3 */
            if (version == 13)
                assert_int_equal(r, ret);
            ret = r;
        }
        pair_close(&p);
    }
    rg_tls_ctx_free(tls);
    return ret;
}

static int identify(struct rg_config *cfg, const char *name, const char *addr,
                    struct rg_tls_peer *peer)
{
    char cert[64], key[64];
    snprintf(cert, sizeof(cert), "%s.pem", name);
    snprintf(key, sizeof(key), "%s.key", name);
    return identify_files(cfg, cert, key, addr, peer, true);
}

static void assert_org(int ret, const struct rg_tls_peer *peer, const char *org)
{
    if (ret != 0)
        fail_msg("refused (%s), expected org %s", peer->reason, org);
    assert_non_null(peer->org);
    assert_string_equal(peer->org->name, org);
}

static void assert_refused(int ret, const struct rg_tls_peer *peer, const char *reason)
{
    assert_int_equal(ret, -EACCES);
    assert_null(peer->org);
    assert_string_equal(peer->reason, reason);
}

static void test_identity_names(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_acme_globex();
    struct rg_tls_peer peer;
    assert_org(identify(cfg, "ap-rsa", "192.0.2.1", &peer), &peer, "acme");
    assert_string_equal(peer.cn, "Q2AA-BBBB-CCCC");
    assert_string_equal(peer.subject, "/O=Acme/CN=Q2AA-BBBB-CCCC");
    assert_string_equal(peer.issuer, "/O=Acme/CN=Acme AP Root CA");
    cfg_free(cfg);
}

/* Each tenant's APs land in that tenant, whichever CA the other one trusts. */
static void test_org_selection_by_ca(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_acme_globex();
    struct rg_tls_peer peer;
    assert_org(identify(cfg, "ap-rsa", "192.0.2.1", &peer), &peer, "acme");
    assert_org(identify(cfg, "ap-ecdsa", "192.0.2.1", &peer), &peer, "acme");
    assert_org(identify(cfg, "ap-globex", "192.0.2.1", &peer), &peer, "globex");
    assert_string_equal(peer.cn, "Q2GX-GLOB-0001");
    cfg_free(cfg);
}

/* CA rotation: an AP with a certificate from the second CA of the org is accepted. */
static void test_rotated_ca(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_acme_globex();
    struct rg_tls_peer peer;
    assert_org(identify(cfg, "ap-next", NULL, &peer), &peer, "acme");
    cfg_free(cfg);
}

/* A leaf issued by an intermediate, which the AP sends along: accepted for the org whose root
 * signed the intermediate, with the intermediate's CRL applied. */
static void test_intermediate_chain(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_acme_globex();
    struct rg_tls_peer peer;
    int ret = identify_files(cfg, "ap-int-chain.pem", "ap-int.key", NULL, &peer, true);
    assert_org(ret, &peer, "acme");
    assert_string_equal(peer.cn, "Q2IN-TERM-0001");
    assert_string_equal(peer.issuer, "/O=Acme/CN=Acme AP Issuing CA 1");
    cfg_free(cfg);

    /* acme lists CRLs but not the intermediate's: it cannot be checked, so it is refused */
    cfg = cfg_new();
    struct rg_org *acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");
    org_crl(acme, "acme.crl");
    ret = identify_files(cfg, "ap-int-chain.pem", "ap-int.key", NULL, &peer, true);
    assert_refused(ret, &peer, "CRL missing or stale");
    cfg_free(cfg);

    /* without CRLs configured, the chain alone decides */
    cfg = cfg_new();
    acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");
    ret = identify_files(cfg, "ap-int-chain.pem", "ap-int.key", NULL, &peer, true);
    assert_org(ret, &peer, "acme");
    cfg_free(cfg);
}

/* An intermediate only proves membership of the org whose CA signed it: an org trusting a
 * different CA does not get the AP just because the intermediate came along. */
static void test_intermediate_not_other_org(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_new();
    struct rg_org *globex = cfg_org(cfg, "globex");
    org_ca(globex, "globex-ca.pem");
    struct rg_org *acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");
    struct rg_tls_peer peer;
    int ret = identify_files(cfg, "ap-int-chain.pem", "ap-int.key", NULL, &peer, true);
    assert_org(ret, &peer, "acme");
    cfg_free(cfg);
}

static void test_match_rule_mismatch(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_acme_globex();
    struct rg_tls_peer peer;
    assert_refused(identify(cfg, "ap-nomatch", NULL, &peer), &peer, "no match");
    assert_string_equal(peer.cn, "printer-17"); /* the log line still names it */
    cfg_free(cfg);
}

/* SAN rules: each type matches against the names of that type; every rule must hold. */
static void test_match_rules_san(void **state)
{
    (void)state;
    static const struct {
        const char *rule;
        bool match;
    } cases[] = {
        {"SAN:DNS:\\.ap\\.acme\\.test$", true},
        {"SAN:DNS:\\.globex\\.test$", false},
        {"SAN:URI:^urn:acme:ap:Q2", true},
        {"SAN:URI:^https:", false},
        {"SAN:IP:192.0.2.0/24", true},
        {"SAN:IP:192.0.2.55", true},
        {"SAN:IP:10.0.0.0/8", false},
        {"SAN:IP:2001:db8::/32", false},
        {"CN:^Q2AA-", true},
        {"CN:^q2aa-", false},                /* regexes are case sensitive */
        {"SAN:DNS:^Q2AA-BBBB-CCCC$", false}, /* the CN is not a DNS name */
    };
    struct rg_tls_peer peer;
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        struct rg_config *cfg = cfg_new();
        struct rg_org *acme = cfg_org(cfg, "acme");
        org_ca(acme, "acme-ca.pem");
        org_match(acme, cases[i].rule);
        int ret = identify(cfg, "ap-rsa", NULL, &peer);
        if (cases[i].match)
            assert_org(ret, &peer, "acme");
        else
            assert_refused(ret, &peer, "no match");
        cfg_free(cfg);
    }
    /* all rules together must hold; one failing refuses */
    struct rg_config *cfg = cfg_new();
    struct rg_org *acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");
    org_match(acme, "CN:^Q2");
    org_match(acme, "SAN:IP:192.0.2.0/24");
    assert_org(identify(cfg, "ap-rsa", NULL, &peer), &peer, "acme");
    org_match(acme, "SAN:URI:^nope");
    assert_refused(identify(cfg, "ap-rsa", NULL, &peer), &peer, "no match");
    /* a certificate without SANs cannot satisfy a SAN rule */
    cfg_free(cfg);
    cfg = cfg_new();
    acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");
    org_match(acme, "SAN:DNS:.*");
    assert_refused(identify(cfg, "ap-ecdsa", NULL, &peer), &peer, "no match");
    cfg_free(cfg);
}

/* Two orgs trusting the same CA: the allow prefixes and match rules must leave one. */
static void test_shared_ca_disambiguation(void **state)
{
    (void)state;
    struct rg_tls_peer peer;
    struct rg_config *cfg = cfg_new();
    struct rg_org *a = cfg_org(cfg, "acme-east");
    org_ca(a, "acme-ca.pem");
    struct rg_org *b = cfg_org(cfg, "acme-west");
    org_ca(b, "acme-ca.pem");
    assert_refused(identify(cfg, "ap-rsa", "192.0.2.1", &peer), &peer, "ambiguous org");

    org_allow(a, "192.0.2.0/24");
    org_allow(b, "198.51.100.0/24");
    org_allow(b, "2001:db8::/32");
    assert_org(identify(cfg, "ap-rsa", "192.0.2.1", &peer), &peer, "acme-east");
    assert_org(identify(cfg, "ap-rsa", "198.51.100.9", &peer), &peer, "acme-west");
    assert_org(identify(cfg, "ap-rsa", "2001:db8::5", &peer), &peer, "acme-west");
    assert_org(identify(cfg, "ap-rsa", "::ffff:192.0.2.1", &peer), &peer, "acme-east");
    assert_refused(identify(cfg, "ap-rsa", "203.0.113.1", &peer), &peer, "prefix not allowed");

    /* overlapping prefixes, a match rule decides */
    org_allow(a, "0.0.0.0/0");
    org_allow(b, "0.0.0.0/0");
    assert_refused(identify(cfg, "ap-rsa", "203.0.113.1", &peer), &peer, "ambiguous org");
    org_match(a, "CN:^Q2AA-");
    org_match(b, "CN:^Q2EC-");
    assert_org(identify(cfg, "ap-rsa", "203.0.113.1", &peer), &peer, "acme-east");
    assert_org(identify(cfg, "ap-ecdsa", "203.0.113.1", &peer), &peer, "acme-west");
    assert_refused(identify(cfg, "ap-nomatch", "203.0.113.1", &peer), &peer, "no match");
    cfg_free(cfg);
}

/* With a single org its allow list still applies. */
static void test_prefix_not_allowed(void **state)
{
    (void)state;
    struct rg_tls_peer peer;
    struct rg_config *cfg = cfg_acme_globex();
    org_allow(&cfg->orgs[0], "10.0.0.0/8");
    assert_org(identify(cfg, "ap-rsa", "10.1.2.3", &peer), &peer, "acme");
    assert_refused(identify(cfg, "ap-rsa", "192.0.2.1", &peer), &peer, "prefix not allowed");
    cfg_free(cfg);
}

static void test_addr_allowed(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    struct rg_config *cfg = cfg_acme_globex();
    assert_true(rg_tls_addr_allowed(cfg, sa_of("203.0.113.1", &ss))); /* no allow: any */
    org_allow(&cfg->orgs[0], "10.0.0.0/8");
    org_allow(&cfg->orgs[1], "2001:db8::/32");
    assert_true(rg_tls_addr_allowed(cfg, sa_of("10.9.9.9", &ss)));
    assert_true(rg_tls_addr_allowed(cfg, sa_of("2001:db8:1::1", &ss)));
    assert_true(rg_tls_addr_allowed(cfg, sa_of("::ffff:10.0.0.1", &ss)));
    assert_false(rg_tls_addr_allowed(cfg, sa_of("192.0.2.1", &ss)));
    assert_false(rg_tls_addr_allowed(cfg, sa_of("2001:db9::1", &ss)));
    cfg_free(cfg);
}

/* An org with a CRL for one CA but not the other: clients of the uncovered CA are refused,
 * globex (no CRLs at all) is unaffected. */
static void test_crl_missing(void **state)
{
    (void)state;
    struct rg_tls_peer peer;
    struct rg_config *cfg = cfg_new();
    struct rg_org *acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");
    org_ca(acme, "acme-ca-next.pem");
    org_crl(acme, "acme.crl");
    struct rg_org *globex = cfg_org(cfg, "globex");
    org_ca(globex, "globex-ca.pem");
    assert_org(identify(cfg, "ap-rsa", NULL, &peer), &peer, "acme");
    assert_refused(identify(cfg, "ap-next", NULL, &peer), &peer, "CRL missing or stale");
    assert_org(identify(cfg, "ap-globex", NULL, &peer), &peer, "globex");
    cfg_free(cfg);
}

/* A CRL past its nextUpdate is not trusted: the context still builds (other orgs keep
 * working) and that CA's clients are refused until it is renewed. */
static void test_crl_stale(void **state)
{
    (void)state;
    struct rg_tls_peer peer;
    struct rg_config *cfg = cfg_new();
    struct rg_org *acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");
    org_crl(acme, "acme-stale.crl");
    struct rg_org *globex = cfg_org(cfg, "globex");
    org_ca(globex, "globex-ca.pem");
    org_crl(globex, "globex.crl");
    assert_refused(identify(cfg, "ap-rsa", NULL, &peer), &peer, "CRL missing or stale");
    assert_org(identify(cfg, "ap-globex", NULL, &peer), &peer, "globex");
    cfg_free(cfg);
}

/* The revoked AP is refused at the handshake, also when its org is not the only one. */
static void test_revoked(void **state)
{
    (void)state;
    struct rg_tls_peer peer;
    struct rg_config *cfg = cfg_acme_globex();
    int ret = identify_files(cfg, "ap-revoked.pem", "ap-revoked.key", NULL, &peer, false);
    assert_int_equal(ret, -EPROTO);
    assert_string_equal(peer.reason, "revoked");
    assert_non_null(strstr(peer.subject, "Q2RV-OKED-0001"));
    assert_non_null(strstr(peer.issuer, "Acme AP Root CA"));
    cfg_free(cfg);
}

/* The rogue CA has the same name as acme's root: name alone must not be enough. */
static void test_rogue_same_name(void **state)
{
    (void)state;
    struct rg_tls_peer peer;
    struct rg_config *cfg = cfg_acme_globex();
    int ret = identify_files(cfg, "ap-rogue.pem", "ap-rogue.key", NULL, &peer, false);
    assert_int_equal(ret, -EPROTO);
    assert_string_equal(peer.reason, "unknown CA");
    cfg_free(cfg);
}

static void ctx_error(struct rg_config *cfg, const char *want_in_err)
{
    char err[256] = "";
    struct rg_tls_ctx *tls = NULL;
    assert_true(rg_tls_ctx_new(cfg, &tls, err, sizeof(err)) < 0);
    assert_null(tls);
    if (!strstr(err, want_in_err))
        fail_msg("error \"%s\" does not mention \"%s\"", err, want_in_err);
}

static void test_ctx_errors_name_the_file(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_acme_globex();
    free(cfg->tls.certificate);
    cfg->tls.certificate = pki_path("missing-chain.pem");
    ctx_error(cfg, "missing-chain.pem");
    cfg_free(cfg);

    cfg = cfg_acme_globex();
    free(cfg->tls.key);
    cfg->tls.key = pki_path("acme-ca.key"); /* a key, but not the certificate's */
    ctx_error(cfg, "acme-ca.key");
    cfg_free(cfg);

    cfg = cfg_acme_globex();
    org_ca(&cfg->orgs[1], "no-such-ca.pem");
    ctx_error(cfg, "no-such-ca.pem");
    cfg_free(cfg);

    cfg = cfg_acme_globex();
    org_ca(&cfg->orgs[1], "ap-globex.key"); /* not a certificate */
    ctx_error(cfg, "ap-globex.key");
    cfg_free(cfg);

    cfg = cfg_acme_globex();
    org_crl(&cfg->orgs[1], "server-ca.pem"); /* not a CRL */
    ctx_error(cfg, "server-ca.pem");
    cfg_free(cfg);

    cfg = cfg_acme_globex();
    free(cfg->tls.ciphers);
    cfg->tls.ciphers = strdup("NO-SUCH-CIPHER");
    ctx_error(cfg, "NO-SUCH-CIPHER");
    cfg_free(cfg);
}

/* min-version 1.3 refuses a TLS 1.2 client; a cipher override is what gets negotiated. */
static void test_versions_and_ciphers(void **state)
{
    (void)state;
    char err[256];
    struct rg_tls_ctx *tls;
    struct rg_config *cfg = cfg_acme_globex();
    cfg->tls.min_version = 13;
    assert_int_equal(rg_tls_ctx_new(cfg, &tls, err, sizeof(err)), 0);
    struct pair p;
    assert_int_equal(pair_open(&p, tls, "ap-rsa", 12), 0);
    pair_pump(&p, 0);
    assert_int_equal(p.srv.state, RG_TLS_STREAM_FAILED);
    pair_close(&p);
    assert_int_equal(pair_open(&p, tls, "ap-rsa", 13), 0);
    pair_pump(&p, 0);
    assert_int_equal(p.srv.state, RG_TLS_STREAM_OPEN);
    pair_close(&p);
    rg_tls_ctx_free(tls);

    cfg->tls.min_version = 12;
    free(cfg->tls.ciphers);
    cfg->tls.ciphers = strdup("ECDHE-ECDSA-CHACHA20-POLY1305");
    assert_int_equal(rg_tls_ctx_new(cfg, &tls, err, sizeof(err)), 0);
    assert_int_equal(pair_open(&p, tls, "ap-rsa", 12), 0);
    pair_pump(&p, 0);
    assert_int_equal(p.srv.state, RG_TLS_STREAM_OPEN);
    assert_string_equal(wolfSSL_get_cipher_name(p.srv.ssl), "ECDHE-ECDSA-CHACHA20-POLY1305");
    pair_close(&p);
    rg_tls_ctx_free(tls);

    /* the default list: TLS 1.2 gets an ECDHE AEAD suite */
    free(cfg->tls.ciphers);
    cfg->tls.ciphers = strdup("");
    assert_int_equal(rg_tls_ctx_new(cfg, &tls, err, sizeof(err)), 0);
    assert_int_equal(pair_open(&p, tls, "ap-rsa", 12), 0);
    pair_pump(&p, 0);
    assert_int_equal(p.srv.state, RG_TLS_STREAM_OPEN);
    const char *name = wolfSSL_get_cipher_name(p.srv.ssl);
    assert_true(strncmp(name, "ECDHE-", 6) == 0);
    assert_true(strstr(name, "GCM") || strstr(name, "CHACHA20"));
    pair_close(&p);
    rg_tls_ctx_free(tls);
    cfg_free(cfg);
}

/* One handshake of an ap-rsa client shaped like another TLS stack: its own cipher order
 * (NULL: wolfSSL's), supported_groups in its order and, for TLS 1.3, key shares for shares[]
 * (none: wolfSSL's single P-256 share). Copies what the server negotiated. */
static void handshake_as(struct rg_tls_ctx *tls, int version, const char *ciphers,
                         const int *groups, int ngroups, const int *shares, int nshares,
                         char *cipher, char *curve, size_t len)
{
    struct pair p;
    assert_int_equal(pair_open(&p, tls, "ap-rsa", version), 0);
    if (ciphers)
        assert_int_equal(wolfSSL_set_cipher_list(p.cli.ssl, ciphers), WOLFSSL_SUCCESS);
    for (int i = 0; i < ngroups; i++)
        assert_int_equal(wolfSSL_UseSupportedCurve(p.cli.ssl, (word16)groups[i]), WOLFSSL_SUCCESS);
    for (int i = 0; i < nshares; i++)
        assert_int_equal(wolfSSL_UseKeyShare(p.cli.ssl, (word16)shares[i]), WOLFSSL_SUCCESS);
    pair_pump(&p, 0);
    assert_int_equal(p.srv.state, RG_TLS_STREAM_OPEN);
    const char *c = wolfSSL_get_cipher_name(p.srv.ssl);
    const char *g = wolfSSL_get_curve_name(p.srv.ssl);
    snprintf(cipher, len, "%s", c ? c : "");
    snprintf(curve, len, "%s", g ? g : "");
    pair_close(&p);
}

/* The built-in list is taken in the server's order (AES-GCM first with AES in hardware,
 * ChaCha20-Poly1305 first without), whatever the client prefers; the TLS 1.3 key exchange
 * prefers X25519 among the shares a client sent, and takes a client's only share (P-256)
 * without a HelloRetryRequest (which would ask for X25519). */
static void test_server_preference(void **state)
{
    (void)state;
    char err[256], cipher[64], curve[64];
    struct rg_tls_ctx *tls;
    struct rg_config *cfg = cfg_acme_globex();
    assert_int_equal(rg_tls_ctx_new(cfg, &tls, err, sizeof(err)), 0);
    bool aes = rg_tls_aes_in_hardware();
    const int p256_x25519[] = {WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_X25519};
    const int x25519_p256[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1};
    const int p256[] = {WOLFSSL_ECC_SECP256R1};

    handshake_as(tls, 13, "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256", NULL, 0, NULL,
                 0, cipher, curve, sizeof(cipher));
    assert_string_equal(cipher, aes ? "TLS13-AES128-GCM-SHA256" : "TLS13-CHACHA20-POLY1305-SHA256");
    handshake_as(tls, 13, "TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256", NULL, 0, NULL,
                 0, cipher, curve, sizeof(cipher));
    assert_string_equal(cipher, aes ? "TLS13-AES128-GCM-SHA256" : "TLS13-CHACHA20-POLY1305-SHA256");
    handshake_as(tls, 12, "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256", NULL, 0,
                 NULL, 0, cipher, curve, sizeof(cipher));
    assert_string_equal(cipher,
                        aes ? "ECDHE-ECDSA-AES128-GCM-SHA256" : "ECDHE-ECDSA-CHACHA20-POLY1305");

    /* TLS 1.3: both shares sent, P-256 first in the client's order: X25519 */
    handshake_as(tls, 13, NULL, p256_x25519, 2, p256_x25519, 2, cipher, curve, sizeof(cipher));
    assert_string_equal(curve, "X25519");
    /* one P-256 share (wolfSSL's default client): P-256, no retry */
    handshake_as(tls, 13, NULL, p256_x25519, 2, p256, 1, cipher, curve, sizeof(cipher));
    assert_string_equal(curve, "SECP256R1");
    /* TLS 1.2: wolfSSL 5.5 takes the first of the client's groups it supports (the server's
     * list does not reorder them), and never one the client did not offer */
    handshake_as(tls, 12, NULL, x25519_p256, 2, NULL, 0, cipher, curve, sizeof(cipher));
    assert_string_equal(curve, "X25519");
    handshake_as(tls, 12, NULL, p256_x25519, 2, NULL, 0, cipher, curve, sizeof(cipher));
    assert_string_equal(curve, "SECP256R1");
    handshake_as(tls, 12, NULL, p256, 1, NULL, 0, cipher, curve, sizeof(cipher));
    assert_string_equal(curve, "SECP256R1");
    rg_tls_ctx_free(tls);
    cfg_free(cfg);
}

/* tls.session-cache = 0: no resumption. A second connection presenting the first one's
 * session does a full handshake, so the client certificate is seen (and identified) every
 * time. */
static void test_no_resumption(void **state)
{
    (void)state;
    char err[256];
    struct rg_tls_ctx *tls;
    struct rg_config *cfg = cfg_acme_globex();
    assert_int_equal(rg_tls_ctx_new(cfg, &tls, err, sizeof(err)), 0);
    for (int version = 12; version <= 13; version++) {
        struct pair p;
        assert_int_equal(pair_open(&p, tls, "ap-rsa", version), 0);
        pair_pump(&p, 0);
        assert_int_equal(p.srv.state, RG_TLS_STREAM_OPEN);
        WOLFSSL_SESSION *sess = wolfSSL_get1_session(p.cli.ssl);
        rg_tls_stream_shutdown(&p.cli);
        pair_pump(&p, 0);
        rg_tls_stream_free(&p.srv);
        rg_tls_stream_free(&p.cli);

        WOLFSSL *c = wolfSSL_new(p.cctx);
        if (sess)
            wolfSSL_set_session(c, sess);
        assert_int_equal(rg_tls_stream_init(&p.cli, c), 0);
        assert_int_equal(rg_tls_stream_init(&p.srv, rg_tls_ssl_new(tls)), 0);
        pair_pump(&p, 0);
        assert_int_equal(p.srv.state, RG_TLS_STREAM_OPEN);
        assert_false(wolfSSL_session_reused(p.srv.ssl));
        struct rg_tls_peer peer;
        assert_int_equal(rg_tls_peer_identify(tls, p.srv.ssl, NULL, &peer), 0);
        assert_string_equal(peer.cn, "Q2AA-BBBB-CCCC");
        wolfSSL_SESSION_free(sess);
        pair_close(&p);
    }
    rg_tls_ctx_free(tls);
    cfg_free(cfg);
}

/* radiusdtls-bis §3.3: an open connection re-checked against a newer context (reload, CRL
 * refresh) from the chain its session kept. It survives while it still verifies for the same
 * org, and gets the reason otherwise. Also after the context it was accepted under is gone. */
static struct rg_tls_ctx *ctx_of(struct rg_config *cfg)
{
    char err[256];
    struct rg_tls_ctx *tls;
    if (rg_tls_ctx_new(cfg, &tls, err, sizeof(err)) != 0)
        fail_msg("rg_tls_ctx_new: %s", err);
    return tls;
}

static struct rg_config *cfg_acme_crl(const char *crl, const char *match)
{
    struct rg_config *cfg = cfg_new();
    struct rg_org *acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");
    org_crl(acme, crl);
    if (match)
        org_match(acme, match);
    org_ca(cfg_org(cfg, "globex"), "globex-ca.pem");
    return cfg;
}

static void test_recheck(void **state)
{
    (void)state;
    struct rg_config *c_first = cfg_acme_crl("acme.crl", NULL);
    struct rg_config *c_same = cfg_acme_crl("acme.crl", NULL);
    struct rg_config *c_revoked = cfg_acme_crl("acme-ecdsa-revoked.crl", NULL);
    struct rg_config *c_nomatch = cfg_acme_crl("acme.crl", "CN:^Q2AA");
    struct rg_config *c_gone = cfg_new(); /* acme removed, its CA trusted by nobody */
    org_ca(cfg_org(c_gone, "globex"), "globex-ca.pem");
    struct rg_config *c_moved = cfg_new(); /* acme's CA now belongs to another org */
    org_ca(cfg_org(c_moved, "initech"), "acme-ca.pem");
    struct rg_config *c_prefix = cfg_acme_crl("acme.crl", NULL);
    org_allow(&c_prefix->orgs[0], "198.51.100.0/24");

    struct rg_tls_ctx *first = ctx_of(c_first);
    struct rg_tls_ctx *same = ctx_of(c_same), *revoked = ctx_of(c_revoked);
    struct rg_tls_ctx *nomatch = ctx_of(c_nomatch), *gone = ctx_of(c_gone);
    struct rg_tls_ctx *moved = ctx_of(c_moved), *prefix = ctx_of(c_prefix);
    struct sockaddr_storage ss;
    const struct sockaddr *addr = sa_of("192.0.2.1", &ss);

    for (int version = 12; version <= 13; version++) {
        struct pair ec, rsa;
        struct rg_tls_peer peer, rsa_peer, now;
        assert_int_equal(pair_open(&ec, first, "ap-ecdsa", version), 0);
        assert_int_equal(pair_open(&rsa, first, "ap-rsa", version), 0);
        pair_pump(&ec, 0);
        pair_pump(&rsa, 0);
        assert_int_equal(ec.srv.state, RG_TLS_STREAM_OPEN);
        assert_int_equal(rsa.srv.state, RG_TLS_STREAM_OPEN);
        assert_int_equal(rg_tls_peer_identify(first, ec.srv.ssl, addr, &peer), 0);
        assert_int_equal(rg_tls_peer_identify(first, rsa.srv.ssl, addr, &rsa_peer), 0);

        /* Same trust: still acme, and now->org points into the new snapshot. */
        assert_int_equal(rg_tls_peer_recheck(same, ec.srv.ssl, addr, &peer, &now), 0);
        assert_ptr_equal(now.org, &c_same->orgs[0]);
        assert_string_equal(now.cn, "Q2EC-DSA0-0001");
        /* The new CRL revokes ap-ecdsa only. */
        assert_refused(rg_tls_peer_recheck(revoked, ec.srv.ssl, addr, &peer, &now), &now,
                       "revoked");
        assert_int_equal(rg_tls_peer_recheck(revoked, rsa.srv.ssl, addr, &rsa_peer, &now), 0);
        assert_refused(rg_tls_peer_recheck(nomatch, ec.srv.ssl, addr, &peer, &now), &now,
                       "no match");
        assert_int_equal(rg_tls_peer_recheck(nomatch, rsa.srv.ssl, addr, &rsa_peer, &now), 0);
        assert_refused(rg_tls_peer_recheck(gone, ec.srv.ssl, addr, &peer, &now), &now,
                       "unknown CA");
        assert_refused(rg_tls_peer_recheck(moved, ec.srv.ssl, addr, &peer, &now), &now,
                       "now matches org initech, not acme");
        assert_refused(rg_tls_peer_recheck(prefix, ec.srv.ssl, addr, &peer, &now), &now,
                       "prefix not allowed");
        /* The connection's data path does not depend on the context it was accepted under. */
        if (version == 13) {
            rg_tls_ctx_free(first);
            first = NULL;
            assert_int_equal(rg_tls_stream_write(&rsa.cli, (const uint8_t *)"ping", 4), 0);
            pair_pump(&rsa, 0);
            assert_int_equal(rsa.srv.plain.len, 4);
            assert_int_equal(rg_tls_peer_recheck(same, rsa.srv.ssl, addr, &rsa_peer, &now), 0);
        }
        pair_close(&ec);
        pair_close(&rsa);
    }
    rg_tls_ctx_free(same);
    rg_tls_ctx_free(revoked);
    rg_tls_ctx_free(nomatch);
    rg_tls_ctx_free(gone);
    rg_tls_ctx_free(moved);
    rg_tls_ctx_free(prefix);
    cfg_free(c_first);
    cfg_free(c_same);
    cfg_free(c_revoked);
    cfg_free(c_nomatch);
    cfg_free(c_gone);
    cfg_free(c_moved);
    cfg_free(c_prefix);
}

/* ---- session resumption (radiusdtls-bis "TLS Session Resumption") ---- */

struct resumer {
    WOLFSSL_CTX *cctx; /* one client context, as an AP keeps */
    char name[32];     /* the PKI name it presents */
    int version;
    const char *alpn; /* the ALPN names it offers (comma separated); NULL: none */
};

static void resumer_init(struct resumer *r, const char *name, int version)
{
    char err[256];
    char *ca = pki_path("server-ca.pem");
    char cert[64], key[64];
    snprintf(cert, sizeof(cert), "%s.pem", name);
    snprintf(key, sizeof(key), "%s.key", name);
    char *c = pki_path(cert), *k = pki_path(key);
    if (rg_tls_client_ctx_new(ca, c, k, version, &r->cctx, err, sizeof(err)) < 0)
        fail_msg("client ctx: %s", err);
    free(ca);
    free(c);
    free(k);
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->version = version;
    r->alpn = NULL;
}

/* What one connection of the resumer gave: its server side judged as conn.c does. */
struct attempt {
    bool open;       /* the handshake completed */
    bool reused;     /* wolfSSL resumed a session */
    int identified;  /* rg_tls_peer_identify */
    int resumed;     /* rg_tls_resumed */
    bool downgraded; /* rg_tls_resume_downgraded */
    struct rg_tls_peer peer;
    WOLFSSL_SESSION *next; /* the session the client holds afterwards (owned by the caller) */
};

/* Connect to tls offering sess (NULL: none), identify from addr (NULL: no prefix check) and,
 * when identified and accept, confirm it as conn.c does after the connection is accepted. */
static void attempt(struct resumer *r, struct rg_tls_ctx *tls, WOLFSSL_SESSION *sess,
                    const char *addr, bool accept, int proto, struct attempt *a)
{
    struct sockaddr_storage ss;
    struct pair p;
    memset(a, 0, sizeof(*a));
    memset(&p, 0, sizeof(p));
    WOLFSSL *c = wolfSSL_new(r->cctx);
    assert_non_null(c);
    wolfSSL_UseSessionTicket(c);
    if (r->alpn)
        assert_int_equal(wolfSSL_UseALPN(c, (char *)r->alpn, (word32)strlen(r->alpn),
                                         WOLFSSL_ALPN_CONTINUE_ON_MISMATCH),
                         WOLFSSL_SUCCESS);
    if (sess)
        assert_int_equal(wolfSSL_set_session(c, sess), WOLFSSL_SUCCESS);
    assert_int_equal(rg_tls_stream_init(&p.cli, c), 0);
    assert_int_equal(rg_tls_stream_init(&p.srv, rg_tls_ssl_new(tls)), 0);
    /* As conn.c: the listener's ALPN choice answers the ClientHello before wolfSSL does. */
    rg_tls_stream_drive(&p.cli);
    char why[256];
    assert_int_equal(
        rg_tls_alpn_prepare(tls, p.srv.ssl, p.cli.out.data, p.cli.out.len, why, sizeof(why)), 0);
    pair_pump(&p, 0);
    a->downgraded = rg_tls_resume_downgraded(p.srv.ssl);
    a->open = p.srv.state == RG_TLS_STREAM_OPEN && p.cli.state == RG_TLS_STREAM_OPEN;
    if (a->open) {
        a->reused = wolfSSL_session_reused(p.srv.ssl);
        a->identified =
            rg_tls_peer_identify(tls, p.srv.ssl, addr ? sa_of(addr, &ss) : NULL, &a->peer);
        a->resumed = rg_tls_resumed(p.srv.ssl);
        if (a->identified == 0 && accept)
            rg_tls_session_confirm(tls, p.srv.ssl, &a->peer, proto);
        else
            rg_tls_session_forget(p.srv.ssl); /* as rg_conn_refuse does */
        /* TLS 1.3's ticket comes after the handshake: the client reads it with its data. */
        assert_int_equal(rg_tls_stream_write(&p.srv, (const uint8_t *)"x", 1), 0);
        pair_pump(&p, 0);
        a->next = wolfSSL_get1_session(p.cli.ssl);
    }
    rg_tls_stream_free(&p.srv);
    rg_tls_stream_free(&p.cli);
}

static struct rg_config *cfg_resumable(size_t cache)
{
    struct rg_config *cfg = cfg_acme_crl("acme.crl", NULL);
    cfg->tls.session_cache = (unsigned)cache;
    cfg->tls.session_lifetime_s = 3600;
    return cfg;
}

/* A resumed session gets the identity and org of the full handshake it came from, decided
 * again from the kept chain; each ticket resumes once and the new one it brings resumes next. */
static void test_resumption(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_resumable(100);
    struct rg_tls_ctx *tls = ctx_of(cfg);
    for (int version = 12; version <= 13; version++) {
        struct resumer r;
        struct attempt full, again, third, stale;
        resumer_init(&r, "ap-rsa", version);
        attempt(&r, tls, NULL, NULL, true, RG_PROTO_RADIUS_10, &full);
        assert_true(full.open);
        assert_false(full.reused);
        assert_int_equal(full.resumed, -1);
        assert_org(full.identified, &full.peer, "acme");
        assert_false(full.peer.resumed);
        assert_non_null(full.next);

        attempt(&r, tls, full.next, "192.0.2.1", true, RG_PROTO_RADIUS_10, &again);
        assert_true(again.open);
        assert_true(again.reused);
        assert_org(again.identified, &again.peer, "acme");
        assert_true(again.peer.resumed);
        assert_int_equal(again.resumed, RG_PROTO_RADIUS_10);
        assert_string_equal(again.peer.cn, full.peer.cn);
        assert_string_equal(again.peer.subject, full.peer.subject);
        assert_string_equal(again.peer.issuer, full.peer.issuer);
        assert_true(again.peer.not_after == full.peer.not_after);

        /* The ticket it was given resumes too. TLS 1.3: the one already used does not (each
         * resumption brings a new one); TLS 1.2 gets no new ticket, the first one resumes again. */
        attempt(&r, tls, again.next, NULL, true, RG_PROTO_RADIUS_10, &third);
        assert_true(third.reused);
        assert_org(third.identified, &third.peer, "acme");
        attempt(&r, tls, full.next, NULL, true, RG_PROTO_RADIUS_10, &stale);
        assert_true(stale.open);
        assert_org(stale.identified, &stale.peer, "acme");
        assert_int_equal(stale.reused, version == 12);
        assert_int_equal(stale.peer.resumed, version == 12);
        WOLFSSL_SESSION *s[] = {full.next, again.next, third.next, stale.next};
        for (size_t i = 0; i < RG_ARRAY_SIZE(s); i++)
            wolfSSL_SESSION_free(s[i]);
        wolfSSL_CTX_free(r.cctx);
    }
    rg_tls_ctx_free(tls);
    cfg_free(cfg);
    rg_tls_session_prune(NULL);
}

/* A ticket the gateway refused: never a resumption. A TLS 1.3 client gets a full handshake; a
 * wolfSSL 5.5 TLS 1.2 client takes any ticket it offered as accepted (DSH_CheckSessionId) and
 * fails the handshake instead (its next attempt, without the session, is a full one). */
static void assert_full(int version, const struct attempt *b, const char *org)
{
    assert_false(b->reused);
    if (version == 13) {
        assert_true(b->open);
        assert_org(b->identified, &b->peer, org);
        assert_false(b->peer.resumed);
    } else {
        assert_false(b->open && b->peer.resumed);
    }
}

/* Only a session the gateway accepted resumes, and only while it would be accepted now: the
 * re-authorization under the context in force refuses what a full handshake would refuse. */
static void test_resumption_refused(void **state)
{
    (void)state;
    struct rg_config *c_first = cfg_resumable(100);
    struct rg_config *c_revoked = cfg_acme_crl("acme-ecdsa-revoked.crl", NULL);
    struct rg_config *c_gone = cfg_new(); /* acme removed, its CA trusted by nobody */
    org_ca(cfg_org(c_gone, "globex"), "globex-ca.pem");
    struct rg_config *c_ca = cfg_new(); /* acme kept, but its CA files changed */
    struct rg_org *acme = cfg_org(c_ca, "acme");
    org_ca(acme, "acme-ca.pem");
    org_ca(acme, "acme-ca-next.pem");
    org_ca(cfg_org(c_ca, "globex"), "globex-ca.pem");
    struct rg_config *c_other = cfg_new(); /* the same CA, but the AP now matches initech */
    acme = cfg_org(c_other, "acme");
    org_ca(acme, "acme-ca.pem");
    org_match(acme, "CN:^NOBODY$");
    org_ca(cfg_org(c_other, "initech"), "acme-ca.pem");
    struct rg_config *c_prefix = cfg_acme_crl("acme.crl", NULL);
    org_allow(&c_prefix->orgs[0], "198.51.100.0/24");
    struct rg_config *c_cipher = cfg_acme_crl("acme.crl", NULL);
    free(c_cipher->tls.ciphers);
    c_cipher->tls.ciphers = strdup("TLS13-AES256-GCM-SHA384:TLS13-AES128-GCM-SHA256:"
                                   "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256");
    struct rg_config *all[] = {c_revoked, c_gone, c_ca, c_other, c_prefix, c_cipher};
    for (size_t i = 0; i < RG_ARRAY_SIZE(all); i++) {
        all[i]->tls.session_cache = 100;
        all[i]->tls.session_lifetime_s = 3600;
    }
    struct rg_tls_ctx *first = ctx_of(c_first), *revoked = ctx_of(c_revoked);
    struct rg_tls_ctx *gone = ctx_of(c_gone), *ca = ctx_of(c_ca), *other = ctx_of(c_other);
    struct rg_tls_ctx *prefix = ctx_of(c_prefix), *cipher = ctx_of(c_cipher);

    for (int version = 12; version <= 13; version++) {
        struct resumer r;
        struct attempt a, b;
        resumer_init(&r, "ap-ecdsa", version);

        /* A connection that was refused after its handshake left a ticket that never resumes. */
        attempt(&r, first, NULL, NULL, false, RG_PROTO_RADIUS_10, &a);
        assert_org(a.identified, &a.peer, "acme");
        attempt(&r, first, a.next, NULL, true, RG_PROTO_RADIUS_10, &b);
        assert_full(version, &b, "acme");
        wolfSSL_SESSION_free(a.next);
        wolfSSL_SESSION_free(b.next);

        /* Under a CRL that revokes it: resumed, then refused as a full handshake would be. */
        attempt(&r, first, NULL, NULL, true, RG_PROTO_RADIUS_10, &a);
        attempt(&r, revoked, a.next, NULL, true, RG_PROTO_RADIUS_10, &b);
        assert_true(b.reused);
        assert_refused(b.identified, &b.peer, "revoked");
        wolfSSL_SESSION_free(a.next);
        wolfSSL_SESSION_free(b.next);

        /* From an address its org no longer allows. */
        attempt(&r, first, NULL, NULL, true, RG_PROTO_RADIUS_10, &a);
        attempt(&r, prefix, a.next, "192.0.2.1", true, RG_PROTO_RADIUS_10, &b);
        assert_true(b.reused);
        assert_refused(b.identified, &b.peer, "prefix not allowed");
        wolfSSL_SESSION_free(b.next);
        /* ... and the session it resumed is discarded (radiusdtls-bis): a TLS 1.2 ticket, which
         * would otherwise resume until its lifetime ends, no longer resumes where it would be
         * accepted. */
        attempt(&r, first, a.next, NULL, true, RG_PROTO_RADIUS_10, &b);
        assert_full(version, &b, "acme");
        wolfSSL_SESSION_free(a.next);
        wolfSSL_SESSION_free(b.next);

        /* Under another cipher list: a full handshake, never the suite it was negotiated with. */
        attempt(&r, first, NULL, NULL, true, RG_PROTO_RADIUS_10, &a);
        attempt(&r, cipher, a.next, NULL, true, RG_PROTO_RADIUS_10, &b);
        assert_full(version, &b, "acme");
        wolfSSL_SESSION_free(a.next);
        wolfSSL_SESSION_free(b.next);

        /* Another tenant now: refused, not carried over. */
        attempt(&r, first, NULL, NULL, true, RG_PROTO_RADIUS_10, &a);
        attempt(&r, other, a.next, NULL, true, RG_PROTO_RADIUS_10, &b);
        assert_true(b.reused);
        assert_refused(b.identified, &b.peer, "resumed session of another org: acme, now initech");
        wolfSSL_SESSION_free(a.next);
        wolfSSL_SESSION_free(b.next);

        /* Its org removed by a reload: no resumption; the full handshake is refused. */
        attempt(&r, first, NULL, NULL, true, RG_PROTO_RADIUS_10, &a);
        attempt(&r, gone, a.next, NULL, true, RG_PROTO_RADIUS_10, &b);
        assert_false(b.reused);
        assert_false(b.open && b.identified == 0);
        wolfSSL_SESSION_free(a.next);
        wolfSSL_SESSION_free(b.next);

        /* Its org's CA files changed: a full handshake (here accepted again). */
        attempt(&r, first, NULL, NULL, true, RG_PROTO_RADIUS_10, &a);
        attempt(&r, ca, a.next, NULL, true, RG_PROTO_RADIUS_10, &b);
        assert_full(version, &b, "acme");
        wolfSSL_SESSION_free(a.next);
        wolfSSL_SESSION_free(b.next);

        /* Not past the chain's notAfter (here: a peer whose certificate just expired). */
        attempt(&r, first, NULL, NULL, false, RG_PROTO_RADIUS_10, &a);
        wolfSSL_SESSION_free(a.next);
        {
            struct pair p;
            memset(&p, 0, sizeof(p));
            WOLFSSL *c = wolfSSL_new(r.cctx);
            wolfSSL_UseSessionTicket(c);
            assert_int_equal(rg_tls_stream_init(&p.cli, c), 0);
            assert_int_equal(rg_tls_stream_init(&p.srv, rg_tls_ssl_new(first)), 0);
            pair_pump(&p, 0);
            struct rg_tls_peer peer;
            assert_int_equal(rg_tls_peer_identify(first, p.srv.ssl, NULL, &peer), 0);
            peer.not_after = time(NULL) - 1;
            rg_tls_session_confirm(first, p.srv.ssl, &peer, RG_PROTO_RADIUS_10);
            assert_int_equal(rg_tls_stream_write(&p.srv, (const uint8_t *)"x", 1), 0);
            pair_pump(&p, 0);
            WOLFSSL_SESSION *sess = wolfSSL_get1_session(p.cli.ssl);
            rg_tls_stream_free(&p.srv);
            rg_tls_stream_free(&p.cli);
            attempt(&r, first, sess, NULL, true, RG_PROTO_RADIUS_10, &b);
            assert_full(version, &b, "acme");
            wolfSSL_SESSION_free(sess);
            wolfSSL_SESSION_free(b.next);
        }
        wolfSSL_CTX_free(r.cctx);
    }
    struct rg_tls_ctx *ctxs[] = {first, revoked, gone, ca, other, prefix, cipher};
    for (size_t i = 0; i < RG_ARRAY_SIZE(ctxs); i++)
        rg_tls_ctx_free(ctxs[i]);
    cfg_free(c_first);
    for (size_t i = 0; i < RG_ARRAY_SIZE(all); i++)
        cfg_free(all[i]);
    rg_tls_session_prune(NULL);
}

/* RFC 9765 §"Session Resumption": a radius/1.1 session resumes only as radius/1.1. Offered
 * with radius/1.0 or no ALPN, its ticket is refused and the connection is to be closed
 * (rg_tls_resume_downgraded; conn.c sends the alert); the session stays for its owner. A
 * historic session may resume as radius/1.1. */
static void test_resumption_protocol(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_resumable(100);
    struct rg_tls_ctx *tls = ctx_of(cfg);
    struct resumer r;
    struct attempt a, b, d;
    resumer_init(&r, "ap-rsa", 13);
    r.alpn = "radius/1.1";
    attempt(&r, tls, NULL, NULL, true, RG_PROTO_RADIUS_11, &a);
    assert_false(a.downgraded);
    attempt(&r, tls, a.next, NULL, true, RG_PROTO_RADIUS_11, &b);
    assert_true(b.reused);
    assert_false(b.downgraded);
    assert_int_equal(b.resumed, RG_PROTO_RADIUS_11);
    const char *down[] = {"radius/1.0", NULL};
    for (size_t i = 0; i < RG_ARRAY_SIZE(down); i++) {
        r.alpn = down[i];
        attempt(&r, tls, b.next, NULL, false, RG_PROTO_HISTORIC, &d);
        assert_true(d.downgraded);
        assert_false(d.reused);
        wolfSSL_SESSION_free(d.next);
    }
    r.alpn = "radius/1.1";
    attempt(&r, tls, b.next, NULL, true, RG_PROTO_RADIUS_11, &d);
    assert_true(d.reused);
    assert_false(d.downgraded);
    wolfSSL_SESSION_free(d.next);
    wolfSSL_SESSION_free(a.next);
    wolfSSL_SESSION_free(b.next);

    /* Historic first, radius/1.1 on resumption: allowed. */
    r.alpn = NULL;
    attempt(&r, tls, NULL, NULL, true, RG_PROTO_HISTORIC, &a);
    r.alpn = "radius/1.1";
    attempt(&r, tls, a.next, NULL, true, RG_PROTO_RADIUS_11, &b);
    assert_true(b.reused);
    assert_false(b.downgraded);
    assert_int_equal(b.resumed, RG_PROTO_HISTORIC);
    wolfSSL_SESSION_free(a.next);
    wolfSSL_SESSION_free(b.next);
    wolfSSL_CTX_free(r.cctx);
    rg_tls_ctx_free(tls);
    cfg_free(cfg);
    rg_tls_session_prune(NULL);
}

/* Bounded: session-cache entries at most, the oldest going first; a reload's prune drops what
 * could no longer resume and what is over a smaller session-cache. */
static void test_resumption_bounded(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_resumable(2);
    struct rg_tls_ctx *tls = ctx_of(cfg);
    struct rg_config *c_gone = cfg_new();
    org_ca(cfg_org(c_gone, "globex"), "globex-ca.pem");
    c_gone->tls.session_cache = 100;
    struct rg_tls_ctx *gone = ctx_of(c_gone);
    struct rg_tls_session_stats st0, st;
    rg_tls_session_prune(NULL);
    rg_tls_session_stats(&st0);
    struct resumer r;
    struct attempt a[3], b;
    resumer_init(&r, "ap-rsa", 13);
    for (int i = 0; i < 3; i++)
        attempt(&r, tls, NULL, NULL, true, RG_PROTO_RADIUS_10, &a[i]);
    rg_tls_session_stats(&st);
    assert_int_equal(st.kept, 2);
    assert_int_equal(st.issued - st0.issued, 3);
    assert_int_equal(st.evicted - st0.evicted, 1);
    attempt(&r, tls, a[0].next, NULL, true, RG_PROTO_RADIUS_10, &b); /* evicted: full */
    assert_false(b.reused);
    wolfSSL_SESSION_free(b.next);
    attempt(&r, tls, a[2].next, NULL, true, RG_PROTO_RADIUS_10, &b);
    assert_true(b.reused);
    wolfSSL_SESSION_free(b.next);
    /* acme gone: everything of it goes at the reload. */
    assert_int_equal(rg_tls_session_prune(gone), 2);
    rg_tls_session_stats(&st);
    assert_int_equal(st.kept, 0);
    for (int i = 0; i < 3; i++)
        wolfSSL_SESSION_free(a[i].next);
    wolfSSL_CTX_free(r.cctx);
    rg_tls_ctx_free(tls);
    rg_tls_ctx_free(gone);
    cfg_free(cfg);
    cfg_free(c_gone);
}

/* Resumes (and is accepted, so a TLS 1.3 ticket is replaced by a new one of the same org). */
static void assert_resumes(struct resumer *r, struct rg_tls_ctx *tls, WOLFSSL_SESSION **sess)
{
    struct attempt b;
    attempt(r, tls, *sess, NULL, true, RG_PROTO_RADIUS_10, &b);
    assert_true(b.reused);
    wolfSSL_SESSION_free(*sess);
    *sess = b.next;
}

/* Does not resume; refused afterwards, so the probe leaves nothing in the cache. */
static void assert_evicted(struct resumer *r, struct rg_tls_ctx *tls, WOLFSSL_SESSION *sess)
{
    struct attempt b;
    attempt(r, tls, sess, NULL, false, RG_PROTO_RADIUS_10, &b);
    assert_true(b.open);
    assert_false(b.reused);
    wolfSSL_SESSION_free(b.next);
}

/* Shared fairly between orgs: over session-cache, the org holding the most loses its own
 * oldest, so one org's growth never takes another's sessions while that one is under its
 * share; an org alone still uses the whole cache. */
static void test_resumption_fair_share(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_resumable(4);
    struct rg_tls_ctx *tls = ctx_of(cfg);
    struct rg_config *c_gone = cfg_new();
    org_ca(cfg_org(c_gone, "globex"), "globex-ca.pem");
    c_gone->tls.session_cache = 4;
    c_gone->tls.session_lifetime_s = 3600;
    struct rg_tls_ctx *gone = ctx_of(c_gone);
    struct rg_tls_session_stats st0, st;
    rg_tls_session_prune(NULL);
    rg_tls_session_stats(&st0);
    struct resumer ra, rg;
    struct attempt a[7], g[5];
    resumer_init(&ra, "ap-rsa", 13);
    resumer_init(&rg, "ap-globex", 13);
    /* acme fills the cache, globex comes: acme gives up its two oldest. */
    for (int i = 0; i < 4; i++)
        attempt(&ra, tls, NULL, NULL, true, RG_PROTO_RADIUS_10, &a[i]);
    for (int i = 0; i < 2; i++)
        attempt(&rg, tls, NULL, NULL, true, RG_PROTO_RADIUS_10, &g[i]);
    rg_tls_session_stats(&st);
    assert_int_equal(st.kept, 4);
    assert_int_equal(st.evicted - st0.evicted, 2);
    /* acme grows again: it evicts its own (a[2], a[3], a[4]), globex keeps its two. */
    for (int i = 4; i < 7; i++)
        attempt(&ra, tls, NULL, NULL, true, RG_PROTO_RADIUS_10, &a[i]);
    rg_tls_session_stats(&st);
    assert_int_equal(st.kept, 4);
    assert_int_equal(st.evicted - st0.evicted, 5);
    assert_resumes(&rg, tls, &g[0].next);
    assert_resumes(&rg, tls, &g[1].next);
    for (int i = 0; i < 5; i++)
        assert_evicted(&ra, tls, a[i].next);
    assert_resumes(&ra, tls, &a[5].next);
    assert_resumes(&ra, tls, &a[6].next);
    rg_tls_session_stats(&st);
    assert_int_equal(st.kept, 4);
    assert_int_equal(st.evicted - st0.evicted, 5);
    /* acme removed at a reload: globex alone uses all four, then evicts its own oldest. */
    assert_int_equal(rg_tls_session_prune(gone), 2);
    for (int i = 2; i < 5; i++)
        attempt(&rg, gone, NULL, NULL, true, RG_PROTO_RADIUS_10, &g[i]);
    rg_tls_session_stats(&st);
    assert_int_equal(st.kept, 4);
    assert_int_equal(st.evicted - st0.evicted, 8);
    assert_evicted(&rg, gone, g[0].next);
    for (int i = 1; i < 5; i++)
        assert_resumes(&rg, gone, &g[i].next);
    rg_tls_session_stats(&st);
    assert_int_equal(st.kept, 4);
    assert_int_equal(rg_tls_session_prune(NULL), 4);
    for (int i = 0; i < 7; i++)
        wolfSSL_SESSION_free(a[i].next);
    for (int i = 0; i < 5; i++)
        wolfSSL_SESSION_free(g[i].next);
    wolfSSL_CTX_free(ra.cctx);
    wolfSSL_CTX_free(rg.cctx);
    rg_tls_ctx_free(tls);
    rg_tls_ctx_free(gone);
    cfg_free(cfg);
    cfg_free(c_gone);
}

/* ---- expiry watch ---- */

struct findings {
    struct rg_tls_expiry e[16];
    char line[16][768];
    int n;
};

static void collect(const struct rg_tls_expiry *e, void *arg)
{
    struct findings *f = arg;
    if (f->n == 16)
        fail_msg("too many findings");
    f->e[f->n] = *e;
    rg_tls_expiry_format(e, f->line[f->n], sizeof(f->line[f->n]));
    f->n++;
}

static const struct rg_tls_expiry *finding(struct findings *f, const char *path_end, int *idx)
{
    for (int i = 0; i < f->n; i++) {
        size_t pl = strlen(f->e[i].path), el = strlen(path_end);
        if (pl >= el && strcmp(f->e[i].path + pl - el, path_end) == 0) {
            *idx = i;
            return &f->e[i];
        }
    }
    fail_msg("no finding for %s", path_end);
    return NULL;
}

static time_t utc(int y, int mo, int d)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    return timegm(&tm);
}

/* Today: a 10-day server certificate warns, the expired one in the same chain file and the
 * stale CRL are errors; the 20-year CA and a fresh 30-day CRL say nothing. */
static void test_expiry_now(void **state)
{
    (void)state;
    char cmd[1024];
    char *key = pki_path("short-lived.key"), *pem = pki_path("short-lived.pem");
    char *chain = pki_path("short-lived-chain.pem"), *expired = pki_path("ap-expired.pem");
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 10 "
             "-subj /CN=short-lived.test -keyout '%s' -out '%s' 2>/dev/null && "
             "cat '%s' '%s' > '%s'",
             key, pem, pem, expired, chain);
    assert_int_equal(system(cmd), 0);
    struct rg_config *cfg = cfg_new();
    free(cfg->tls.certificate);
    cfg->tls.certificate = chain;
    struct rg_org *acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");
    org_crl(acme, "acme.crl");
    org_crl(acme, "acme-stale.crl");

    struct findings f = {.n = 0};
    assert_int_equal(rg_tls_expiry_check(cfg, time(NULL), collect, &f), 3);
    int i;
    const struct rg_tls_expiry *e = finding(&f, "short-lived-chain.pem", &i);
    assert_false(e->expired);
    assert_string_equal(e->name, "CN=short-lived.test");
    assert_true(e->days == 9 || e->days == 10);
    assert_non_null(strstr(f.line[i], "short-lived-chain.pem (CN=short-lived.test) expires in "));
    /* the second certificate of the chain file */
    for (i = 0; i < f.n && strcmp(f.e[i].name, "CN=Q2EX-PIRE-0001") != 0; i++)
        ;
    assert_true(i < f.n);
    assert_true(f.e[i].expired);
    assert_non_null(strstr(f.line[i], "(CN=Q2EX-PIRE-0001) expired "));
    assert_non_null(strstr(f.line[i], " days ago on 2021-01-01 00:00 UTC"));
    e = finding(&f, "acme-stale.crl", &i);
    assert_true(e->expired);
    assert_string_equal(e->kind, "CRL");
    assert_non_null(strstr(f.line[i], "(CN=Acme AP Root CA) is stale: nextUpdate passed "));

    free(key);
    free(pem);
    free(expired);
    cfg_free(cfg);
}

/* A fixed "now" shows the windows exactly: 30 days for certificates; a CRL warns once less
 * than half its validity is left (acme-stale.crl: 2020-01-01..2020-02-01). A file that cannot
 * be read is an error too. */
static void test_expiry_windows(void **state)
{
    (void)state;
    struct rg_config *cfg = cfg_new();
    free(cfg->tls.certificate);
    cfg->tls.certificate = pki_path("ap-expired.pem"); /* notAfter 2021-01-01 */
    struct rg_org *acme = cfg_org(cfg, "acme");
    org_ca(acme, "acme-ca.pem");

    struct findings f = {.n = 0};
    assert_int_equal(rg_tls_expiry_check(cfg, utc(2020, 12, 1), collect, &f), 0);
    assert_int_equal(rg_tls_expiry_check(cfg, utc(2020, 12, 22), collect, &f), 1);
    assert_false(f.e[0].expired);
    assert_int_equal(f.e[0].days, 10);
    char want[512];
    snprintf(want, sizeof(want),
             "certificate %s (CN=Q2EX-PIRE-0001) expires in 10 days on 2021-01-01 00:00 UTC",
             cfg->tls.certificate);
    assert_string_equal(f.line[0], want);

    org_crl(acme, "acme-stale.crl");
    f.n = 0;
    assert_int_equal(rg_tls_expiry_check(cfg, utc(2020, 1, 10), collect, &f), 0);
    assert_int_equal(rg_tls_expiry_check(cfg, utc(2020, 1, 20), collect, &f), 1);
    assert_string_equal(f.e[0].kind, "CRL");
    assert_int_equal(f.e[0].days, 12);
    assert_non_null(strstr(f.line[0], "needs renewal: nextUpdate in 12 days on 2020-02-01"));

    org_ca(acme, "no-such-ca.pem");
    f.n = 0;
    assert_int_equal(rg_tls_expiry_check(cfg, utc(2020, 1, 10), collect, &f), 1);
    assert_true(f.e[0].unreadable);
    assert_non_null(strstr(f.line[0], "no-such-ca.pem: cannot check its expiry"));
    cfg_free(cfg);
}

/* ---- what one connection keeps ------------------------------------------------------------ */

/* Live octets wolfSSL has allocated (wolfSSL_SetAllocators, installed before wolfSSL_Init). */
static size_t heap_live;

struct heap_hdr {
    size_t size;
    max_align_t align;
};

static void *heap_malloc(size_t n)
{
    struct heap_hdr *h = malloc(sizeof(*h) + n);
    if (!h)
        return NULL;
    h->size = n;
    heap_live += n;
    return h + 1;
}

static void heap_free(void *p)
{
    if (!p)
        return;
    struct heap_hdr *h = (struct heap_hdr *)p - 1;
    heap_live -= h->size;
    free(h);
}

static void *heap_realloc(void *p, size_t n)
{
    if (!p)
        return heap_malloc(n);
    struct heap_hdr *h = (struct heap_hdr *)p - 1;
    size_t old = h->size;
    struct heap_hdr *nh = realloc(h, sizeof(*nh) + n);
    if (!nh)
        return NULL;
    heap_live = heap_live - old + n;
    nh->size = n;
    return nh + 1;
}

/* An idle server connection (TLS 1.2 and 1.3, RSA-2048, after the handshake and one
 * RADIUS-sized record each way) keeps less than 16 KB in wolfSSL, the memory budget per
 * connection, with the peer chain the re-check needs counted in (it is copied by the verify
 * callback, outside wolfSSL). Debian's libwolfssl (-DRG_WOLFSSL=system) keeps several times
 * that: the number is printed there, not checked. */
static void test_session_heap(void **state)
{
    (void)state;
    char err[256];
    struct rg_tls_ctx *tls;
    struct rg_config *cfg = cfg_acme_globex();
    assert_int_equal(rg_tls_ctx_new(cfg, &tls, err, sizeof(err)), 0);
    uint8_t req[120] = {1, 7, 0, 120}, rep[60] = {2, 7, 0, 60};
    size_t kept[2] = {0, 0};
    for (int version = 12; version <= 13; version++) {
        struct pair p;
        assert_int_equal(pair_open(&p, tls, "ap-rsa", version), 0);
        pair_pump(&p, 0);
        assert_int_equal(p.srv.state, RG_TLS_STREAM_OPEN);
        assert_int_equal(rg_tls_stream_write(&p.cli, req, sizeof(req)), 0);
        pair_pump(&p, 0);
        assert_int_equal(p.srv.plain.len, sizeof(req));
        assert_int_equal(rg_tls_stream_write(&p.srv, rep, sizeof(rep)), 0);
        pair_pump(&p, 0);
        assert_int_equal(p.cli.plain.len, sizeof(rep));
        struct rg_tls_peer peer;
        assert_int_equal(rg_tls_peer_identify(tls, p.srv.ssl, NULL, &peer), 0);

        char *path = pki_path("ap-rsa.pem");
        WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(path, WOLFSSL_FILETYPE_PEM);
        free(path);
        int chain = 0;
        assert_non_null(x);
        assert_non_null(wolfSSL_X509_get_der(x, &chain));
        wolfSSL_X509_free(x);

        size_t before = heap_live;
        rg_tls_stream_free(&p.srv);
        size_t session = before - heap_live;
        print_message("TLS 1.%d: wolfSSL heap per idle server session %zu octets, peer chain "
                      "copy %d\n",
                      version - 10, session, chain);
        assert_true(session > 1000); /* the allocator really sees wolfSSL's allocations */
        kept[version - 12] = session + (size_t)chain;
        pair_close(&p);
    }
#ifndef FP_ECC /* the tailored build (Debian's has FP_ECC and SESSION_CERTS) */
    assert_true(kept[0] < 16 * 1024);
    assert_true(kept[1] < 16 * 1024);
#else
    (void)kept;
#endif
    rg_tls_ctx_free(tls);
    cfg_free(cfg);
}

/* ---- ALPN (RFC 9765) ---- */

static uint8_t *read_capture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/fuzz/corpus/radius11/%s", RG_TEST_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t buf[4096];
    *len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return buf;
}

/* ClientHellos from OpenSSL's s_client (captured into test/fuzz/corpus/radius11), an
 * implementation independent of wolfSSL. */
static void test_hello_peek_openssl_captures(void **state)
{
    (void)state;
    char alpn[64];
    bool has_alpn, tls13;
    size_t len;
    const uint8_t *hello = read_capture("hello_tls13_alpn_both.bin", &len);
    assert_int_equal(rg_tls_hello_peek(hello, len, alpn, sizeof(alpn), &has_alpn, &tls13), 0);
    assert_true(has_alpn);
    assert_true(tls13);
    assert_string_equal(alpn, "radius/1.0,radius/1.1");
    /* Not all there yet: wait (every prefix, the record header included). */
    for (size_t n = 0; n < len; n += 7)
        assert_int_equal(rg_tls_hello_peek(hello, n, alpn, sizeof(alpn), &has_alpn, &tls13), 1);
    /* A list longer than the buffer is cut at a whole name. */
    assert_int_equal(rg_tls_hello_peek(hello, len, alpn, 12, &has_alpn, &tls13), 0);
    assert_string_equal(alpn, "radius/1.0");

    hello = read_capture("hello_tls12_alpn_11.bin", &len);
    assert_int_equal(rg_tls_hello_peek(hello, len, alpn, sizeof(alpn), &has_alpn, &tls13), 0);
    assert_true(has_alpn);
    assert_false(tls13);
    assert_string_equal(alpn, "radius/1.1");

    hello = read_capture("hello_no_alpn.bin", &len);
    assert_int_equal(rg_tls_hello_peek(hello, len, alpn, sizeof(alpn), &has_alpn, &tls13), 0);
    assert_false(has_alpn);
    assert_true(tls13);

    /* Not a handshake record: refused to read (wolfSSL answers it). */
    static const uint8_t junk[] = {23, 3, 3, 0, 5, 1, 2, 3, 4, 5};
    assert_int_equal(rg_tls_hello_peek(junk, sizeof(junk), alpn, sizeof(alpn), &has_alpn, &tls13),
                     -EBADMSG);
}

/* One handshake over memory: the client offers offered (NULL: no ALPN) with TLS version;
 * returns what rg_tls_alpn_prepare said and sets *proto (-1 unless the handshake opened). */
static int alpn_handshake(struct rg_tls_ctx *tls, const char *offered, int version,
                          enum rg_radius11_mode mode, int *proto, char *selected, size_t sellen)
{
    struct pair p;
    char why[128];
    assert_int_equal(pair_open(&p, tls, "ap-rsa", version), 0);
    if (offered)
        assert_int_equal(wolfSSL_UseALPN(p.cli.ssl, (char *)offered, (word32)strlen(offered),
                                         WOLFSSL_ALPN_CONTINUE_ON_MISMATCH),
                         WOLFSSL_SUCCESS);
    rg_tls_stream_drive(&p.cli);
    int rc = rg_tls_alpn_prepare(tls, p.srv.ssl, p.cli.out.data, p.cli.out.len, why, sizeof(why));
    *proto = -1;
    selected[0] = '\0';
    if (rc == 0) {
        pair_pump(&p, 0);
        if (p.srv.state == RG_TLS_STREAM_OPEN && p.cli.state == RG_TLS_STREAM_OPEN) {
            *proto = rg_tls_protocol(p.srv.ssl, mode);
            char *name = NULL;
            word16 n = 0;
            if (wolfSSL_ALPN_GetProtocol(p.cli.ssl, &name, &n) == WOLFSSL_SUCCESS && name)
                snprintf(selected, sellen, "%.*s", (int)n, name);
        }
    } else {
        assert_int_equal(rc, -EPROTO);
        assert_true(strncmp(why, "ALPN: ", 6) == 0);
    }
    pair_close(&p);
    return rc;
}

static void test_alpn_handshakes(void **state)
{
    (void)state;
    char err[256], sel[32];
    struct rg_tls_ctx *tls;
    struct rg_config *cfg = cfg_acme_globex();
    int proto;
    cfg->listen.radius11 = RG_RADIUS11_ALLOW;
    assert_int_equal(rg_tls_ctx_new(cfg, &tls, err, sizeof(err)), 0);
    /* wolfSSL alone would answer radius/1.0 here (the client's first name it knows). */
    assert_int_equal(alpn_handshake(tls, "radius/1.0,radius/1.1", 13, RG_RADIUS11_ALLOW, &proto,
                                    sel, sizeof(sel)),
                     0);
    assert_int_equal(proto, RG_PROTO_RADIUS_11);
    assert_string_equal(sel, "radius/1.1");
    /* TLS 1.2: radius/1.0, whatever the order. */
    assert_int_equal(alpn_handshake(tls, "radius/1.1,radius/1.0", 12, RG_RADIUS11_ALLOW, &proto,
                                    sel, sizeof(sel)),
                     0);
    assert_int_equal(proto, RG_PROTO_RADIUS_10);
    assert_string_equal(sel, "radius/1.0");
    assert_int_equal(
        alpn_handshake(tls, "radius/1.1", 12, RG_RADIUS11_ALLOW, &proto, sel, sizeof(sel)),
        -EPROTO);
    assert_int_equal(alpn_handshake(tls, NULL, 13, RG_RADIUS11_ALLOW, &proto, sel, sizeof(sel)), 0);
    assert_int_equal(proto, RG_PROTO_HISTORIC);
    assert_string_equal(sel, "");
    /* A handshake that ended in radius/1.1 does not satisfy forbid (checked again after). */
    assert_int_equal(
        alpn_handshake(tls, "radius/1.1", 13, RG_RADIUS11_FORBID, &proto, sel, sizeof(sel)), 0);
    assert_int_equal(proto, -EPROTO);
    rg_tls_ctx_free(tls);

    cfg->listen.radius11 = RG_RADIUS11_REQUIRE;
    assert_int_equal(rg_tls_ctx_new(cfg, &tls, err, sizeof(err)), 0);
    assert_int_equal(alpn_handshake(tls, NULL, 13, RG_RADIUS11_REQUIRE, &proto, sel, sizeof(sel)),
                     -EPROTO);
    assert_int_equal(
        alpn_handshake(tls, "radius/1.0", 13, RG_RADIUS11_REQUIRE, &proto, sel, sizeof(sel)),
        -EPROTO);
    assert_int_equal(
        alpn_handshake(tls, "radius/1.1", 13, RG_RADIUS11_REQUIRE, &proto, sel, sizeof(sel)), 0);
    assert_int_equal(proto, RG_PROTO_RADIUS_11);
    rg_tls_ctx_free(tls);
    cfg_free(cfg);
}

int main(void)
{
    /* Before wolfSSL allocates anything: every block it frees must come from here. */
    wolfSSL_SetAllocators(heap_malloc, heap_free, heap_realloc);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_names),
        cmocka_unit_test(test_org_selection_by_ca),
        cmocka_unit_test(test_rotated_ca),
        cmocka_unit_test(test_intermediate_chain),
        cmocka_unit_test(test_intermediate_not_other_org),
        cmocka_unit_test(test_match_rule_mismatch),
        cmocka_unit_test(test_match_rules_san),
        cmocka_unit_test(test_shared_ca_disambiguation),
        cmocka_unit_test(test_prefix_not_allowed),
        cmocka_unit_test(test_addr_allowed),
        cmocka_unit_test(test_crl_missing),
        cmocka_unit_test(test_crl_stale),
        cmocka_unit_test(test_revoked),
        cmocka_unit_test(test_rogue_same_name),
        cmocka_unit_test(test_ctx_errors_name_the_file),
        cmocka_unit_test(test_versions_and_ciphers),
        cmocka_unit_test(test_server_preference),
        cmocka_unit_test(test_no_resumption),
        cmocka_unit_test(test_recheck),
        cmocka_unit_test(test_resumption),
        cmocka_unit_test(test_resumption_refused),
        cmocka_unit_test(test_resumption_protocol),
        cmocka_unit_test(test_resumption_bounded),
        cmocka_unit_test(test_resumption_fair_share),
        cmocka_unit_test(test_expiry_now),
        cmocka_unit_test(test_expiry_windows),
        cmocka_unit_test(test_session_heap),
        cmocka_unit_test(test_hello_peek_openssl_captures),
        cmocka_unit_test(test_alpn_handshakes),
    };
    return cmocka_run_group_tests(tests, env_pki_setup, env_pki_teardown);
}
