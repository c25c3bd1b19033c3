/* Tests for src/radius.c: validation rules (one test per malformed-packet rule), the RFC 2865
 * §7 example packets, attribute walk/find/add/insert/remove/replace, VSAs and RFC 6929
 * extended attributes. Cryptography is tested in test_radius_crypto.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "radsecgw/radius.h"

#include "../vectors/rfc2865_packets.h"

/* Type sequence of a packet's attributes, for order checks. */
static size_t attr_types(const uint8_t *pkt, uint8_t *types, size_t max)
{
    size_t pos = 0, n = 0;
    struct rg_radius_attr a;
    while (n < max && rg_radius_attr_next(pkt, &pos, &a))
        types[n++] = a.type;
    return n;
}

static void assert_types(const uint8_t *pkt, const uint8_t *want, size_t n)
{
    uint8_t got[64];
    assert_int_equal(attr_types(pkt, got, sizeof(got)), n);
    assert_memory_equal(got, want, n);
}

static void assert_valid(const uint8_t *pkt, size_t len)
{
    struct rg_radius_error err;
    assert_int_equal(rg_radius_validate(pkt, len, &err), 0);
    assert_int_equal(err.reason, RG_RADIUS_OK);
}

/* ---------------------------------------------------------------- RFC 2865 §7 */

static void test_rfc2865_7_1_request_parses(void **state)
{
    (void)state;
    assert_valid(rfc_7_1_request, sizeof(rfc_7_1_request));
    static const uint8_t types[] = {1, 2, 4, 5};
    assert_types(rfc_7_1_request, types, sizeof(types));

    char name[32];
    assert_int_equal(
        rg_radius_attr_string(rfc_7_1_request, RG_RADIUS_ATTR_USER_NAME, name, sizeof(name)), 1);
    assert_string_equal(name, "nemo");

    struct rg_radius_attr a;
    assert_int_equal(rg_radius_attr_find(rfc_7_1_request, RG_RADIUS_ATTR_USER_PASSWORD, NULL, &a),
                     1);
    assert_int_equal(a.offset, 26);
    assert_int_equal(a.len, 18);
    assert_int_equal(a.value_len, 16);
    assert_ptr_equal(a.value, rfc_7_1_request + 28);

    assert_int_equal(rg_radius_attr_find(rfc_7_1_request, RG_RADIUS_ATTR_NAS_PORT, NULL, &a), 1);
    assert_int_equal(a.value[3], 3);
}

static void test_rfc2865_7_1_accept_parses(void **state)
{
    (void)state;
    assert_valid(rfc_7_1_accept, sizeof(rfc_7_1_accept));
    static const uint8_t types[] = {6, 15, 14};
    assert_types(rfc_7_1_accept, types, sizeof(types));
}

static void test_rfc2865_7_2_packets_parse(void **state)
{
    (void)state;
    assert_valid(rfc_7_2_request, sizeof(rfc_7_2_request));
    static const uint8_t req_types[] = {1, 3, 4, 5, 6, 7};
    assert_types(rfc_7_2_request, req_types, sizeof(req_types));
    struct rg_radius_attr a;
    assert_int_equal(rg_radius_attr_find(rfc_7_2_request, RG_RADIUS_ATTR_CHAP_PASSWORD, NULL, &a),
                     1);
    assert_int_equal(a.value_len, 17);
    assert_int_equal(a.value[0], 22); /* CHAP ID */

    assert_valid(rfc_7_2_accept, sizeof(rfc_7_2_accept));
    static const uint8_t acc_types[] = {6, 7, 8, 10, 13, 12};
    assert_types(rfc_7_2_accept, acc_types, sizeof(acc_types));
}

static void test_rfc2865_7_3_packets_parse(void **state)
{
    (void)state;
    assert_valid(rfc_7_3_request, sizeof(rfc_7_3_request));
    char name[32];
    assert_int_equal(
        rg_radius_attr_string(rfc_7_3_request, RG_RADIUS_ATTR_USER_NAME, name, sizeof(name)), 1);
    assert_string_equal(name, "mopsy");

    assert_valid(rfc_7_3_challenge, sizeof(rfc_7_3_challenge));
    char msg[80];
    assert_int_equal(
        rg_radius_attr_string(rfc_7_3_challenge, RG_RADIUS_ATTR_REPLY_MESSAGE, msg, sizeof(msg)),
        1);
    assert_string_equal(msg, "Challenge 32769430.  Enter response at prompt.");
    struct rg_radius_attr a;
    assert_int_equal(rg_radius_attr_find(rfc_7_3_challenge, RG_RADIUS_ATTR_STATE, NULL, &a), 1);
    assert_int_equal(a.value_len, 8);
    assert_memory_equal(a.value, "32769430", 8);
}

