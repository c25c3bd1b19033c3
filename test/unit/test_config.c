/* Tests for src/config*.c: defaults, every rejection with its exact "file:line: reason",
 * the short-secret warning, routing by realm, prefixes and the snapshot's reference count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "radsecgw/config.h"

#define CONFIG_DIR RG_TEST_DIR "/config"

/* Three valid lines; error cases append from line 4 on. */
#define BASE                                                                                       \
    "tls { certificate = \"server-chain.pem\" key = \"server.key\" }\n"                            \
    "pool \"corp\" { server \"rad1\" { host = \"192.0.2.10\" secret = \"0123456789abcdef\" } }\n"  \
    "org \"acme\" { ca = {\"ca.pem\"} pool = \"corp\" }\n"

static struct rg_config *load_ok(const char *text)
{
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    int rc = rg_config_load_buf("good.conf", text, false, &cfg, &diag);
    if (rc != 0)
        fail_msg("unexpected failure %d:\n%s", rc, diag.text ? diag.text : "(no text)");
    assert_non_null(cfg);
    assert_int_equal(diag.nerrors, 0);
    rg_config_diag_free(&diag);
    return cfg;
}

/* The load fails with -EINVAL, produces no snapshot, and says exactly `expected`. */
static void expect_error(const char *text, const char *expected)
{
    struct rg_config *cfg = (struct rg_config *)1;
    struct rg_config_diag diag = {0};
    int rc = rg_config_load_buf("bad.conf", text, false, &cfg, &diag);
    if (rc != -EINVAL || !diag.text || !strstr(diag.text, expected))
        fail_msg("expected -EINVAL and \"%s\", got %d:\n%s", expected, rc,
                 diag.text ? diag.text : "(no text)");
    assert_null(cfg);
    assert_true(diag.nerrors >= 1);
    rg_config_diag_free(&diag);
    assert_null(diag.text);
}

static void test_defaults(void **state)
{
    struct rg_config *cfg = load_ok(BASE);

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(cfg->workers, cpus > 0 ? (unsigned)cpus : 1u);
    assert_null(cfg->user);
    assert_null(cfg->pidfile);
    assert_int_equal(cfg->refcount, 1);
    assert_string_equal(cfg->path, "good.conf");

    assert_int_equal(cfg->listen.naddress, 2);
    assert_string_equal(cfg->listen.address[0], "0.0.0.0");
    assert_string_equal(cfg->listen.address[1], "::");
    assert_int_equal(cfg->listen.port, 2083);
    assert_int_equal(cfg->listen.max_connections, 100000);
    /* hundreds of APs share one NAT address: no per-address limit unless asked for */
    assert_int_equal(cfg->listen.max_connections_per_ip, 0);
    assert_int_equal(cfg->listen.max_handshakes, 4096);
    assert_int_equal(cfg->listen.max_handshakes_per_ip, 64);
    assert_int_equal(cfg->listen.idle_timeout_s, 900);
    assert_int_equal(cfg->listen.handshake_timeout_s, 10);
    assert_int_equal(cfg->listen.packet_timeout_s, 5);
    assert_int_equal(cfg->listen.max_requests_per_second, 0); /* off */

    assert_string_equal(cfg->tls.certificate, "server-chain.pem");
    assert_string_equal(cfg->tls.key, "server.key");
    assert_int_equal(cfg->tls.min_version, 12);
    assert_string_equal(cfg->tls.ciphers, "");
    assert_int_equal(cfg->tls.session_cache, 10000);
    assert_int_equal(cfg->tls.session_lifetime_s, 86400);

    assert_int_equal(cfg->norgs, 1);
    const struct rg_org *o = &cfg->orgs[0];
    assert_string_equal(o->name, "acme");
    assert_int_equal(o->line, 3);
    assert_int_equal(o->nca, 1);
    assert_string_equal(o->ca[0], "ca.pem");
    assert_int_equal(o->ncrl, 0);
    assert_int_equal(o->crl_refresh_s, 3600);
    /* RFC 6614 §2.3 */
    assert_string_equal(o->secret, "radsec");
    assert_int_equal(o->secret_len, 6);
    assert_int_equal(o->nallow, 2);
    assert_int_equal(o->allow[0].family, AF_INET);
    assert_int_equal(o->allow[0].bits, 0);
    assert_int_equal(o->allow[1].family, AF_INET6);
    assert_int_equal(o->allow[1].bits, 0);
    assert_int_equal(o->nmatch, 0);
    assert_ptr_equal(o->pool, &cfg->pools[0]);
    assert_true(o->coa);

    assert_int_equal(cfg->npools, 1);
    const struct rg_pool *p = &cfg->pools[0];
    assert_string_equal(p->name, "corp");
    assert_int_equal(p->policy, RG_POLICY_FAILOVER);
    assert_int_equal(p->timeout_s, 2);
    assert_int_equal(p->retries, 3);
    assert_true(p->status_server);
    assert_int_equal(p->require_message_authenticator, RG_REQUIRE_MA_AUTO);
    assert_int_equal(p->max_outstanding, 16384);
    assert_int_equal(p->dead_time_s, 30);
    assert_int_equal(p->when_dead, RG_WHEN_DEAD_SILENT);
    assert_int_equal(p->nservers, 1);
    const struct rg_server *s = &p->servers[0];
    assert_string_equal(s->name, "rad1");
    assert_string_equal(s->host, "192.0.2.10");
    assert_int_equal(s->auth_port, 1812);
    assert_int_equal(s->acct_port, 1813);
    assert_string_equal(s->secret, "0123456789abcdef");
    assert_int_equal(s->secret_len, 16);
    const struct sockaddr_in *auth = (const struct sockaddr_in *)&s->auth_addr;
    const struct sockaddr_in *acct = (const struct sockaddr_in *)&s->acct_addr;
    assert_int_equal(auth->sin_family, AF_INET);
    assert_int_equal(s->addr_len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(auth->sin_port), 1812);
    assert_int_equal(ntohs(acct->sin_port), 1813);
    assert_int_equal(ntohl(auth->sin_addr.s_addr), 0xc000020a);
    assert_int_equal(acct->sin_addr.s_addr, auth->sin_addr.s_addr);

    assert_int_equal(cfg->orgs[0].nrealms, 0);
    assert_false(cfg->coa.enabled);
    assert_int_equal(cfg->coa.nclients, 0);
    assert_int_equal(cfg->log.facility, LOG_DAEMON);
    assert_int_equal(cfg->log.level, LOG_INFO);
    assert_true(cfg->log.requests);
    assert_int_equal(cfg->stats.interval_s, 300);
    rg_config_unref(cfg);
}

static void test_host_name(void **state)
{
    /* a name, not an address: looked up when the config is loaded (here from /etc/hosts) */
    struct rg_config *cfg =
        load_ok(BASE "pool \"p\" { server \"s\" { host = \"localhost\" auth-port = 18120 secret = "
                     "\"0123456789abcdef\" } }\n");
    const struct rg_server *s = &rg_config_find_pool(cfg, "p")->servers[0];
    assert_string_equal(s->host, "localhost");
    if (s->auth_addr.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&s->auth_addr;
        assert_int_equal(ntohl(in->sin_addr.s_addr) >> 24, 127);
        assert_int_equal(ntohs(in->sin_port), 18120);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&s->auth_addr;
        assert_int_equal(in6->sin6_family, AF_INET6);
        assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
        assert_int_equal(ntohs(in6->sin6_port), 18120);
    }
    rg_config_unref(cfg);
}

static void test_coa_defaults(void **state)
{
    struct rg_config *cfg = load_ok(
        BASE "coa { client \"rad1\" { host = \"192.0.2.10\" secret = \"coa-secret-long\" } }\n");
    assert_true(cfg->coa.enabled);
    assert_string_equal(cfg->coa.address, "127.0.0.1");
    assert_int_equal(cfg->coa.port, 3799);
    assert_int_equal(cfg->coa.nclients, 1);
    assert_string_equal(cfg->coa.clients[0].name, "rad1");
    assert_string_equal(cfg->coa.clients[0].secret, "coa-secret-long");
    assert_int_equal(cfg->coa.clients[0].addr.ss_family, AF_INET);
    rg_config_unref(cfg);
}

