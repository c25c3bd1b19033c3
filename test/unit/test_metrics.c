/* Tests for src/metrics.c: labelled samples from two workers summed per label set, gauges
 * going down, the latency histogram cumulative with the right bucket, refusal reasons as
 * labels, label values escaped, the RG_STATS_FIELDS families, and the privacy hashes of
 * src/log.c (HMAC-SHA256 known answers computed with Python's hmac module). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "radsecgw/log.h"
#include "radsecgw/metrics.h"

static const char *render(void)
{
    static char *text;
    free(text);
    size_t len = 0;
    text = rg_metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The line "NAME{LABELS} VALUE" (or "NAME VALUE") is in text. */
static void assert_sample(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "\n%s\n", line);
    if (!strstr(text, want))
        fail_msg("no line \"%s\" in:\n%s", line, text);
}

static int setup(void **state)
{
    (void)state;
    return rg_metrics_init(2);
}

static int teardown(void **state)
{
    (void)state;
    rg_metrics_stop();
    return 0;
}

static void test_requests_summed_over_workers(void **state)
{
    (void)state;
    struct rg_metrics_shard *w0 = rg_metrics_shard(0), *w1 = rg_metrics_shard(1);
    assert_non_null(w0);
    assert_non_null(w1);
    assert_null(rg_metrics_shard(2));
    for (int i = 0; i < 3; i++)
        rg_metrics_request(w0, "acme", "corp", "Access-Request", "Access-Accept", 3);
    rg_metrics_request(w1, "acme", "corp", "Access-Request", "Access-Accept", 40);
    rg_metrics_request(w1, "acme", "corp", "Access-Request", "timeout", -1);
    rg_metrics_request(w1, "globex", "corp", "Accounting-Request", "Accounting-Response", 2000);
    const char *t = render();
    assert_sample(t, "radsecgw_requests_total{org=\"acme\",pool=\"corp\",code=\"Access-Request\","
                     "result=\"Access-Accept\"} 4");
    assert_sample(t, "radsecgw_requests_total{org=\"acme\",pool=\"corp\",code=\"Access-Request\","
                     "result=\"timeout\"} 1");
    assert_sample(t, "radsecgw_requests_total{org=\"globex\",pool=\"corp\",code=\"Accounting-"
                     "Request\",result=\"Accounting-Response\"} 1");
    /* 3 ms <= 5 ms, 40 ms in 50 ms, 2 s in 2.5 s; a timeout is not timed */
    assert_sample(t, "radsecgw_request_duration_seconds_bucket{pool=\"corp\",le=\"0.005\"} 3");
    assert_sample(t, "radsecgw_request_duration_seconds_bucket{pool=\"corp\",le=\"0.025\"} 3");
    assert_sample(t, "radsecgw_request_duration_seconds_bucket{pool=\"corp\",le=\"0.05\"} 4");
    assert_sample(t, "radsecgw_request_duration_seconds_bucket{pool=\"corp\",le=\"1\"} 4");
    assert_sample(t, "radsecgw_request_duration_seconds_bucket{pool=\"corp\",le=\"2.5\"} 5");
    assert_sample(t, "radsecgw_request_duration_seconds_bucket{pool=\"corp\",le=\"+Inf\"} 5");
    assert_sample(t, "radsecgw_request_duration_seconds_count{pool=\"corp\"} 5");
    assert_sample(t, "radsecgw_request_duration_seconds_sum{pool=\"corp\"} 2.049");
    assert_non_null(strstr(t, "# TYPE radsecgw_request_duration_seconds histogram\n"));
    assert_non_null(strstr(t, "# TYPE radsecgw_requests_total counter\n"));
}

static void test_gauges_and_reasons(void **state)
{
    (void)state;
    struct rg_metrics_shard *w0 = rg_metrics_shard(0), *w1 = rg_metrics_shard(1);
    rg_metrics_conn(w0, "acme", 1);
    rg_metrics_conn(w0, "acme", 1);
    rg_metrics_conn(w1, "acme", 1);
    rg_metrics_conn(w0, "acme", -1);
    rg_metrics_refused(w0, "unknown CA");
    rg_metrics_refused(w1, "unknown CA");
    rg_metrics_refused(w1, "TLS handshake failed: -313 (received alert)");
    rg_metrics_refused(w1, "too many connections from this address (max-connections-per-ip)");
    const char *t = render();
    /* connections{org} is listed per catalogue org: none here, so read the families only */
    assert_sample(t, "radsecgw_tls_refused_total{reason=\"unknown_ca\"} 2");
    assert_sample(t, "radsecgw_tls_refused_total{reason=\"tls_handshake_failed\"} 1");
    assert_sample(
        t, "radsecgw_tls_refused_total{reason=\"too_many_connections_from_this_address\"} 1");
    char r[16];
    rg_metrics_reason_label("Prefix  not allowed (x)", r, sizeof(r));
    assert_string_equal(r, "prefix_not_allo"); /* cut to the buffer */
    rg_metrics_reason_label("", r, sizeof(r));
    assert_string_equal(r, "other");
}