/* ---------------------------------------------------------------- malformed packets */

static void expect_invalid(const uint8_t *pkt, size_t len, enum rg_radius_reason reason,
                           size_t offset, unsigned attr_type)
{
    struct rg_radius_error err = {RG_RADIUS_OK, 999, 999};
    assert_int_equal(rg_radius_validate(pkt, len, &err), -EBADMSG);
    assert_int_equal(err.reason, reason);
    assert_int_equal(err.offset, offset);
    assert_int_equal(err.attr_type, attr_type);
    /* Without an error struct the verdict is the same. */
    assert_int_equal(rg_radius_validate(pkt, len, NULL), -EBADMSG);
}

static void test_malformed_short(void **state)
{
    (void)state;
    expect_invalid(rfc_7_1_request, 19, RG_RADIUS_ERR_SHORT, 0, 0);
    expect_invalid(rfc_7_1_request, 0, RG_RADIUS_ERR_SHORT, 0, 0);
}

static void test_malformed_length_field_below_20(void **state)
{
    (void)state;
    uint8_t pkt[64];
    memcpy(pkt, rfc_7_1_request, sizeof(rfc_7_1_request));
    rg_radius_set_len(pkt, 19);
    expect_invalid(pkt, sizeof(rfc_7_1_request), RG_RADIUS_ERR_LENGTH_FIELD, 2, 0);
}

static void test_malformed_length_field_above_4096(void **state)
{
    (void)state;
    static uint8_t pkt[4200];
    memset(pkt, 0, sizeof(pkt));
    memcpy(pkt, rfc_7_1_accept, 20);
    rg_radius_set_len(pkt, 4097);
    /* Even with 4097 octets buffered, RFC 2865 §3 caps a packet at 4096. */
    expect_invalid(pkt, sizeof(pkt), RG_RADIUS_ERR_LENGTH_FIELD, 2, 0);
}

static void test_malformed_truncated(void **state)
{
    (void)state;
    expect_invalid(rfc_7_1_request, sizeof(rfc_7_1_request) - 1, RG_RADIUS_ERR_TRUNCATED,
                   sizeof(rfc_7_1_request) - 1, 0);
}

static void test_malformed_attr_length_0(void **state)
{
    (void)state;
    uint8_t pkt[64];
    memcpy(pkt, rfc_7_1_request, sizeof(rfc_7_1_request));
    pkt[27] = 0; /* User-Password Length */
    expect_invalid(pkt, sizeof(rfc_7_1_request), RG_RADIUS_ERR_ATTR_LENGTH, 26, 2);
}

static void test_malformed_attr_length_1(void **state)
{
    (void)state;
    uint8_t pkt[64];
    memcpy(pkt, rfc_7_1_request, sizeof(rfc_7_1_request));
    pkt[21] = 1; /* User-Name Length */
    expect_invalid(pkt, sizeof(rfc_7_1_request), RG_RADIUS_ERR_ATTR_LENGTH, 20, 1);
}

static void test_malformed_attr_overrun(void **state)
{
    (void)state;
    uint8_t pkt[64];
    memcpy(pkt, rfc_7_1_request, sizeof(rfc_7_1_request));
    pkt[51] = 7; /* NAS-Port: one octet past the end */
    expect_invalid(pkt, sizeof(rfc_7_1_request), RG_RADIUS_ERR_ATTR_OVERRUN, 50, 5);
}

static void test_malformed_trailing_octet(void **state)
{
    (void)state;
    /* One octet after the last attribute, inside Length: less than an attribute header. */
    uint8_t pkt[64];
    memcpy(pkt, rfc_7_1_accept, sizeof(rfc_7_1_accept));
    pkt[sizeof(rfc_7_1_accept)] = 0x12;
    rg_radius_set_len(pkt, sizeof(rfc_7_1_accept) + 1);
    expect_invalid(pkt, sizeof(rfc_7_1_accept) + 1, RG_RADIUS_ERR_ATTR_HEADER,
                   sizeof(rfc_7_1_accept), 0x12);
}