/* Issue 18: PROXY v2 behind a balancer, and the cluster block. */
static void test_proxy_protocol_and_cluster(void **state)
{
    struct rg_config *cfg = load_ok(BASE);
    assert_false(cfg->listen.proxy_protocol);
    assert_int_equal(cfg->listen.nproxy_from, 0);
    assert_false(cfg->cluster.enabled);
    rg_config_unref(cfg);

    cfg = load_ok(BASE "listen { proxy-protocol = true proxy-from = {\"10.0.0.5/32\", "
                       "\"fd00::/64\"} }\n"
                       "coa { address = \"10.0.0.1\" port = 3799 client \"rad1\" { host = "
                       "\"192.0.2.10\" secret = \"coa-secret-long\" } }\n"
                       "cluster { instance = \"gw-a\" redis = \"[::1]:6380\" "
                       "redis-password = \"pw\" secret = \"cluster-secret-long\" }\n");
    assert_true(cfg->listen.proxy_protocol);
    assert_int_equal(cfg->listen.nproxy_from, 2);
    assert_int_equal(cfg->listen.proxy_from[0].bits, 32);
    assert_int_equal(cfg->listen.proxy_from[1].family, AF_INET6);
    assert_true(cfg->cluster.enabled);
    assert_string_equal(cfg->cluster.instance, "gw-a");
    assert_string_equal(cfg->cluster.redis_host, "::1");
    assert_int_equal(cfg->cluster.redis_port, 6380);
    assert_string_equal(cfg->cluster.redis_password, "pw");
    assert_string_equal(cfg->cluster.secret, "cluster-secret-long");
    /* coa-address defaults to the coa block's address when that is not a wildcard */
    assert_string_equal(cfg->cluster.address, "10.0.0.1");
    assert_int_equal(cfg->cluster.port, 3799);
    rg_config_unref(cfg);

    expect_error(BASE "listen {\n  proxy-protocol = true\n}\n",
                 "bad.conf:5: proxy-protocol = true needs proxy-from");
    expect_error(BASE "listen {\n  proxy-from = {\"10.0.0.0/33\"}\n}\n",
                 "bad.conf:5: proxy-from '10.0.0.0/33' is not an address prefix");
    expect_error(BASE "cluster {\n  secret = \"cluster-secret-long\"\n}\n",
                 "bad.conf:4: cluster instance is not set");
    expect_error(BASE "cluster {\n  instance = \"a\"\n  secret = \"cluster-secret-long\"\n"
                      "  redis = \"localhost:6379\"\n}\n",
                 "bad.conf:7: cluster redis 'localhost:6379' is not a numeric host:port");
    expect_error(BASE "cluster {\n  instance = \"a\"\n}\n",
                 "bad.conf:4: cluster secret is not set");
    expect_error(BASE "coa { address = \"0.0.0.0\" }\n"
                      "cluster {\n  instance = \"a\"\n  secret = \"cluster-secret-long\"\n}\n",
                 "bad.conf:5: cluster coa-address is not set and coa address is a wildcard");
}

static void test_good_file(void **state)
{
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(CONFIG_DIR), 0);

    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    /* check_files: every certificate, key, CA and CRL named exists in test/config/ */
    int rc = rg_config_load(CONFIG_DIR "/good.conf", true, &cfg, &diag);
    assert_int_equal(chdir(cwd), 0);
    if (rc != 0)
        fail_msg("%d: %s", rc, diag.text);
    assert_int_equal(diag.nwarnings, 0);
    assert_null(diag.text);

    assert_int_equal(cfg->workers, 3);
    assert_string_equal(cfg->user, "radsecgw");
    assert_string_equal(cfg->pidfile, "/run/radsecgw-test.pid");
    assert_int_equal(cfg->listen.naddress, 2);
    assert_string_equal(cfg->listen.address[0], "127.0.0.1");
    assert_string_equal(cfg->listen.address[1], "::1");
    assert_int_equal(cfg->listen.port, 12083);
    assert_int_equal(cfg->listen.max_connections, 500);
    assert_int_equal(cfg->listen.max_connections_per_ip, 8);
    assert_int_equal(cfg->listen.max_handshakes, 300);
    assert_int_equal(cfg->listen.max_handshakes_per_ip, 7);
    assert_int_equal(cfg->listen.idle_timeout_s, 60);
    assert_int_equal(cfg->listen.handshake_timeout_s, 5);
    assert_int_equal(cfg->listen.packet_timeout_s, 3);
    assert_int_equal(cfg->listen.max_requests_per_second, 500);
    assert_int_equal(cfg->tls.min_version, 13);
    assert_string_equal(cfg->tls.ciphers, "TLS13-AES256-GCM-SHA384");
    assert_int_equal(cfg->tls.session_cache, 500);
    assert_int_equal(cfg->tls.session_lifetime_s, 3600);

    assert_int_equal(cfg->norgs, 2);
    const struct rg_org *acme = rg_config_find_org(cfg, "acme");
    assert_non_null(acme);
    /* line numbers survive the comments above (libconfuse 3.3 alone gets them wrong) */
    assert_int_equal(acme->line, 31);
    assert_int_equal(acme->nca, 2);
    assert_string_equal(acme->ca[1], "ca-next.pem");
    assert_int_equal(acme->ncrl, 1);
    assert_int_equal(acme->crl_refresh_s, 600);
    assert_int_equal(acme->nallow, 2);
    assert_int_equal(acme->allow[0].bits, 8);
    assert_int_equal(acme->allow[1].bits, 32);
    assert_int_equal(acme->nmatch, 3);
    assert_int_equal(acme->match[0].kind, RG_MATCH_CN);
    assert_string_equal(acme->match[0].pattern, "^Q2[A-Z0-9-]+$");
    assert_true(rg_config_match_string(&acme->match[0], "Q2AB-CDEF-GH12"));
    assert_false(rg_config_match_string(&acme->match[0], "Q3AB-CDEF-GH12"));
    assert_false(rg_config_match_string(&acme->match[0], "xQ2AB"));
    assert_int_equal(acme->match[1].kind, RG_MATCH_SAN_DNS);
    assert_string_equal(acme->match[1].pattern, "\\.ap\\.example\\.com$");
    assert_true(rg_config_match_string(&acme->match[1], "q2-1.ap.example.com"));
    assert_false(rg_config_match_string(&acme->match[1], "q2-1.apxexample.com"));
    assert_int_equal(acme->match[2].kind, RG_MATCH_SAN_IP);
    assert_int_equal(acme->match[2].prefix.bits, 16);
    assert_false(rg_config_match_string(&acme->match[2], "10.1.0.1"));
    assert_false(acme->coa);
    assert_string_equal(acme->pool->name, "corp");
    const struct rg_org *globex = rg_config_find_org(cfg, "globex");
    assert_non_null(globex);
    assert_int_equal(globex->nca, 1);
    assert_string_equal(globex->pool->name, "guest");
    assert_null(rg_config_find_org(cfg, "initech"));

    const struct rg_pool *corp = rg_config_find_pool(cfg, "corp");
    assert_non_null(corp);
    assert_int_equal(corp->policy, RG_POLICY_ROUND_ROBIN);
    assert_int_equal(corp->timeout_s, 3);
    assert_int_equal(corp->retries, 2);
    assert_false(corp->status_server);
    assert_int_equal(corp->require_message_authenticator, RG_REQUIRE_MA_FALSE);
    assert_int_equal(corp->max_outstanding, 4096);
    assert_int_equal(corp->when_dead, RG_WHEN_DEAD_REJECT);
    assert_int_equal(corp->dead_time_s, 45);
    assert_int_equal(corp->nservers, 2);
    assert_int_equal(corp->servers[0].auth_port, 11812);
    assert_int_equal(corp->servers[0].acct_port, 11813);
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&corp->servers[1].auth_addr;
    assert_int_equal(v6->sin6_family, AF_INET6);
    assert_int_equal(corp->servers[1].addr_len, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(v6->sin6_port), 1812);
    assert_int_equal(ntohs(((const struct sockaddr_in6 *)&corp->servers[1].acct_addr)->sin6_port),
                     1813);

    /* realms inside org blocks: the same name routes each org's APs to its own pool */
    const struct rg_pool *guest = rg_config_find_pool(cfg, "guest");
    assert_int_equal(acme->nrealms, 2);
    assert_int_equal(globex->nrealms, 1);
    assert_ptr_equal(rg_config_route(acme, "bob@example.com"), guest);
    assert_ptr_equal(rg_config_route(globex, "bob@example.com"), corp);
    assert_ptr_equal(rg_config_route(acme, "bob@other.org"), corp);    /* acme's "*" */
    assert_ptr_equal(rg_config_route(globex, "bob@other.org"), guest); /* not acme's "*" */
    assert_true(cfg->coa.enabled);
    assert_string_equal(cfg->coa.address, "::1");
    assert_int_equal(cfg->coa.port, 13799);
    assert_int_equal(cfg->coa.nclients, 1);
    assert_int_equal(cfg->coa.clients[0].norgs, 1);
    assert_ptr_equal(cfg->coa.clients[0].orgs[0], globex);
    assert_true(rg_config_coa_client_reaches(&cfg->coa.clients[0], globex));
    assert_false(rg_config_coa_client_reaches(&cfg->coa.clients[0], acme));
    assert_int_equal(cfg->log.facility, LOG_LOCAL3);
    assert_int_equal(cfg->log.level, LOG_DEBUG);
    assert_false(cfg->log.requests);
    assert_int_equal(cfg->stats.interval_s, 60);

    /* -t summary: readable, and never prints a secret */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    rg_config_print(cfg, out);
    fclose(out);
    assert_non_null(strstr(text, "listen 127.0.0.1, ::1 port 12083"));
    assert_non_null(strstr(text, "8 per address, 300 handshakes (7 per address; more wait)"));
    assert_non_null(strstr(text, "org \"acme\": 2 CA, 1 CRL"));
    assert_non_null(strstr(text, "  allow 2001:db8::/32\n"));
    assert_non_null(strstr(text, "  match SAN:DNS:\\.ap\\.example\\.com$\n"));
    assert_non_null(strstr(text, "pool \"corp\": round-robin"));
    assert_non_null(
        strstr(text, "  server \"rad2\" 2001:db8::11 (2001:db8::11) auth 1812 acct 1813"));
    assert_non_null(strstr(text, "  realm \"example.com\" -> pool \"guest\"\n  realm \"*\""));
    assert_non_null(strstr(text, "coa ::1 port 13799, 1 clients"));
    assert_non_null(strstr(text, "  client \"rad1\" 192.0.2.10 (192.0.2.10), orgs \"globex\"\n"));
    assert_non_null(strstr(text, "log facility local3, level debug"));
    assert_null(strstr(text, "a-long-backend-secret"));
    assert_null(strstr(text, "coa-client-secret"));
    free(text);
    rg_config_unref(cfg);
}