static void test_label_values_escaped(void **state)
{
    (void)state;
    rg_metrics_request(rg_metrics_shard(0), "a\"b\\c\nd", "p", "Access-Request", "timeout", -1);
    const char *t = render();
    assert_sample(t, "radsecgw_requests_total{org=\"a\\\"b\\\\c\\nd\",pool=\"p\",code=\"Access-"
                     "Request\",result=\"timeout\"} 1");
}

static void test_stats_families(void **state)
{
    (void)state;
    static struct rg_stats a, b;
    a.retransmits = 2;
    b.retransmits = 5;
    a.drop_bad_reply = 1;
    b.drop_malformed = 7;
    a.outstanding = 3;
    const struct rg_stats *blocks[] = {&a, &b};
    rg_metrics_set_stats(blocks, 2);
    const char *t = render();
    assert_sample(t, "radsecgw_retransmissions_total 7");
    assert_sample(t, "radsecgw_dropped_total{reason=\"bad_reply\"} 1");
    assert_sample(t, "radsecgw_dropped_total{reason=\"malformed\"} 7");
    assert_sample(t, "radsecgw_inflight 3");
    /* one family header for the rows that share a name */
    const char *first = strstr(t, "# TYPE radsecgw_dropped_total counter\n");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE radsecgw_dropped_total"));
    assert_non_null(strstr(t, "# TYPE radsecgw_inflight gauge\n"));
    rg_metrics_set_stats(NULL, 0);
}

static void test_slots_bounded(void **state)
{
    (void)state;
    struct rg_metrics_shard *w0 = rg_metrics_shard(0);
    char org[32];
    for (int i = 0; i < RG_METRICS_SLOTS + 10; i++) {
        snprintf(org, sizeof(org), "org%d", i);
        rg_metrics_conn(w0, org, 1);
    }
    const char *t = render();
    assert_sample(t, "radsecgw_metrics_overflow_total 10");
}

static void test_no_shard_is_a_no_op(void **state)
{
    (void)state;
    rg_metrics_request(NULL, "acme", "corp", "Access-Request", "Access-Accept", 1);
    rg_metrics_conn(NULL, "acme", 1);
    rg_metrics_refused(NULL, "x");
    rg_metrics_backend(NULL, RG_METRIC_BACKEND_DOWN, "p", "s", 1);
}

static void test_hashes(void **state)
{
    (void)state;
    static const char key[] = "0123456789abcdef-key";
    char out[64];
    assert_string_equal(rg_log_hash(key, strlen(key), "alice@example.com", 17, out, sizeof(out)),
                        "h:98b2560e91338647");
    assert_string_equal(rg_log_hash(key, strlen(key), "", 0, out, sizeof(out)),
                        "h:942eddd2266f86ed");
    /* every notation of one MAC gives the hash of its 12 lower-case digits */
    static const char *macs[] = {"AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff", "aabb.ccdd.eeff",
                                 "AABBCCDDEEFF"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(
            rg_log_hash_mac(key, strlen(key), macs[i], strlen(macs[i]), out, sizeof(out)),
            "h:0f32542d288965a2");
    /* Called-Station-Id: the SSID stays, escaped */
    static const char called[] = "AA-BB-CC-DD-EE-FF:Corp \"WiFi\"";
    assert_string_equal(rg_log_hash_mac(key, strlen(key), called, strlen(called), out, sizeof(out)),
                        "h:0f32542d288965a2:Corp \\\"WiFi\\\"");
    /* not a MAC (mixed separators, 13 digits): hashed whole, never partly shown */
    static const char *nots[] = {"AA-BB:CC-DD-EE-FF", "aabbccddeeff0", "alice"};
    for (size_t i = 0; i < 3; i++) {
        rg_log_hash_mac(key, strlen(key), nots[i], strlen(nots[i]), out, sizeof(out));
        assert_int_equal(strlen(out), 18);
        assert_int_equal(strncmp(out, "h:", 2), 0);
    }
    /* too small a buffer: empty, not cut */
    assert_string_equal(rg_log_hash(key, strlen(key), "x", 1, out, 10), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_requests_summed_over_workers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gauges_and_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_values_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_families, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slots_bounded, setup, teardown),
        cmocka_unit_test(test_no_shard_is_a_no_op),
        cmocka_unit_test(test_hashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
