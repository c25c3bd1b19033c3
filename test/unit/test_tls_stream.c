/* Tests src/tls_stream.c: a gateway-side and an AP-side stream talking over memory with the
 * certificates of tools/make-pki.sh; handshakes, data both ways in any fragmentation,
 * backpressure, close_notify, and the refusal reasons an operator reads in the log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tls_test_env.h"

static struct rg_config *srv_cfg;
static struct rg_tls_ctx *tls;

static int group_setup(void **state)
{
    if (env_pki_setup(state) != 0)
        return -1;
    char err[256];
    srv_cfg = cfg_acme_globex();
    if (rg_tls_ctx_new(srv_cfg, &tls, err, sizeof(err)) != 0) {
        fprintf(stderr, "rg_tls_ctx_new: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    rg_tls_ctx_free(tls);
    cfg_free(srv_cfg);
    return env_pki_teardown(state);
}

static void open_ok(struct pair *p, const char *name, int version)
{
    assert_int_equal(pair_open(p, tls, name, version), 0);
    pair_pump(p, 0);
    assert_int_equal(p->srv.state, RG_TLS_STREAM_OPEN);
    assert_int_equal(p->cli.state, RG_TLS_STREAM_OPEN);
}

static void handshake(const char *name, int version, const char *want_version)
{
    struct pair p;
    assert_int_equal(pair_open(&p, tls, name, version), 0);
    assert_true(p.srv.server);
    assert_false(p.cli.server);
    rg_tls_stream_drive(&p.cli);
    rg_tls_stream_drive(&p.srv);
    bool srv_event = false;
    for (int i = 0; i < 20 && (p.cli.out.len || p.srv.out.len); i++) {
        pair_move(&p.cli, &p.srv, 0);
        srv_event |= p.srv.handshake_done_event;
        pair_move(&p.srv, &p.cli, 0);
    }
    assert_int_equal(p.srv.state, RG_TLS_STREAM_OPEN);
    assert_int_equal(p.cli.state, RG_TLS_STREAM_OPEN);
    assert_true(srv_event);
    assert_string_equal(wolfSSL_get_version(p.srv.ssl), want_version);

    struct rg_tls_peer peer;
    assert_int_equal(rg_tls_peer_identify(tls, p.srv.ssl, NULL, &peer), 0);
    assert_non_null(peer.org);
    assert_string_equal(peer.org->name, "acme");
    pair_close(&p);
}

static void test_handshake_tls12(void **state)
{
    (void)state;
    handshake("ap-rsa", 12, "TLSv1.2");
    handshake("ap-ecdsa", 12, "TLSv1.2");
}

static void test_handshake_tls13(void **state)
{
    (void)state;
    handshake("ap-rsa", 13, "TLSv1.3");
    handshake("ap-ecdsa", 13, "TLSv1.3");
    handshake("ap-ecdsa", 0, "TLSv1.3"); /* a client offering both gets the newest */
}

/* RADIUS-sized messages both ways, the ciphertext fed in pieces of every size from 1 octet
 * (a record split over many TCP segments) to everything at once. */
static void test_data_both_ways_any_fragmentation(void **state)
{
    (void)state;
    static const size_t chunks[] = {1, 2, 7, 100, 0};
    for (size_t c = 0; c < RG_ARRAY_SIZE(chunks); c++) {
        for (int version = 12; version <= 13; version++) {
            struct pair p;
            assert_int_equal(pair_open(&p, tls, "ap-ecdsa", version), 0);
            pair_pump(&p, chunks[c]);
            assert_int_equal(p.srv.state, RG_TLS_STREAM_OPEN);

            uint8_t req[300], resp[1200];
            for (size_t i = 0; i < sizeof(req); i++)
                req[i] = (uint8_t)(i * 7 + c);
            for (size_t i = 0; i < sizeof(resp); i++)
                resp[i] = (uint8_t)(i * 13 + version);
            assert_int_equal(rg_tls_stream_write(&p.cli, req, sizeof(req)), 0);
            pair_pump(&p, chunks[c]);
            assert_int_equal(p.srv.plain.len, sizeof(req));
            assert_memory_equal(p.srv.plain.data, req, sizeof(req));

            assert_int_equal(rg_tls_stream_write(&p.srv, resp, sizeof(resp)), 0);
            pair_pump(&p, chunks[c]);
            assert_int_equal(p.cli.plain.len, sizeof(resp));
            assert_memory_equal(p.cli.plain.data, resp, sizeof(resp));
            pair_close(&p);
        }
    }
}

/* Many packets in one record, and one record carrying a packet boundary in its middle: the
 * stream hands over bytes in order, framing is the owner's job. */