static void test_check_files_missing_ca(void **state)
{
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(CONFIG_DIR), 0);
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    int rc = rg_config_load("missing-ca.conf", true, &cfg, &diag);
    /* without check_files the same file loads: nothing is read but the config */
    struct rg_config *unchecked = NULL;
    int rc2 = rg_config_load("missing-ca.conf", false, &unchecked, NULL);
    assert_int_equal(chdir(cwd), 0);

    assert_int_equal(rc, -EINVAL);
    assert_null(cfg);
    assert_non_null(diag.text);
    assert_non_null(strstr(diag.text, "missing-ca.conf:9: cannot read CA file 'no-such-ca.pem': "
                                      "No such file or directory\n"));
    rg_config_diag_free(&diag);
    assert_int_equal(rc2, 0);
    rg_config_unref(unchecked);
}

static void test_check_files(void **state)
{
    char buf[2048];
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};

    snprintf(buf, sizeof(buf),
             "tls { certificate = \"%s/server-chain.pem\" key = \"%s/nope.key\" }\n"
             "pool \"corp\" { server \"rad1\" { host = \"192.0.2.10\" secret = "
             "\"0123456789abcdef\" } }\n"
             "org \"acme\" { ca = {\"%s/ca.pem\"} pool = \"corp\" }\n",
             CONFIG_DIR, CONFIG_DIR, CONFIG_DIR);
    assert_int_equal(rg_config_load_buf("bad.conf", buf, true, &cfg, &diag), -EINVAL);
    assert_non_null(
        strstr(diag.text, "bad.conf:1: cannot read key file '" CONFIG_DIR "/nope.key'"));
    rg_config_diag_free(&diag);

    /* a directory is not a certificate */
    snprintf(buf, sizeof(buf),
             "tls { certificate = \"%s\" key = \"%s/server.key\" }\n"
             "pool \"corp\" { server \"rad1\" { host = \"192.0.2.10\" secret = "
             "\"0123456789abcdef\" } }\n"
             "org \"acme\" { ca = {\"%s/ca.pem\"} pool = \"corp\" }\n",
             CONFIG_DIR, CONFIG_DIR, CONFIG_DIR);
    assert_int_equal(rg_config_load_buf("bad.conf", buf, true, &cfg, &diag), -EINVAL);
    assert_non_null(strstr(diag.text, "bad.conf:1: cannot read certificate file '" CONFIG_DIR
                                      "': not a regular file"));
    rg_config_diag_free(&diag);

    snprintf(buf, sizeof(buf),
             "tls { certificate = \"%s/server-chain.pem\" key = \"%s/server.key\" }\n"
             "pool \"corp\" { server \"rad1\" { host = \"192.0.2.10\" secret = "
             "\"0123456789abcdef\" } }\n"
             "org \"acme\" {\n ca = {\"%s/ca.pem\"}\n crl = \"%s/gone.crl\"\n pool = \"corp\" }\n",
             CONFIG_DIR, CONFIG_DIR, CONFIG_DIR, CONFIG_DIR);
    assert_int_equal(rg_config_load_buf("bad.conf", buf, true, &cfg, &diag), -EINVAL);
    assert_non_null(
        strstr(diag.text, "bad.conf:5: cannot read CRL file '" CONFIG_DIR "/gone.crl'"));
    rg_config_diag_free(&diag);
    assert_null(cfg);
}

/* The shipped example (etc/radsecgw.conf) must stay a valid config. */
static void test_example_config(void **state)
{
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    int rc = rg_config_load(RG_TEST_DIR "/../etc/radsecgw.conf", false, &cfg, &diag);
    if (rc != 0)
        fail_msg("%d: %s", rc, diag.text);
    assert_int_equal(diag.nwarnings, 0);
    assert_int_equal(cfg->listen.port, 2083);
    assert_int_equal(cfg->norgs, 1);
    assert_int_equal(cfg->orgs[0].nca, 2);
    assert_int_equal(cfg->pools[0].nservers, 2);
    assert_int_equal(cfg->orgs[0].nrealms, 1);
    assert_true(cfg->coa.enabled);
    assert_int_equal(cfg->coa.clients[0].norgs, 1);
    assert_ptr_equal(cfg->coa.clients[0].orgs[0], &cfg->orgs[0]);
    rg_config_unref(cfg);
}

static void test_missing_file(void **state)
{
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    assert_int_equal(rg_config_load("/nonexistent/radsecgw.conf", false, &cfg, &diag), -ENOENT);
    assert_null(cfg);
    assert_string_equal(diag.text,
                        "/nonexistent/radsecgw.conf: cannot open: No such file or directory\n");
    assert_int_equal(diag.nerrors, 1);
    rg_config_diag_free(&diag);
}