static void test_octets_past_length_ignored(void **state)
{
    (void)state;
    /* RFC 2865 §3: octets outside the range of Length are padding and ignored. */
    uint8_t pkt[64];
    memset(pkt, 0xee, sizeof(pkt));
    memcpy(pkt, rfc_7_1_accept, sizeof(rfc_7_1_accept));
    assert_valid(pkt, sizeof(pkt));
    static const uint8_t types[] = {6, 15, 14};
    assert_types(pkt, types, sizeof(types));
}

static void test_header_only_packet_valid(void **state)
{
    (void)state;
    uint8_t pkt[20];
    memcpy(pkt, rfc_7_1_accept, 20);
    rg_radius_set_len(pkt, 20);
    assert_valid(pkt, sizeof(pkt));
    size_t pos = 0;
    struct rg_radius_attr a;
    assert_int_equal(rg_radius_attr_next(pkt, &pos, &a), 0);
}

static void test_max_length_packet_valid(void **state)
{
    (void)state;
    static uint8_t pkt[RG_RADIUS_MAX_LEN];
    uint8_t buf[253];
    memset(buf, 'x', sizeof(buf));
    struct rg_radius_pkt p = {pkt, sizeof(pkt)};
    assert_int_equal(rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL), 0);
    /* 20 + 15 attributes of 255 octets = 3845; one of 251 reaches exactly 4096. */
    for (int i = 0; i < 15; i++)
        assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, buf, 253), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_STATE, buf, 250), -ENOSPC);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_STATE, buf, 249), 0);
    assert_int_equal(rg_radius_len(pkt), 4096);
    assert_valid(pkt, sizeof(pkt));
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_STATE, NULL, 0), -ENOSPC);
}

static void test_error_str(void **state)
{
    (void)state;
    char buf[128];
    struct rg_radius_error err = {RG_RADIUS_ERR_ATTR_OVERRUN, 88, 26};
    assert_string_equal(rg_radius_error_str(&err, buf, sizeof(buf)),
                        "attribute 26 overruns packet at offset 88");
    err = (struct rg_radius_error){RG_RADIUS_ERR_LENGTH_FIELD, 2, 0};
    assert_string_equal(rg_radius_error_str(&err, buf, sizeof(buf)),
                        "Length field outside 20..4096 at offset 2");
    err = (struct rg_radius_error){RG_RADIUS_ERR_ATTR_LENGTH, 20, 1};
    assert_string_equal(rg_radius_error_str(&err, buf, sizeof(buf)),
                        "attribute 1 has length below 2 at offset 20");
    /* Truncates to the buffer, always NUL-terminated. */
    char small[8];
    assert_string_equal(rg_radius_error_str(&err, small, sizeof(small)), "attribu");
    err.reason = (enum rg_radius_reason)999;
    assert_non_null(strstr(rg_radius_error_str(&err, buf, sizeof(buf)), "unknown"));
}

static void test_frame_len(void **state)
{
    (void)state;
    uint8_t hdr[4] = {1, 0, 0, 0x38};
    assert_int_equal(rg_radius_frame_len(hdr, 3), 0);
    assert_int_equal(rg_radius_frame_len(hdr, 4), 56); /* header there, body still coming */
    hdr[3] = 19;
    assert_int_equal(rg_radius_frame_len(hdr, 4), -1);
    hdr[2] = 0x10;
    hdr[3] = 0x01; /* 4097 */
    assert_int_equal(rg_radius_frame_len(hdr, 4), -1);
    hdr[3] = 0x00; /* 4096 */
    assert_int_equal(rg_radius_frame_len(hdr, 4), 4096);
    hdr[2] = 0;
    hdr[3] = 20;
    assert_int_equal(rg_radius_frame_len(hdr, 4), 20);
}

/* ---------------------------------------------------------------- building */

static void test_init(void **state)
{
    (void)state;
    uint8_t buf[64];
    memset(buf, 0xaa, sizeof(buf));
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    assert_int_equal(rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 9, NULL), 0);
    assert_int_equal(buf[0], 1);
    assert_int_equal(buf[1], 9);
    assert_int_equal(rg_radius_len(buf), 20);
    static const uint8_t zeros[16];
    assert_memory_equal(buf + 4, zeros, 16);

    assert_int_equal(rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 9, rfc_7_1_request + 4), 0);
    assert_memory_equal(buf + 4, rfc_7_1_request + 4, 16);

    struct rg_radius_pkt tiny = {buf, 19};
    assert_int_equal(rg_radius_init(&tiny, 1, 1, NULL), -ENOSPC);
}