static void test_many_packets_per_record(void **state)
{
    (void)state;
    struct pair p;
    open_ok(&p, "ap-rsa", 13);
    uint8_t batch[50 * 20];
    for (size_t i = 0; i < sizeof(batch); i++)
        batch[i] = (uint8_t)(i / 20); /* fifty 20-octet "packets" */
    assert_int_equal(rg_tls_stream_write(&p.cli, batch, sizeof(batch)), 0);
    size_t records_len = p.cli.out.len;
    assert_true(records_len < sizeof(batch) + 100); /* one record, not fifty */
    pair_pump(&p, 0);
    assert_int_equal(p.srv.plain.len, sizeof(batch));
    assert_memory_equal(p.srv.plain.data, batch, sizeof(batch));
    pair_close(&p);
}

/* plain_limit caps what drive() decrypts; the rest waits in wolfSSL and comes out on the next
 * drive() after the owner consumed, without new ciphertext. */
static void test_plain_limit_backpressure(void **state)
{
    (void)state;
    struct pair p;
    open_ok(&p, "ap-ecdsa", 12);
    enum { TOTAL = 100000, LIMIT = 4096 };
    uint8_t *big = malloc(TOTAL), *got = malloc(TOTAL);
    for (size_t i = 0; i < TOTAL; i++)
        big[i] = (uint8_t)(i % 251);
    p.srv.plain_limit = LIMIT;
    assert_int_equal(rg_tls_stream_write(&p.cli, big, TOTAL), 0);
    pair_move(&p.cli, &p.srv, 0);
    size_t have = 0;
    for (int i = 0; i < 1000 && have < TOTAL; i++) {
        assert_true(p.srv.plain.len <= LIMIT);
        assert_true(rg_tls_stream_pending(&p.srv) || have + p.srv.plain.len == TOTAL);
        memcpy(got + have, p.srv.plain.data, p.srv.plain.len);
        have += p.srv.plain.len;
        rg_buf_consume(&p.srv.plain, p.srv.plain.len);
        assert_int_equal(rg_tls_stream_drive(&p.srv), 0);
    }
    assert_int_equal(have, TOTAL);
    assert_memory_equal(got, big, TOTAL);
    assert_false(rg_tls_stream_pending(&p.srv));
    free(big);
    free(got);
    pair_close(&p);
}

static void test_close_notify(void **state)
{
    (void)state;
    for (int version = 12; version <= 13; version++) {
        struct pair p;
        open_ok(&p, "ap-rsa", version);
        static const uint8_t last[] = "last words";
        assert_int_equal(rg_tls_stream_write(&p.cli, last, sizeof(last)), 0);
        rg_tls_stream_shutdown(&p.cli);
        assert_int_equal(p.cli.state, RG_TLS_STREAM_CLOSED);
        assert_int_equal(rg_tls_stream_write(&p.cli, last, sizeof(last)), -ENOTCONN);
        pair_move(&p.cli, &p.srv, 0);
        /* data before the close_notify is delivered, then the stream is closed cleanly */
        assert_int_equal(p.srv.state, RG_TLS_STREAM_CLOSED);
        assert_true(p.srv.close_received);
        assert_int_equal(p.srv.plain.len, sizeof(last));
        assert_memory_equal(p.srv.plain.data, last, sizeof(last));
        assert_true(p.srv.out.len > 0); /* our close_notify in answer */
        assert_int_equal(rg_tls_stream_drive(&p.srv), 0);
        pair_close(&p);
    }
}

static void test_write_before_handshake(void **state)
{
    (void)state;
    struct pair p;
    assert_int_equal(pair_open(&p, tls, "ap-rsa", 13), 0);
    assert_int_equal(rg_tls_stream_write(&p.srv, (const uint8_t *)"x", 1), -ENOTCONN);
    pair_close(&p);
}

/* Garbage instead of a ClientHello fails the stream; it never waits forever. */
static void test_garbage_fails(void **state)
{
    (void)state;
    struct pair p;
    assert_int_equal(pair_open(&p, tls, "ap-rsa", 13), 0);
    static const uint8_t junk[] = "GET / HTTP/1.1\r\nHost: radsecgw\r\n\r\n";
    assert_int_equal(rg_tls_stream_feed(&p.srv, junk, sizeof(junk)), 0);
    assert_true(rg_tls_stream_drive(&p.srv) < 0);
    assert_int_equal(p.srv.state, RG_TLS_STREAM_FAILED);
    assert_true(p.srv.err != 0);
    assert_true(strlen(p.srv.err_text) > 0);
    assert_true(rg_tls_stream_drive(&p.srv) < 0); /* stays failed */
    pair_close(&p);
}

/* A refused client: the server side fails, and the reason is the operator's word for it. */
static void refused(const char *name, int version, const char *reason, const char *subject)
{
    struct pair p;
    assert_int_equal(pair_open(&p, tls, name, version), 0);
    pair_pump(&p, 0);
    assert_int_equal(p.srv.state, RG_TLS_STREAM_FAILED);
    assert_int_not_equal(p.cli.state, RG_TLS_STREAM_OPEN);
    struct rg_tls_peer peer;
    memset(&peer, 0, sizeof(peer));
    assert_int_equal(rg_tls_handshake_failure(p.srv.ssl, &peer), 1);
    assert_string_equal(peer.reason, reason);
    if (subject)
        assert_non_null(strstr(peer.subject, subject));
    pair_close(&p);
}