static void test_syntax_errors(void **state)
{
    expect_error(BASE "foo = 1\n", "bad.conf:4: unknown key 'foo'\n");
    expect_error(BASE "listen {\n  port = 2083\n  bogus = 1\n}\n",
                 "bad.conf:6: unknown key 'bogus' in listen\n");
    expect_error(BASE "pool \"p2\" { server \"s\" { host = \"h\" sekret = \"x\" } }\n",
                 "bad.conf:4: unknown key 'sekret' in server\n");
    expect_error(BASE "listen {\n  port = 1\n", "bad.conf:4: '{' opened here is not closed\n");
    expect_error(BASE "pool \"p\" {\n  server \"s\" { host = \"::1\" \n}\n",
                 "bad.conf:4: '{' opened here is not closed\n");
    expect_error(BASE "}\n", "bad.conf:4: unexpected closing brace\n");
    expect_error(BASE "listen { address = {\"::1\" \"::2\"} }\n",
                 "bad.conf:4: unexpected token '::2'\n");
    expect_error(BASE "/* never closed\n\n", "bad.conf:4: comment starting here is not closed\n");
    expect_error(BASE "user = \"radsecgw\n",
                 "bad.conf:4: quoted string starting here is not closed\n");
    expect_error(BASE "log { requests = maybe }\n",
                 "bad.conf:4: requests: 'maybe' is not a boolean (true or false)\n");
    expect_error(BASE "workers = four\n", "bad.conf:4: workers: 'four' is not a whole number\n");
    expect_error(BASE "user = \"\"\n", "bad.conf:4: user is empty\n");
}

static void test_line_numbers_after_comments(void **state)
{
    /* libconfuse 3.3 counts '#' and '//' comment lines more than once and rejects a comment
     * inside a list; config_load.c strips comments first. */
    expect_error("# one\n# two\n// three\n/* four\n five */\n" BASE
                 "listen {\n  address = {\"127.0.0.1\", # first\n   \"::1\"}  // second\n"
                 "  port = 0\n}\n",
                 "bad.conf:12: port 0 is out of range (1..65535)\n");
    /* '#' inside quotes is not a comment */
    struct rg_config *cfg = load_ok(BASE "log { level = \"debug\" }\n"
                                         "coa { client \"c#1\" { host = \"192.0.2.10\" "
                                         "secret = \"has#hash//and/*this*/\" } }\n");
    assert_string_equal(cfg->coa.clients[0].name, "c#1");
    assert_string_equal(cfg->coa.clients[0].secret, "has#hash//and/*this*/");
    rg_config_unref(cfg);
}

static void test_range_errors(void **state)
{
    expect_error(BASE "listen { port = 0 }\n", "bad.conf:4: port 0 is out of range (1..65535)\n");
    expect_error("tls { certificate = \"c.pem\" key = \"k.pem\"\n session-lifetime = 30 }\n",
                 "bad.conf:2: session-lifetime 30 is out of range (60..604800)\n");
    expect_error("tls { certificate = \"c.pem\" key = \"k.pem\"\n session-cache = -1 }\n",
                 "bad.conf:2: session-cache -1 is out of range (0..1000000)\n");
    expect_error(BASE "listen { port = 65536 }\n",
                 "bad.conf:4: port 65536 is out of range (1..65535)\n");
    expect_error(BASE "coa { port = 0 }\n", "bad.conf:4: port 0 is out of range (1..65535)\n");
    expect_error(BASE "listen { packet-timeout = 0 }\n",
                 "bad.conf:4: packet-timeout 0 is out of range (1..600)\n");
    expect_error(BASE "listen { max-requests-per-second = -1 }\n",
                 "bad.conf:4: max-requests-per-second -1 is out of range (0..1000000)\n");
    expect_error(BASE "pool \"p\" {\n server \"s\" {\n host = \"192.0.2.1\"\n auth-port = 0\n"
                      " secret = \"0123456789abcdef\" } }\n",
                 "bad.conf:7: auth-port 0 is out of range (1..65535)\n");
    expect_error(BASE "pool \"p\" { acct-port = 1 }\n",
                 "bad.conf:4: unknown key 'acct-port' in pool\n");
    expect_error(BASE "pool \"p\" { timeout = 0 }\n",
                 "bad.conf:4: timeout 0 is out of range (1..60)\n");
    expect_error(BASE "pool \"p\" { timeout = 61 }\n",
                 "bad.conf:4: timeout 61 is out of range (1..60)\n");
    expect_error(BASE "pool \"p\" { retries = 11 }\n",
                 "bad.conf:4: retries 11 is out of range (0..10)\n");
    expect_error(BASE "pool \"p\" { max-outstanding = 255 }\n",
                 "bad.conf:4: max-outstanding 255 is out of range (256..1048576)\n");
    expect_error(BASE "pool \"p\" { max-outstanding = 1048577 }\n",
                 "bad.conf:4: max-outstanding 1048577 is out of range (256..1048576)\n");
    expect_error(BASE "listen { max-connections = -1 }\n",
                 "bad.conf:4: max-connections -1 is out of range (1..10000000)\n");
    expect_error(BASE "listen { max-connections-per-ip = -1 }\n",
                 "bad.conf:4: max-connections-per-ip -1 is out of range (0..1000000)\n");
    expect_error(BASE "listen { max-handshakes = 0 }\n",
                 "bad.conf:4: max-handshakes 0 is out of range (1..1000000)\n");
    expect_error(BASE "listen { max-handshakes-per-ip = 0 }\n",
                 "bad.conf:4: max-handshakes-per-ip 0 is out of range (1..1000000)\n");
    expect_error(BASE "listen { max-handshakes-per-ip = 1000001 }\n",
                 "bad.conf:4: max-handshakes-per-ip 1000001 is out of range (1..1000000)\n");

    /* the edges themselves are accepted */
    struct rg_config *cfg =
        load_ok(BASE "pool \"edge\" { timeout = 60 retries = 0 max-outstanding = 256\n"
                     "  server \"s\" { host = \"192.0.2.1\" auth-port = 65535 acct-port = 1 "
                     "secret = \"0123456789abcdef\" } }\n");
    const struct rg_pool *p = rg_config_find_pool(cfg, "edge");
    assert_int_equal(p->timeout_s, 60);
    assert_int_equal(p->retries, 0);
    assert_int_equal(p->max_outstanding, 256);
    assert_int_equal(p->servers[0].auth_port, 65535);
    assert_int_equal(p->servers[0].acct_port, 1);
    rg_config_unref(cfg);

    /* max-connections-per-ip = 0 is "no limit", not "nothing allowed" */
    cfg = load_ok(BASE "listen { max-connections-per-ip = 0 max-handshakes = 1 "
                       "max-handshakes-per-ip = 1000000 }\n");
    assert_int_equal(cfg->listen.max_connections_per_ip, 0);
    assert_int_equal(cfg->listen.max_handshakes, 1);
    assert_int_equal(cfg->listen.max_handshakes_per_ip, 1000000);
    rg_config_unref(cfg);
}

static void test_name_errors(void **state)
{
    expect_error(BASE "pool \"p\" { policy = \"random\" }\n",
                 "bad.conf:4: policy 'random' is not failover, round-robin or least-outstanding\n");
    expect_error(BASE "pool \"p\" { when-dead = \"loud\" }\n",
                 "bad.conf:4: when-dead 'loud' is not silent or reject\n");
    expect_error(BASE "tls { min-version = \"1.1\" }\n",
                 "bad.conf:4: min-version '1.1' is not \"1.2\" or \"1.3\"\n");
    expect_error(BASE "log { facility = \"kern\" }\n",
                 "bad.conf:4: facility 'kern' is not daemon, auth, user or local0..local7\n");
    expect_error(BASE "log { level = \"verbose\" }\n",
                 "bad.conf:4: level 'verbose' is not err, warning, notice, info or debug\n");
    expect_error(BASE "listen { address = {\"0.0.0.0\", \"localhost\"} }\n",
                 "bad.conf:4: listen address 'localhost' is not an IPv4 or IPv6 address\n");
    expect_error(BASE "coa { address = \"192.0.2.300\" }\n",
                 "bad.conf:4: coa address '192.0.2.300' is not an IPv4 or IPv6 address\n");
}