/* Builds the RFC 2865 §7.1 request attribute by attribute and gets the RFC's octets. */
static void test_build_rfc2865_7_1(void **state)
{
    (void)state;
    uint8_t buf[128];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    assert_int_equal(rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 0, rfc_7_1_request + 4), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "nemo", 4), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, rfc_7_1_request + 28, 16),
                     0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_NAS_IP_ADDRESS, "\xc0\xa8\x01\x10", 4),
                     0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_NAS_PORT, "\0\0\0\x03", 4), 0);
    assert_int_equal(rg_radius_len(buf), sizeof(rfc_7_1_request));
    assert_memory_equal(buf, rfc_7_1_request, sizeof(rfc_7_1_request));
}

static void test_add_limits(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    uint8_t big[300] = {0};
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, big, 254), -EINVAL);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, big, 42), 0); /* 64 exactly */
    assert_int_equal(rg_radius_len(buf), 64);
    uint8_t before[64];
    memcpy(before, buf, sizeof(buf));
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_STATE, NULL, 0), -ENOSPC);
    assert_int_equal(rg_radius_attr_insert_first(&p, RG_RADIUS_ATTR_STATE, "x", 1), -ENOSPC);
    assert_memory_equal(buf, before, sizeof(buf)); /* a failed add changes nothing */
    /* A Length field that does not fit the buffer is refused, not trusted. */
    rg_radius_set_len(buf, 65);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_STATE, NULL, 0), -EINVAL);
}

static void test_add_caps_at_4096_even_with_bigger_buffer(void **state)
{
    (void)state;
    static uint8_t buf[8192];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    uint8_t v[253] = {0};
    int rc = 0, n = 0;
    while ((rc = rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, v, sizeof(v))) == 0)
        n++;
    assert_int_equal(rc, -ENOSPC);
    assert_int_equal(n, 15); /* 20 + 15 * 255 = 3845; a 16th would make 4100 */
    assert_true(rg_radius_len(buf) <= RG_RADIUS_MAX_LEN);
}

/* A packet with repeated attributes: 33 (Proxy-State) three times, interleaved. */
static void build_repeated(struct rg_radius_pkt *p)
{
    assert_int_equal(rg_radius_init(p, RG_RADIUS_ACCESS_REQUEST, 3, NULL), 0);
    assert_int_equal(rg_radius_attr_add(p, RG_RADIUS_ATTR_USER_NAME, "u", 1), 0);
    assert_int_equal(rg_radius_attr_add(p, RG_RADIUS_ATTR_PROXY_STATE, "p1", 2), 0);
    assert_int_equal(rg_radius_attr_add(p, RG_RADIUS_ATTR_CLASS, "c", 1), 0);
    assert_int_equal(rg_radius_attr_add(p, RG_RADIUS_ATTR_PROXY_STATE, "p2", 2), 0);
    assert_int_equal(rg_radius_attr_add(p, RG_RADIUS_ATTR_PROXY_STATE, "p3", 2), 0);
    assert_int_equal(rg_radius_attr_add(p, RG_RADIUS_ATTR_NAS_IDENTIFIER, "nas", 3), 0);
}

static void test_find_repeated_in_order(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    build_repeated(&p);
    assert_valid(buf, rg_radius_len(buf));
    static const char *want[] = {"p1", "p2", "p3"};
    size_t pos = 0;
    struct rg_radius_attr a;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a), 1);
        assert_int_equal(a.value_len, 2);
        assert_memory_equal(a.value, want[i], 2);
        assert_int_equal(buf[a.offset], RG_RADIUS_ATTR_PROXY_STATE);
    }
    assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a), 0);
    assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_STATE, NULL, &a), 0);
    /* NULL pos: always the first one. */
    assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_PROXY_STATE, NULL, &a), 1);
    assert_memory_equal(a.value, "p1", 2);
}

