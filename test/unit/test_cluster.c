/* Tests for src/cluster.c without Redis: the registry key format, and the hand-off a holder
 * accepts: signed with the cluster secret (Message-Authenticator required), naming the DAC's
 * client in our Proxy-State, which is stripped before the NAS sees the request. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "radsecgw/cluster.h"
#include "radsecgw/coa.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"
#include "radsecgw/translate.h"

#define SECRET "cluster-secret-long"

static void test_key(void **state)
{
    (void)state;
    char buf[128];
    size_t n = rg_cluster_key("ac:me", RG_COA_KEY_NAS_ID, "ap\x01", 3, buf, sizeof(buf));
    assert_string_equal(buf, "radsecgw:nas:5:ac:me:2:617001");
    assert_int_equal(n, strlen(buf));
    /* the org's length keeps "a:1" + kind apart from "a" + ":1..." */
    char other[128];
    rg_cluster_key("a", RG_COA_KEY_NAS_ID, "x", 1, other, sizeof(other));
    rg_cluster_key("a:2", RG_COA_KEY_NAS_ID, "x", 1, buf, sizeof(buf));
    assert_string_not_equal(buf, other);
    assert_int_equal(rg_cluster_key("acme", RG_COA_KEY_NAS_ID, "x", 1, buf, 8), 0);
}

/* A Disconnect-Request with NAS-Identifier, our tag for client and a Message-Authenticator,
 * signed with secret. */
static size_t handoff(uint8_t *out, const char *tag, const char *secret, bool msgauth)
{
    struct rg_radius_pkt p = {.data = out, .cap = RG_RADIUS_MAX_LEN};
    assert_int_equal(rg_radius_init(&p, RG_RADIUS_DISCONNECT_REQUEST, 9, NULL), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_NAS_IDENTIFIER, "nas-1", 5), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, "upstream", 8), 0);
    if (tag)
        assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_PROXY_STATE, tag, strlen(tag)), 0);
    if (msgauth)
        assert_int_equal(rg_radius_msgauth_add_first(&p), 0);
    uint8_t sent[RG_RADIUS_AUTH_LEN];
    int n =
        rg_translate_coa_request(out, rg_radius_len(out), 9, (rg_secret){secret, strlen(secret)},
                                 out, RG_RADIUS_MAX_LEN, sent);
    assert_true(n > 0);
    return (size_t)n;
}

static void registry_each(void *each_arg, rg_coa_key_fn fn, void *fn_arg)
{
    rg_coa_registry_each(each_arg, fn, fn_arg);
}

static void test_handoff(void **state)
{
    (void)state;
    static const char conf[] =
        "tls { certificate = \"c\" key = \"k\" }\n"
        "pool \"corp\" { server \"r\" { host = \"192.0.2.10\" secret = \"0123456789abcdef\" } }\n"
        "org \"acme\" { ca = {\"ca.pem\"} pool = \"corp\" }\n"
        "coa { address = \"127.0.0.1\" port = 3799 client \"dac\" { host = \"127.0.0.1\" "
        "secret = \"coa-secret-long\" } }\n"
        "cluster { instance = \"gw-a\" redis = \"127.0.0.1:1\" secret = \"" SECRET "\" }\n";
    struct rg_config *cfg = NULL;
    assert_int_equal(rg_config_load_buf("t.conf", conf, false, &cfg, NULL), 0);
    struct rg_coa_registry reg;
    assert_int_equal(rg_coa_registry_init(&reg), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    assert_int_equal(rg_cluster_start(&loop, cfg, registry_each, &reg), 0);
    assert_true(rg_cluster_enabled());

    uint8_t pkt[RG_RADIUS_MAX_LEN];
    const char *name = NULL;
    size_t nlen = 0;
    /* an ordinary request: not a hand-off */
    handoff(pkt, NULL, SECRET, true);
    assert_int_equal(rg_cluster_handoff_check(pkt, &name, &nlen), 0);
    /* signed with the cluster secret: the client it names */
    size_t len = handoff(pkt, "radsecgw-cluster dac", SECRET, true);
    assert_int_equal(rg_cluster_handoff_check(pkt, &name, &nlen), 1);
    assert_int_equal(nlen, 3);
    assert_memory_equal(name, "dac", 3);
    /* stripped: our tag gone, the upstream Proxy-State kept */
    size_t stripped = rg_cluster_handoff_strip(pkt);
    assert_int_equal(stripped, len - 2 - strlen("radsecgw-cluster dac"));
    struct rg_radius_attr a;
    size_t pos = 0;
    assert_true(rg_radius_attr_find(pkt, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a));
    assert_memory_equal(a.value, "upstream", 8);
    assert_false(rg_radius_attr_find(pkt, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a));
    /* another secret, or no Message-Authenticator: refused */
    handoff(pkt, "radsecgw-cluster dac", "not-the-cluster-secret", true);
    assert_int_equal(rg_cluster_handoff_check(pkt, &name, &nlen), -EBADMSG);
    handoff(pkt, "radsecgw-cluster dac", SECRET, false);
    assert_int_equal(rg_cluster_handoff_check(pkt, &name, &nlen), -EBADMSG);
    /* Redis is not reachable: nothing is handed on */
    struct rg_coa_ident id = {.kind = RG_COA_KEY_NAS_ID, .value = (const uint8_t *)"x", .len = 1};
    assert_int_equal(
        rg_cluster_forward(&cfg->coa.clients[0], pkt, rg_radius_len(pkt), &id, 1, NULL, NULL),
        -ENOTCONN);

    rg_cluster_stop();
    assert_false(rg_cluster_enabled());
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    rg_cluster_shutdown();
    rg_coa_registry_free(&reg);
    rg_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_handoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