static void test_org_errors(void **state)
{
    const char *head = "tls { certificate = \"c.pem\" key = \"k.pem\" }\n"
                       "pool \"corp\" { server \"rad1\" { host = \"192.0.2.10\" "
                       "secret = \"0123456789abcdef\" } }\n";
    char buf[1024];

    snprintf(buf, sizeof(buf), "%sorg \"acme\" {\n  pool = \"corp\"\n}\n", head);
    expect_error(buf, "bad.conf:3: org \"acme\" has no ca: the root CA that signed its access "
                      "points' certificates is required\n");
    snprintf(buf, sizeof(buf), "%sorg \"acme\" {\n  ca = \"ca.pem\"\n  pool = \"copr\"\n}\n", head);
    expect_error(buf, "bad.conf:5: org \"acme\": pool \"copr\" is not defined\n");
    snprintf(buf, sizeof(buf), "%sorg \"acme\" {\n  ca = \"ca.pem\"\n  secret = \"\"\n}\n", head);
    expect_error(buf, "bad.conf:5: org \"acme\": secret is not set or empty\n");
    snprintf(buf, sizeof(buf),
             "%sorg \"acme\" {\n  ca = \"ca.pem\"\n  allow = {\"10.0.0.0/8\",\n"
             "           \"10.0.0.0/33\"}\n}\n",
             head);
    expect_error(buf, "bad.conf:6: allow '10.0.0.0/33' is not an address prefix (like "
                      "192.0.2.0/24)\n");
    snprintf(buf, sizeof(buf), "%sorg \"acme\" { ca = \"ca.pem\" match = \"OU:x\" }\n", head);
    expect_error(buf, "bad.conf:3: match rule 'OU:x' must start with CN:, SAN:DNS:, SAN:URI: or "
                      "SAN:IP:\n");
    snprintf(buf, sizeof(buf),
             "%sorg \"acme\" {\n ca = \"ca.pem\"\n match = {\"CN:^Q2\",\n"
             " \"SAN:DNS:[a-z\"} }\n",
             head);
    expect_error(buf, "bad.conf:6: match rule 'SAN:DNS:[a-z' is not a valid extended regular "
                      "expression (");
    snprintf(buf, sizeof(buf), "%sorg \"acme\" { ca = \"ca.pem\" match = \"SAN:URI:\" }\n", head);
    expect_error(buf, "bad.conf:3: match rule 'SAN:URI:' has an empty pattern\n");
    snprintf(buf, sizeof(buf),
             "%sorg \"acme\" { ca = \"ca.pem\" match = \"SAN:IP:10.0.0.0/40\" }\n", head);
    expect_error(buf, "bad.conf:3: match rule 'SAN:IP:10.0.0.0/40' does not end in an address "
                      "prefix (like 192.0.2.0/24)\n");
    snprintf(buf, sizeof(buf), "%sorg \"a\" { ca = \"ca.pem\" }\norg \"a\" { ca = \"ca.pem\" }\n",
             head);
    expect_error(buf, "bad.conf:4: duplicate org \"a\"\n");

    /* with two pools an org must say which */
    snprintf(
        buf, sizeof(buf),
        "%spool \"p2\" { server \"s\" { host = \"192.0.2.1\" secret = \"0123456789abcdef\" } }\n"
        "org \"acme\" { ca = \"ca.pem\" }\n",
        head);
    expect_error(buf, "bad.conf:4: org \"acme\": pool is not set\n");
    /* ... but with one it need not */
    snprintf(buf, sizeof(buf), "%sorg \"acme\" { ca = \"ca.pem\" }\n", head);
    struct rg_config *cfg = load_ok(buf);
    assert_ptr_equal(cfg->orgs[0].pool, &cfg->pools[0]);
    rg_config_unref(cfg);

    expect_error(head, "bad.conf:2: no org block: at least one organisation is required\n");
}

static void test_pool_errors(void **state)
{
    expect_error(BASE "pool \"empty\" {\n  policy = \"failover\"\n}\n",
                 "bad.conf:4: pool \"empty\" has no server\n");
    expect_error(BASE "pool \"p\" {\n  server \"s\" {\n    host = \"192.0.2.1\"\n  }\n}\n",
                 "bad.conf:5: server \"s\": secret is not set or empty\n");
    expect_error(BASE "pool \"p\" {\n  server \"s\" {\n    host = \"192.0.2.1\"\n"
                      "    secret = \"\"\n  }\n}\n",
                 "bad.conf:7: server \"s\": secret is not set or empty\n");
    expect_error(BASE "pool \"p\" {\n  server \"s\" {\n    secret = \"0123456789abcdef\"\n  }\n}\n",
                 "bad.conf:5: server \"s\": host is not set\n");
    expect_error(
        BASE "pool \"p\" {\n  server \"s\" { host = \"192.0.2.1\" secret = \"0123456789abcdef\" }\n"
             "  server \"s\" { host = \"192.0.2.2\" secret = \"0123456789abcdef\" }\n}\n",
        "bad.conf:6: duplicate server \"s\"\n");
    expect_error(BASE "pool \"corp\" { }\n", "bad.conf:4: duplicate pool \"corp\"\n");
    expect_error("tls { certificate = \"c.pem\" key = \"k.pem\" }\norg \"a\" { ca = \"ca.pem\" }\n",
                 "bad.conf:2: no pool block: at least one pool of RADIUS servers is required\n");
    /* the same server name in two pools is fine: names are per pool */
    struct rg_config *cfg = load_ok(
        BASE "pool \"p\" { server \"rad1\" { host = \"::1\" secret = \"0123456789abcdef\" } }\n");
    assert_int_equal(cfg->npools, 2);
    rg_config_unref(cfg);
}

/* require-message-authenticator: true | false | auto (default auto, deprecating-radius: the
 * default must work with servers that do not sign); the old boolean spellings still load. */
static void test_require_message_authenticator(void **state)
{
    static const struct {
        const char *value;
        enum rg_require_ma want;
    } cases[] = {
        {"auto", RG_REQUIRE_MA_AUTO},     {"\"auto\"", RG_REQUIRE_MA_AUTO},
        {"true", RG_REQUIRE_MA_TRUE},     {"yes", RG_REQUIRE_MA_TRUE},
        {"\"true\"", RG_REQUIRE_MA_TRUE}, {"false", RG_REQUIRE_MA_FALSE},
        {"off", RG_REQUIRE_MA_FALSE},
    };
    char text[1024];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text),
                 BASE "pool \"p\" { require-message-authenticator = %s\n"
                      "  server \"s\" { host = \"192.0.2.1\" secret = \"0123456789abcdef\" } }\n",
                 cases[i].value);
        struct rg_config *cfg = load_ok(text);
        assert_int_equal(rg_config_find_pool(cfg, "p")->require_message_authenticator,
                         cases[i].want);
        assert_int_equal(rg_config_find_pool(cfg, "corp")->require_message_authenticator,
                         RG_REQUIRE_MA_AUTO);
        rg_config_unref(cfg);
    }
    expect_error(BASE "pool \"p\" {\n  require-message-authenticator = sometimes\n"
                      "  server \"s\" { host = \"192.0.2.1\" secret = \"0123456789abcdef\" } }\n",
                 "bad.conf:5: require-message-authenticator 'sometimes' is not true, false or "
                 "auto\n");
}