static void test_insert_first(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    build_repeated(&p);
    size_t len = rg_radius_len(buf);
    assert_int_equal(rg_radius_attr_insert_first(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR,
                                                 "0123456789abcdef", 16),
                     0);
    assert_int_equal(rg_radius_len(buf), len + 18);
    assert_valid(buf, rg_radius_len(buf));
    static const uint8_t types[] = {80, 1, 33, 25, 33, 33, 32};
    assert_types(buf, types, sizeof(types));
    assert_memory_equal(buf + 22, "0123456789abcdef", 16);
}

static void test_remove(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    build_repeated(&p);
    size_t len = rg_radius_len(buf);
    struct rg_radius_attr a;
    assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_CLASS, NULL, &a), 1);
    assert_int_equal(rg_radius_attr_remove(&p, a.offset), 0);
    assert_int_equal(rg_radius_len(buf), len - 3);
    assert_valid(buf, rg_radius_len(buf));
    static const uint8_t types[] = {1, 33, 33, 33, 32};
    assert_types(buf, types, sizeof(types));

    /* Offsets that are not an attribute boundary, or past the end, are refused. */
    assert_int_equal(rg_radius_attr_remove(&p, 21), -EINVAL);
    assert_int_equal(rg_radius_attr_remove(&p, 19), -EINVAL);
    assert_int_equal(rg_radius_attr_remove(&p, rg_radius_len(buf)), -EINVAL);
    assert_int_equal(rg_radius_len(buf), len - 3);

    /* Removing the last attribute. */
    size_t pos = 0, last = 0;
    while (rg_radius_attr_next(buf, &pos, &a))
        last = a.offset;
    assert_int_equal(rg_radius_attr_remove(&p, last), 0);
    static const uint8_t types2[] = {1, 33, 33, 33};
    assert_types(buf, types2, sizeof(types2));
}

static void test_remove_all_keeps_others_in_order(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    build_repeated(&p);
    assert_int_equal(rg_radius_attr_remove_all(&p, RG_RADIUS_ATTR_PROXY_STATE), 3);
    assert_valid(buf, rg_radius_len(buf));
    static const uint8_t types[] = {1, 25, 32};
    assert_types(buf, types, sizeof(types));
    assert_int_equal(rg_radius_attr_remove_all(&p, RG_RADIUS_ATTR_PROXY_STATE), 0);
    assert_int_equal(rg_radius_attr_remove_all(&p, RG_RADIUS_ATTR_USER_NAME), 1);
    assert_int_equal(rg_radius_attr_remove_all(&p, RG_RADIUS_ATTR_NAS_IDENTIFIER), 1);
    assert_int_equal(rg_radius_attr_remove_all(&p, RG_RADIUS_ATTR_CLASS), 1);
    assert_int_equal(rg_radius_len(buf), 20);
}

static void test_replace_keeps_position(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    build_repeated(&p);
    size_t len = rg_radius_len(buf);
    size_t pos = 0;
    struct rg_radius_attr a;
    rg_radius_attr_find(buf, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a);
    rg_radius_attr_find(buf, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a); /* the second, "p2" */

    assert_int_equal(rg_radius_attr_replace(&p, a.offset, "longer-state", 12), 0);
    assert_int_equal(rg_radius_len(buf), len + 10);
    assert_valid(buf, rg_radius_len(buf));
    static const uint8_t types[] = {1, 33, 25, 33, 33, 32};
    assert_types(buf, types, sizeof(types));
    static const char *want[] = {"p1", "longer-state", "p3"};
    pos = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_PROXY_STATE, &pos, &a), 1);
        assert_int_equal(a.value_len, strlen(want[i]));
        assert_memory_equal(a.value, want[i], a.value_len);
    }

    /* Shrink to empty: still in place. */
    rg_radius_attr_find(buf, RG_RADIUS_ATTR_CLASS, NULL, &a);
    assert_int_equal(rg_radius_attr_replace(&p, a.offset, NULL, 0), 0);
    assert_types(buf, types, sizeof(types));
    rg_radius_attr_find(buf, RG_RADIUS_ATTR_CLASS, NULL, &a);
    assert_int_equal(a.len, 2);

    uint8_t big[254] = {0};
    rg_radius_attr_find(buf, RG_RADIUS_ATTR_USER_NAME, NULL, &a);
    assert_int_equal(rg_radius_attr_replace(&p, a.offset, big, 254), -EINVAL);
    assert_int_equal(rg_radius_attr_replace(&p, a.offset + 1, "x", 1), -EINVAL);
    assert_valid(buf, rg_radius_len(buf));
}