static void test_refused_no_certificate(void **state)
{
    (void)state;
    refused(NULL, 12, "no certificate", NULL);
    refused(NULL, 13, "no certificate", NULL);
}

static void test_refused_unknown_ca(void **state)
{
    (void)state;
    refused("ap-rogue", 12, "unknown CA", "CN=Q2RG-ROGU-0001");
    refused("ap-rogue", 13, "unknown CA", "CN=Q2RG-ROGU-0001");
    /* the intermediate's leaf without the intermediate cannot be placed */
    refused("ap-int", 13, "unknown CA", "CN=Q2IN-TERM-0001");
}

static void test_refused_expired(void **state)
{
    (void)state;
    refused("ap-expired", 12, "expired", "CN=Q2EX-PIRE-0001");
    refused("ap-expired", 13, "expired", "CN=Q2EX-PIRE-0001");
}

static void test_refused_not_yet_valid(void **state)
{
    (void)state;
    refused("ap-notyet", 13, "not yet valid", "CN=Q2NY-VALI-0001");
}

static void test_refused_revoked(void **state)
{
    (void)state;
    refused("ap-revoked", 12, "revoked", "CN=Q2RV-OKED-0001");
    refused("ap-revoked", 13, "revoked", "CN=Q2RV-OKED-0001");
}

/* A handshake failure that is not about the certificate has no verification reason. */
static void test_failure_without_verify_reason(void **state)
{
    (void)state;
    struct pair p;
    assert_int_equal(pair_open(&p, tls, "ap-rsa", 13), 0);
    static const uint8_t junk[64] = {0x16, 0x03, 0x01, 0x00, 0x3b, 0x01};
    rg_tls_stream_feed(&p.srv, junk, sizeof(junk));
    rg_tls_stream_drive(&p.srv);
    assert_int_equal(p.srv.state, RG_TLS_STREAM_FAILED);
    struct rg_tls_peer peer;
    memset(&peer, 0, sizeof(peer));
    assert_int_equal(rg_tls_handshake_failure(p.srv.ssl, &peer), 0);
    pair_close(&p);
}

/* Framing consumes 0 octets when nothing complete arrived, also before the first
 * allocation: that must not hand NULL to memmove (UBSan stops the ASan build there). */
static void test_buf_consume_nothing_from_empty(void **state)
{
    (void)state;
    struct rg_buf b = {0};
    rg_buf_consume(&b, 0);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(rg_buf_append(&b, "ab", 2), 0);
    rg_buf_consume(&b, 0);
    rg_buf_consume(&b, 1);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 'b');
    rg_buf_free(&b);
}

static void test_buf_bounded(void **state)
{
    (void)state;
    struct rg_buf b = {0};
    static const uint8_t x[1000] = {1};
    assert_int_equal(rg_buf_append(&b, x, sizeof(x)), 0);
    assert_int_equal(rg_buf_append(&b, "abc", 3), 0);
    rg_buf_consume(&b, 999);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "\0abc", 4);
    assert_int_equal(rg_buf_reserve(&b, RG_BUF_MAX), -ENOBUFS);
    assert_int_equal(rg_buf_reserve(&b, RG_BUF_MAX - 4), 0);
    assert_int_equal(rg_buf_append(&b, "d", 1), 0); /* still room up to the bound */
    assert_int_equal(rg_buf_reserve(&b, RG_BUF_MAX - 5), 0);
    assert_int_equal(rg_buf_reserve(&b, RG_BUF_MAX - 4), -ENOBUFS);
    assert_int_equal(rg_buf_reserve(&b, (size_t)-1), -ENOBUFS);
    assert_int_equal(b.len, 5);
    rg_buf_free(&b);
    assert_null(b.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_tls12),
        cmocka_unit_test(test_handshake_tls13),
        cmocka_unit_test(test_data_both_ways_any_fragmentation),
        cmocka_unit_test(test_many_packets_per_record),
        cmocka_unit_test(test_plain_limit_backpressure),
        cmocka_unit_test(test_close_notify),
        cmocka_unit_test(test_write_before_handshake),
        cmocka_unit_test(test_garbage_fails),
        cmocka_unit_test(test_refused_no_certificate),
        cmocka_unit_test(test_refused_unknown_ca),
        cmocka_unit_test(test_refused_expired),
        cmocka_unit_test(test_refused_not_yet_valid),
        cmocka_unit_test(test_refused_revoked),
        cmocka_unit_test(test_failure_without_verify_reason),
        cmocka_unit_test(test_buf_bounded),
        cmocka_unit_test(test_buf_consume_nothing_from_empty),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