static void test_radius11_mode(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        enum rg_radius11_mode want;
    } cases[] = {
        {"forbid", RG_RADIUS11_FORBID},
        {"allow", RG_RADIUS11_ALLOW},
        {"require", RG_RADIUS11_REQUIRE},
    };
    char text[1024];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), BASE "listen { radius-1.1 = \"%s\" }\n", cases[i].value);
        struct rg_config *cfg = load_ok(text);
        assert_int_equal(cfg->listen.radius11, cases[i].want);
        rg_config_unref(cfg);
    }
    expect_error(BASE "listen {\n  radius-1.1 = \"yes\"\n}\n",
                 "bad.conf:5: radius-1.1 'yes' is not forbid, allow or require\n");
}

static void test_realm_errors(void **state)
{
    expect_error(BASE "realm \"example.com\" {\n  pool = \"nope\"\n}\n",
                 "bad.conf:5: realm \"example.com\": pool \"nope\" is not defined\n");
    expect_error(BASE "realm \"\" { pool = \"corp\" }\n", "bad.conf:4: realm name is empty\n");
    expect_error(BASE "org \"\" { ca = \"ca.pem\" }\n", "bad.conf:4: org name is empty\n");
    expect_error(BASE
                 "pool \"p\" {\n server \"\" { host = \"::1\" secret = \"0123456789abcdef\" } }\n",
                 "bad.conf:5: server name is empty\n");
    expect_error(BASE "realm \"example.com\" { }\n",
                 "bad.conf:4: realm \"example.com\": pool is not set\n");
    expect_error(
        BASE
        "realm \"example.com\" { pool = \"corp\" }\nrealm \"Example.COM\" { pool = \"corp\" }\n",
        "bad.conf:5: duplicate realm \"Example.COM\"\n");
}

/* Two orgs: the base one and "globex" (line 4); errors append from line 5 on. */
#define BASE2 BASE "org \"globex\" { ca = {\"ca.pem\"} pool = \"corp\" }\n"

static void test_realm_scoped_by_org(void **state)
{
    /* A top-level realm with several orgs would route every tenant's APs: refused. */
    expect_error(BASE2 "realm \"example.com\" { pool = \"corp\" }\n",
                 "bad.conf:5: realm \"example.com\" is outside any org block: with 2 orgs, each "
                 "realm must be inside the org whose access points it routes\n");
    expect_error(BASE2 "\nrealm \"*\" {\n pool = \"corp\"\n}\n",
                 "bad.conf:6: realm \"*\" is outside any org block");
    /* Inside an org: its pool must exist, names are unique per org (case-insensitively) */
    expect_error(BASE "org \"b\" {\n ca = \"ca.pem\"\n realm \"x\" {\n  pool = \"nope\"\n }\n}\n",
                 "bad.conf:7: realm \"x\": pool \"nope\" is not defined\n");
    expect_error(BASE "org \"b\" {\n ca = \"ca.pem\"\n realm \"x\" { pool = \"corp\" }\n"
                      " realm \"X\" { pool = \"corp\" }\n}\n",
                 "bad.conf:7: duplicate realm \"X\" in org \"b\"\n");
    /* one org: a top-level realm joins its table, and may not repeat one of its blocks */
    expect_error("tls { certificate = \"c.pem\" key = \"k.pem\" }\n"
                 "pool \"corp\" { server \"r\" { host = \"192.0.2.10\" secret = "
                 "\"0123456789abcdef\" } }\n"
                 "org \"acme\" { ca = {\"ca.pem\"} realm \"x\" { pool = \"corp\" } }\n"
                 "realm \"x\" { pool = \"corp\" }\n",
                 "bad.conf:4: duplicate realm \"x\"\n");

    /* Two orgs each with realm "example.com" and "*": every name routes within its org. */
    struct rg_config *cfg = load_ok(
        "tls { certificate = \"c.pem\" key = \"k.pem\" }\n"
        "pool \"a\" { server \"a\" { host = \"192.0.2.1\" secret = \"0123456789abcdef\" } }\n"
        "pool \"a-guest\" { server \"g\" { host = \"192.0.2.2\" secret = \"0123456789abcdef\" } }\n"
        "pool \"b\" { server \"b\" { host = \"192.0.2.3\" secret = \"0123456789abcdef\" } }\n"
        "pool \"b-edu\" { server \"e\" { host = \"192.0.2.4\" secret = \"0123456789abcdef\" } }\n"
        "org \"orga\" { ca = \"ca.pem\" pool = \"a\"\n"
        "  realm \"example.com\" { pool = \"a-guest\" }\n"
        "  realm \"*\" { pool = \"a\" }\n}\n"
        "org \"orgb\" { ca = \"ca.pem\" pool = \"b\"\n"
        "  realm \"example.com\" { pool = \"b-edu\" }\n"
        "  realm \"orgb.example\" { pool = \"b\" }\n"
        "  realm \"*\" { pool = \"b-edu\" }\n}\n"
        "org \"orgc\" { ca = \"ca.pem\" pool = \"a\" }\n");
    const struct rg_org *a = rg_config_find_org(cfg, "orga");
    const struct rg_org *b = rg_config_find_org(cfg, "orgb");
    const struct rg_org *c = rg_config_find_org(cfg, "orgc");
    const struct rg_pool *pa = rg_config_find_pool(cfg, "a");
    const struct rg_pool *pag = rg_config_find_pool(cfg, "a-guest");
    const struct rg_pool *pb = rg_config_find_pool(cfg, "b");
    const struct rg_pool *pbe = rg_config_find_pool(cfg, "b-edu");
    assert_ptr_equal(rg_config_route(a, "u@example.com"), pag);
    assert_ptr_equal(rg_config_route(b, "u@example.com"), pbe);
    /* org A's AP naming org B's realm stays in org A */
    assert_ptr_equal(rg_config_route(a, "bob@orgb.example"), pa);
    assert_ptr_equal(rg_config_route(b, "bob@orgb.example"), pb);
    assert_ptr_equal(rg_config_route(a, "u"), pa);
    assert_ptr_equal(rg_config_route(b, "u"), pbe);
    /* an org without realms: its own pool, never another org's "*" */
    assert_ptr_equal(rg_config_route(c, "u@example.com"), pa);
    assert_ptr_equal(rg_config_route(c, "u@orgb.example"), pa);
    assert_null(rg_config_route(NULL, "u@example.com"));
    rg_config_unref(cfg);
}