static void test_replace_with_value_from_same_packet(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    build_repeated(&p);
    struct rg_radius_attr user, nas;
    rg_radius_attr_find(buf, RG_RADIUS_ATTR_USER_NAME, NULL, &user);
    rg_radius_attr_find(buf, RG_RADIUS_ATTR_NAS_IDENTIFIER, NULL, &nas);
    assert_int_equal(rg_radius_attr_replace(&p, user.offset, nas.value, nas.value_len), 0);
    char s[16];
    rg_radius_attr_string(buf, RG_RADIUS_ATTR_USER_NAME, s, sizeof(s));
    assert_string_equal(s, "nas");
}

static void test_replace_no_space(void **state)
{
    (void)state;
    uint8_t buf[32];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, "abc", 3);
    assert_int_equal(rg_radius_attr_replace(&p, 20, "0123456789a", 11), -ENOSPC); /* 33 > 32 */
    assert_int_equal(rg_radius_attr_replace(&p, 20, "abcdefghij", 10), 0);        /* exactly 32 */
    assert_int_equal(rg_radius_len(buf), 32);
    assert_int_equal(rg_radius_attr_replace(&p, 20, "abc", 3), 0);
    assert_int_equal(rg_radius_len(buf), 25);
    assert_memory_equal(buf + 22, "abc", 3);
}

/* ---------------------------------------------------------------- VSA and extended */

static void test_vsa_add_find_in_order(void **state)
{
    (void)state;
    uint8_t buf[512];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    assert_int_equal(rg_radius_vsa_add(&p, 9, 1, "cisco-avpair", 12), 0);
    assert_int_equal(rg_radius_vsa_add(&p, RG_RADIUS_VENDOR_MICROSOFT, 16, "send-1", 6), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, "c", 1), 0);
    assert_int_equal(rg_radius_vsa_add(&p, RG_RADIUS_VENDOR_MICROSOFT, 17, "recv", 4), 0);
    assert_int_equal(rg_radius_vsa_add(&p, RG_RADIUS_VENDOR_MICROSOFT, 16, "send-2", 6), 0);
    /* One VSA carrying two sub-attributes (RFC 2865 §5.26 allows several). */
    static const uint8_t two[] = {26,  20, 0, 0,   1,   0x37, 17,  4,   'r',
                                  '2', 16, 8, 's', 'e', 'n',  'd', '-', '3'};
    assert_int_equal(
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_VENDOR_SPECIFIC, two + 2, sizeof(two) - 2), 0);
    assert_valid(buf, rg_radius_len(buf));

    /* The VSA header: Vendor-Id in network order, then type and length. */
    struct rg_radius_attr a;
    assert_int_equal(rg_radius_attr_find(buf, RG_RADIUS_ATTR_VENDOR_SPECIFIC, NULL, &a), 1);
    static const uint8_t cisco[] = {0, 0, 0, 9, 1, 14};
    assert_memory_equal(a.value, cisco, sizeof(cisco));

    static const char *want[] = {"send-1", "send-2", "send-3"};
    size_t pos = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 16, &pos, &a), 1);
        assert_int_equal(a.type, 16);
        assert_int_equal(a.value_len, 6);
        assert_memory_equal(a.value, want[i], 6);
        assert_int_equal(buf[a.offset], 16);
        assert_int_equal(buf[a.offset + 1], 8);
    }
    assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 16, &pos, &a), 0);

    pos = 0;
    assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 17, &pos, &a), 1);
    assert_memory_equal(a.value, "recv", 4);
    assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 17, &pos, &a), 1);
    assert_memory_equal(a.value, "r2", 2);
    assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 17, &pos, &a), 0);

    pos = 0;
    assert_int_equal(rg_radius_vsa_find(buf, 9, 1, &pos, &a), 1);
    assert_int_equal(rg_radius_vsa_find(buf, 9, 1, &pos, &a), 0);
    assert_int_equal(rg_radius_vsa_find(buf, 14122, 1, NULL, &a), 0);

    uint8_t big[248] = {0};
    assert_int_equal(rg_radius_vsa_add(&p, 9, 1, big, 248), -EINVAL);
    assert_int_equal(rg_radius_vsa_add(&p, 9, 1, big, 247), 0);
    assert_valid(buf, rg_radius_len(buf));
}