static void test_coa_client_orgs(void **state)
{
    /* Several orgs accept CoA: each client must say whose NASes it may reach. */
    expect_error(BASE2 "coa {\n  client \"dac\" {\n    host = \"192.0.2.1\"\n"
                       "    secret = \"0123456789abcdef\"\n  }\n}\n",
                 "bad.conf:6: client \"dac\": orgs is not set: 2 orgs have coa = true "
                 "(\"acme\", \"globex\"), so each coa client must name the orgs whose NASes it "
                 "may reach, e.g. orgs = {\"acme\"}\n");
    expect_error(BASE2 "coa {\n  client \"dac\" {\n    host = \"192.0.2.1\"\n"
                       "    secret = \"0123456789abcdef\"\n    orgs = {\"acme\",\n"
                       "            \"initech\"}\n  }\n}\n",
                 "bad.conf:10: client \"dac\": org \"initech\" is not defined\n");
    expect_error(BASE "coa { client \"dac\" { host = \"192.0.2.1\" secret = "
                      "\"0123456789abcdef\" orgs = {\"nope\"} } }\n",
                 "bad.conf:4: client \"dac\": org \"nope\" is not defined\n");
    /* one source address, two clients: the second would never be matched */
    expect_error(BASE
                 "coa {\n client \"a\" { host = \"192.0.2.1\" secret = \"0123456789abcdef\" }\n"
                 " client \"b\" { host = \"192.0.2.1\" secret = \"0123456789abcdef\" }\n}\n",
                 "bad.conf:6: client \"b\": host '192.0.2.1' is also client \"a\"");

    /* Two clients, each bound to one org; a third for both. */
    struct rg_config *cfg =
        load_ok(BASE2 "coa {\n"
                      " client \"dac-a\" { host = \"127.0.0.1\" secret = \"0123456789abcdef\" orgs "
                      "= {\"acme\"} }\n"
                      " client \"dac-g\" { host = \"127.0.0.2\" secret = \"0123456789abcdef\" orgs "
                      "= {\"globex\"} }\n"
                      " client \"dac-2\" { host = \"127.0.0.3\" secret = \"0123456789abcdef\"\n"
                      "   orgs = {\"globex\", \"acme\", \"globex\"} }\n}\n");
    const struct rg_org *acme = rg_config_find_org(cfg, "acme");
    const struct rg_org *globex = rg_config_find_org(cfg, "globex");
    const struct rg_coa_client *cl = cfg->coa.clients;
    assert_int_equal(cfg->coa.nclients, 3);
    assert_true(rg_config_coa_client_reaches(&cl[0], acme));
    assert_false(rg_config_coa_client_reaches(&cl[0], globex));
    assert_false(rg_config_coa_client_reaches(&cl[1], acme));
    assert_true(rg_config_coa_client_reaches(&cl[1], globex));
    assert_int_equal(cl[2].norgs, 2); /* listed twice counts once */
    assert_true(rg_config_coa_client_reaches(&cl[2], acme));
    assert_true(rg_config_coa_client_reaches(&cl[2], globex));
    rg_config_unref(cfg);

    /* Only one org accepts CoA: orgs may be left out (the client reaches every org, and the
     * coa = false one gets no CoA anyway). */
    cfg = load_ok(
        BASE "org \"globex\" { ca = {\"ca.pem\"} coa = false }\n"
             "coa { client \"dac\" { host = \"192.0.2.1\" secret = \"0123456789abcdef\" } }\n");
    assert_true(rg_config_coa_client_reaches(&cfg->coa.clients[0], &cfg->orgs[0]));
    rg_config_unref(cfg);

    /* Naming an org with coa = false is allowed but warned about. */
    struct rg_config_diag diag = {0};
    assert_int_equal(rg_config_load_buf("warn.conf",
                                        BASE "org \"globex\" { ca = {\"ca.pem\"} coa = false }\n"
                                             "coa { client \"dac\" { host = \"192.0.2.1\" secret = "
                                             "\"0123456789abcdef\" orgs = {\"globex\"} } }\n",
                                        false, &cfg, &diag),
                     0);
    assert_int_equal(diag.nwarnings, 1);
    assert_non_null(strstr(diag.text, "warn.conf:5: warning: client \"dac\": org \"globex\" has "
                                      "coa = false: its NASes will not be sent CoA\n"));
    rg_config_diag_free(&diag);
    rg_config_unref(cfg);
}

static void test_section_errors(void **state)
{
    expect_error(BASE "tls {\n  min-version = \"1.3\"\n}\n",
                 "bad.conf:4: second tls block (only one is allowed)\n");
    expect_error("pool \"corp\" { server \"rad1\" { host = \"192.0.2.10\" secret = "
                 "\"0123456789abcdef\" } }\n"
                 "org \"acme\" { ca = {\"ca.pem\"} pool = \"corp\" }\n",
                 "bad.conf:2: no tls block: the server certificate and key are required\n");
    expect_error("tls {\n  key = \"k.pem\"\n}\n"
                 "pool \"corp\" { server \"rad1\" { host = \"192.0.2.10\" secret = "
                 "\"0123456789abcdef\" } }\n"
                 "org \"acme\" { ca = {\"ca.pem\"} pool = \"corp\" }\n",
                 "bad.conf:1: tls certificate is not set\n");
    expect_error(BASE "coa {\n  client \"c\" { host = \"192.0.2.1\" }\n}\n",
                 "bad.conf:5: client \"c\": secret is not set or empty\n");
    expect_error(BASE "coa {\n  client \"c\" { secret = \"0123456789abcdef\" }\n}\n",
                 "bad.conf:5: client \"c\": host is not set\n");
}

static void test_all_errors_reported(void **state)
{
    /* Semantic errors do not stop at the first one: the operator sees them all at once. */
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    const char *text = BASE "org \"b\" { pool = \"x\" }\npool \"e\" { }\n";
    assert_int_equal(rg_config_load_buf("bad.conf", text, false, &cfg, &diag), -EINVAL);
    assert_int_equal(diag.nerrors, 3);
    assert_string_equal(diag.text, "bad.conf:5: pool \"e\" has no server\n"
                                   "bad.conf:4: org \"b\" has no ca: the root CA that signed its "
                                   "access points' certificates is required\n"
                                   "bad.conf:4: org \"b\": pool \"x\" is not defined\n");
    rg_config_diag_free(&diag);
}

static void test_short_secret_warning(void **state)
{
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    const char *text = BASE "pool \"p\" {\n  server \"s\" {\n    host = \"192.0.2.1\"\n"
                            "    secret = \"123456789012\"\n  }\n}\n";
    assert_int_equal(rg_config_load_buf("warn.conf", text, false, &cfg, &diag), 0);
    assert_non_null(cfg);
    assert_int_equal(diag.nerrors, 0);
    assert_int_equal(diag.nwarnings, 1);
    assert_non_null(strstr(diag.text, "warn.conf:7: warning: server \"s\": secret is only 12 "
                                      "octets; a RADIUS/UDP secret of 12 octets or fewer can be "
                                      "brute-forced from one captured packet "
                                      "(draft-ietf-radext-deprecating-radius §7.1)"));
    rg_config_diag_free(&diag);
    rg_config_unref(cfg);

    /* 13 octets: no warning; and the org (TLS side) secret "radsec" never warns */
    cfg = load_ok(
        BASE "pool \"p\" { server \"s\" { host = \"192.0.2.1\" secret = \"1234567890123\" } }\n");
    rg_config_unref(cfg);
    assert_int_equal(rg_config_load_buf("warn.conf", BASE, false, &cfg, &diag), 0);
    assert_int_equal(diag.nwarnings, 0);
    assert_null(diag.text);
    rg_config_unref(cfg);
}

static void test_route(void **state)
{
    struct rg_config *cfg = load_ok(
        BASE
        "pool \"guest\" { server \"g\" { host = \"192.0.2.2\" secret = \"0123456789abcdef\" } }\n"
        "pool \"edu\" { server \"e\" { host = \"192.0.2.3\" secret = \"0123456789abcdef\" } }\n"
        "realm \"example.com\" { pool = \"guest\" }\n");
    struct rg_pool *corp = rg_config_find_pool(cfg, "corp");
    struct rg_pool *guest = rg_config_find_pool(cfg, "guest");
    const struct rg_org *org = &cfg->orgs[0];

    assert_ptr_equal(rg_config_route(org, "alice@example.com"), guest);
    assert_ptr_equal(rg_config_route(org, "alice@EXAMPLE.Com"), guest);
    /* the realm is after the last '@' */
    assert_ptr_equal(rg_config_route(org, "alice@example.com@other.org"), corp);
    assert_ptr_equal(rg_config_route(org, "odd@name@example.com"), guest);
    assert_ptr_equal(rg_config_route(org, "alice@sub.example.com"), corp);
    assert_ptr_equal(rg_config_route(org, "alice"), corp);
    assert_ptr_equal(rg_config_route(org, "alice@"), corp);
    assert_ptr_equal(rg_config_route(org, NULL), corp);
    rg_config_unref(cfg);

    /* "*" takes everything no exact realm takes, before the org's pool */
    cfg = load_ok(
        BASE
        "pool \"guest\" { server \"g\" { host = \"192.0.2.2\" secret = \"0123456789abcdef\" } }\n"
        "pool \"edu\" { server \"e\" { host = \"192.0.2.3\" secret = \"0123456789abcdef\" } }\n"
        "realm \"*\" { pool = \"edu\" }\n"
        "realm \"example.com\" { pool = \"guest\" }\n");
    guest = rg_config_find_pool(cfg, "guest");
    struct rg_pool *edu = rg_config_find_pool(cfg, "edu");
    org = &cfg->orgs[0];
    assert_ptr_equal(rg_config_route(org, "bob@example.com"), guest);
    assert_ptr_equal(rg_config_route(org, "bob@example.net"), edu);
    assert_ptr_equal(rg_config_route(org, "bob"), edu);
    rg_config_unref(cfg);
}

static struct sockaddr_storage sa(const char *text)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
        in6->sin6_family = AF_INET6;
    }
    return ss;
}

static bool contains(const char *prefix, const char *addr)
{
    struct rg_prefix p;
    assert_int_equal(rg_prefix_parse(prefix, &p), 0);
    struct sockaddr_storage ss = sa(addr);
    return rg_prefix_contains(&p, (struct sockaddr *)&ss);
}

static void test_prefix(void **state)
{
    struct rg_prefix p;
    assert_int_equal(rg_prefix_parse("10.0.0.0/8", &p), 0);
    assert_int_equal(p.family, AF_INET);
    assert_int_equal(p.bits, 8);
    assert_int_equal(rg_prefix_parse("192.0.2.1", &p), 0);
    assert_int_equal(p.bits, 32);
    assert_int_equal(rg_prefix_parse("2001:db8::1", &p), 0);
    assert_int_equal(p.family, AF_INET6);
    assert_int_equal(p.bits, 128);
    assert_int_equal(rg_prefix_parse("::/0", &p), 0);
    assert_int_equal(p.bits, 0);
    /* host bits are cleared */
    assert_int_equal(rg_prefix_parse("10.1.2.3/8", &p), 0);
    assert_memory_equal(p.addr, "\x0a\x00\x00\x00", 4);
    assert_int_equal(rg_prefix_parse("192.0.2.255/25", &p), 0);
    assert_memory_equal(p.addr, "\xc0\x00\x02\x80", 4);
    /* an IPv4-mapped prefix is an IPv4 prefix */
    assert_int_equal(rg_prefix_parse("::ffff:10.0.0.0/104", &p), 0);
    assert_int_equal(p.family, AF_INET);
    assert_int_equal(p.bits, 8);

    const char *bad[] = {"",           "10.0.0.0/",     "10.0.0.0/33", "::/129",
                         "10.0.0/8",   "10.0.0.0/-1",   "10.0.0.0/+8", "10.0.0.0/8/8",
                         "host/24",    "10.0.0.0/0008", " 10.0.0.0/8", "10.0.0.0/8 ",
                         "10.0.0.0/1a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (rg_prefix_parse(bad[i], &p) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);

    assert_true(contains("10.0.0.0/8", "10.255.1.2"));
    assert_false(contains("10.0.0.0/8", "11.0.0.1"));
    assert_true(contains("192.0.2.128/25", "192.0.2.200"));
    assert_false(contains("192.0.2.128/25", "192.0.2.127"));
    assert_true(contains("192.0.2.1", "192.0.2.1"));
    assert_false(contains("192.0.2.1", "192.0.2.2"));
    assert_true(contains("0.0.0.0/0", "203.0.113.9"));
    assert_false(contains("0.0.0.0/0", "2001:db8::1"));
    assert_true(contains("::/0", "2001:db8::1"));
    assert_false(contains("::/0", "203.0.113.9"));
    assert_true(contains("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(contains("2001:db8::/32", "2001:db9::1"));
    assert_true(contains("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(contains("2001:db8::/33", "2001:db8:8000::1"));
    /* an IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d and is matched as IPv4 */
    assert_true(contains("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_false(contains("10.0.0.0/8", "::ffff:11.1.2.3"));
    assert_true(contains("0.0.0.0/0", "::ffff:11.1.2.3"));
    assert_false(contains("::/0", "::ffff:11.1.2.3"));

    struct sockaddr unix_sa = {.sa_family = AF_UNIX};
    assert_int_equal(rg_prefix_parse("0.0.0.0/0", &p), 0);
    assert_false(rg_prefix_contains(&p, &unix_sa));
}

static void test_refcount(void **state)
{
    struct rg_config *cfg = load_ok(BASE);
    assert_int_equal(cfg->refcount, 1);
    assert_ptr_equal(rg_config_ref(cfg), cfg);
    assert_ptr_equal(rg_config_ref(cfg), cfg);
    assert_int_equal(cfg->refcount, 3);
    rg_config_unref(cfg);
    rg_config_unref(cfg);
    assert_int_equal(cfg->refcount, 1);
    /* last reference: freed (ASan reports a leak if not, a use-after-free if too early) */
    rg_config_unref(cfg);
    rg_config_unref(NULL);
}

static void test_diag_null(void **state)
{
    struct rg_config *cfg = NULL;
    assert_int_equal(rg_config_load_buf("bad.conf", "foo = 1\n", false, &cfg, NULL), -EINVAL);
    assert_null(cfg);
    assert_int_equal(rg_config_load_buf("empty.conf", "", false, &cfg, NULL), -EINVAL);
    assert_null(cfg);
}

/* The diagnostics of a text loaded from a buffer: each names the file it is about, on one
 * line. The fuzzer (fuzz_config) found include("*") from a buffer named "fuzz.conf" reading
 * the files of the current directory, whose errors named them and not the buffer; the
 * driver now names its text inside an empty directory, and these are the behaviours it and
 * an operator rely on. */
static void load_fails(const char *name, const char *text, const char *expected)
{
    struct rg_config *cfg = (struct rg_config *)1;
    struct rg_config_diag diag = {0};
    int rc = rg_config_load_buf(name, text, false, &cfg, &diag);
    if (rc != -EINVAL || !diag.text || !strstr(diag.text, expected))
        fail_msg("expected -EINVAL and \"%s\", got %d:\n%s", expected, rc,
                 diag.text ? diag.text : "(no text)");
    assert_null(cfg);
    /* one line per diagnostic */
    size_t lines = 0;
    for (const char *p = diag.text; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, diag.nerrors + diag.nwarnings);
    rg_config_diag_free(&diag);
}

static void test_include_from_buffer(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_config.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char name[64], inc[64];
    snprintf(name, sizeof(name), "%s/fuzz.conf", dir);
    snprintf(inc, sizeof(inc), "%s/b.inc", dir);

    /* Relative to the buffer's directory: nothing there, so the text's own error. */
    char want[128];
    snprintf(want, sizeof(want), "%s:1: unknown key 'listpo'", name);
    load_fails(name, "listpo}}\ninclude(\"*\")\n", want);

    /* A broken included file: the error names it and its line. */
    FILE *f = fopen(inc, "w");
    assert_non_null(f);
    fputs("# org acme\n/* never closed\n", f);
    assert_int_equal(fclose(f), 0);
    snprintf(want, sizeof(want), "%s:2: comment starting here is not closed", inc);
    load_fails(name, "listpo}}\ninclude(\"*\")\n", want);

    /* A newline inside a quoted value stays on the diagnostic's one line. */
    load_fails(name, BASE "listen { address = {\"a\nb\"} }\n",
               "listen address 'a\\x0ab' is not an IPv4 or IPv6 address");

    assert_int_equal(unlink(inc), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_host_name),
        cmocka_unit_test(test_coa_defaults),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_check_files_missing_ca),
        cmocka_unit_test(test_check_files),
        cmocka_unit_test(test_example_config),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_line_numbers_after_comments),
        cmocka_unit_test(test_range_errors),
        cmocka_unit_test(test_name_errors),
        cmocka_unit_test(test_org_errors),
        cmocka_unit_test(test_pool_errors),
        cmocka_unit_test(test_require_message_authenticator),
        cmocka_unit_test(test_radius11_mode),
        cmocka_unit_test(test_realm_errors),
        cmocka_unit_test(test_realm_scoped_by_org),
        cmocka_unit_test(test_coa_client_orgs),
        cmocka_unit_test(test_section_errors),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_short_secret_warning),
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_proxy_protocol_and_cluster),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_diag_null),
        cmocka_unit_test(test_include_from_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