static void test_vsa_find_skips_broken_and_short(void **state)
{
    (void)state;
    uint8_t buf[128];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    /* A VSA shorter than a Vendor-Id, one whose sub-attribute overruns it, then a good one. */
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_VENDOR_SPECIFIC, "\0\0", 2);
    static const uint8_t broken[] = {0, 0, 1, 0x37, 16, 9, 'x', 'y'};
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_VENDOR_SPECIFIC, broken, sizeof(broken));
    rg_radius_vsa_add(&p, RG_RADIUS_VENDOR_MICROSOFT, 16, "ok", 2);
    assert_valid(buf, rg_radius_len(buf));
    struct rg_radius_attr a;
    size_t pos = 0;
    assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 16, &pos, &a), 1);
    assert_memory_equal(a.value, "ok", 2);
    assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 16, &pos, &a), 0);
}

static void test_vsa_replace_adjusts_both_lengths(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, "before", 6);
    static const uint8_t two[] = {0,  0, 1,   0x37, 17,  4,   'r', '2',
                                  16, 8, 's', 'e',  'n', 'd', '-', '3'};
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_VENDOR_SPECIFIC, two, sizeof(two));
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, "after", 5);
    size_t len = rg_radius_len(buf);

    struct rg_radius_attr a, vsa;
    assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 17, NULL, &a), 1);
    assert_int_equal(rg_radius_attr_replace(&p, a.offset, "a-much-longer-r2", 16), 0);
    assert_int_equal(rg_radius_len(buf), len + 14);
    assert_valid(buf, rg_radius_len(buf));
    rg_radius_attr_find(buf, RG_RADIUS_ATTR_VENDOR_SPECIFIC, NULL, &vsa);
    assert_int_equal(vsa.len, 2 + sizeof(two) + 14);

    assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 17, NULL, &a), 1);
    assert_memory_equal(a.value, "a-much-longer-r2", 16);
    assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 16, NULL, &a), 1);
    assert_memory_equal(a.value, "send-3", 6);
    static const uint8_t types[] = {25, 26, 25};
    assert_types(buf, types, sizeof(types));
    char s[16];
    size_t pos = 0;
    struct rg_radius_attr c;
    rg_radius_attr_find(buf, RG_RADIUS_ATTR_CLASS, &pos, &c);
    rg_radius_attr_find(buf, RG_RADIUS_ATTR_CLASS, &pos, &c);
    memcpy(s, c.value, c.value_len);
    s[c.value_len] = 0;
    assert_string_equal(s, "after");

    /* Shrinking the second sub-attribute. */
    assert_int_equal(rg_radius_attr_replace(&p, a.offset, "s", 1), 0);
    assert_valid(buf, rg_radius_len(buf));
    assert_int_equal(rg_radius_vsa_find(buf, RG_RADIUS_VENDOR_MICROSOFT, 16, NULL, &a), 1);
    assert_int_equal(a.value_len, 1);

    /* The enclosing VSA would exceed 255 octets. */
    uint8_t big[240] = {0};
    assert_int_equal(rg_radius_attr_replace(&p, a.offset, big, sizeof(big)), -EINVAL);
    assert_valid(buf, rg_radius_len(buf));
}

static void test_ext_find(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, NULL);
    rg_radius_attr_add(&p, 241,
                       "\x01"
                       "first",
                       6);
    rg_radius_attr_add(&p, 241,
                       "\x02"
                       "other",
                       6);
    rg_radius_attr_add(&p, 242,
                       "\x01"
                       "ext2",
                       5);
    rg_radius_attr_add(&p, 241,
                       "\x01"
                       "second",
                       7);
    rg_radius_attr_add(&p, 241, "", 0); /* no Extended-Type: skipped */
    rg_radius_attr_add(&p, 245,
                       "\x05\x80"
                       "frag",
                       6); /* RFC 6929 §2.2 M flag set */
    assert_valid(buf, rg_radius_len(buf));

    struct rg_radius_attr a;
    size_t pos = 0;
    assert_int_equal(rg_radius_ext_find(buf, 241, 1, &pos, &a), 1);
    assert_int_equal(a.type, 241);
    assert_int_equal(a.value_len, 5);
    assert_memory_equal(a.value, "first", 5);
    assert_int_equal(rg_radius_ext_find(buf, 241, 1, &pos, &a), 1);
    assert_memory_equal(a.value, "second", 6);
    assert_int_equal(rg_radius_ext_find(buf, 241, 1, &pos, &a), 0);

    assert_int_equal(rg_radius_ext_find(buf, 241, 2, NULL, &a), 1);
    assert_memory_equal(a.value, "other", 5);
    assert_int_equal(rg_radius_ext_find(buf, 242, 1, NULL, &a), 1);
    assert_memory_equal(a.value, "ext2", 4);
    assert_int_equal(rg_radius_ext_find(buf, 245, 5, NULL, &a), 1);
    assert_int_equal(a.value_len, 4);
    assert_memory_equal(a.value, "frag", 4);
    assert_int_equal(buf[a.offset + 3] & 0x80, 0x80);
    /* Not an extended type. */
    assert_int_equal(rg_radius_ext_find(buf, 26, 1, NULL, &a), 0);
}

/* ---------------------------------------------------------------- names and strings */

static void test_code_name(void **state)
{
    (void)state;
    assert_string_equal(rg_radius_code_name(1), "Access-Request");
    assert_string_equal(rg_radius_code_name(2), "Access-Accept");
    assert_string_equal(rg_radius_code_name(4), "Accounting-Request");
    assert_string_equal(rg_radius_code_name(12), "Status-Server");
    assert_string_equal(rg_radius_code_name(40), "Disconnect-Request");
    assert_string_equal(rg_radius_code_name(43), "CoA-Request");
    assert_string_equal(rg_radius_code_name(45), "CoA-NAK");
    assert_string_equal(rg_radius_code_name(99), "Code-99");
    assert_string_equal(rg_radius_code_name(255), "Code-255");
}

static void test_attr_string(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 1, NULL);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME,
                       "al\x01"
                       "ce\x7f\xc3",
                       7);
    /* for a log line: control octets and a cut-off UTF-8 sequence escaped */
    char s[32];
    assert_int_equal(rg_radius_attr_string(buf, RG_RADIUS_ATTR_USER_NAME, s, sizeof(s)), 1);
    assert_string_equal(s, "al\\x01ce\\x7f\\xc3");
    char small[8];
    assert_int_equal(rg_radius_attr_string(buf, RG_RADIUS_ATTR_USER_NAME, small, sizeof(small)), 1);
    assert_string_equal(small, "al...");
    strcpy(s, "junk");
    assert_int_equal(rg_radius_attr_string(buf, RG_RADIUS_ATTR_STATE, s, sizeof(s)), 0);
    assert_string_equal(s, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc2865_7_1_request_parses),
        cmocka_unit_test(test_rfc2865_7_1_accept_parses),
        cmocka_unit_test(test_rfc2865_7_2_packets_parse),
        cmocka_unit_test(test_rfc2865_7_3_packets_parse),
        cmocka_unit_test(test_malformed_short),
        cmocka_unit_test(test_malformed_length_field_below_20),
        cmocka_unit_test(test_malformed_length_field_above_4096),
        cmocka_unit_test(test_malformed_truncated),
        cmocka_unit_test(test_malformed_attr_length_0),
        cmocka_unit_test(test_malformed_attr_length_1),
        cmocka_unit_test(test_malformed_attr_overrun),
        cmocka_unit_test(test_malformed_trailing_octet),
        cmocka_unit_test(test_octets_past_length_ignored),
        cmocka_unit_test(test_header_only_packet_valid),
        cmocka_unit_test(test_max_length_packet_valid),
        cmocka_unit_test(test_error_str),
        cmocka_unit_test(test_frame_len),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_build_rfc2865_7_1),
        cmocka_unit_test(test_add_limits),
        cmocka_unit_test(test_add_caps_at_4096_even_with_bigger_buffer),
        cmocka_unit_test(test_find_repeated_in_order),
        cmocka_unit_test(test_insert_first),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_remove_all_keeps_others_in_order),
        cmocka_unit_test(test_replace_keeps_position),
        cmocka_unit_test(test_replace_with_value_from_same_packet),
        cmocka_unit_test(test_replace_no_space),
        cmocka_unit_test(test_vsa_add_find_in_order),
        cmocka_unit_test(test_vsa_find_skips_broken_and_short),
        cmocka_unit_test(test_vsa_replace_adjusts_both_lengths),
        cmocka_unit_test(test_ext_find),
        cmocka_unit_test(test_code_name),
        cmocka_unit_test(test_attr_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
