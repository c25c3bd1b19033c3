/* Tests for src/radius_crypto.c: RFC 2865 §7 known answers, vectors from the independent
 * Python generator (test/vectors/gen_vectors.py) and from radclient captures, round trips,
 * re-encryption between secrets, Message-Authenticator and accounting/CoA authenticators. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "radsecgw/common.h"
#include "radsecgw/radius.h"
#include "radsecgw/radius_crypto.h"
#include "../vectors/rfc2865_packets.h"
#include "../vectors/vectors.h"

#define SECRET_A ((rg_secret){(const char *)vec_secret_a, sizeof(vec_secret_a)})
#define SECRET_B ((rg_secret){(const char *)vec_secret_b, sizeof(vec_secret_b)})

static const char rfc_secret[] = "xyzzy5461";
#define RFC_SECRET rg_secret_str(rfc_secret)

/* ---------------------------------------------------------------- RFC 2865 §7 */

static void test_rfc2865_7_1_password_hide(void **state)
{
    (void)state;
    uint8_t out[RG_RADIUS_PASSWORD_MAX];
    size_t out_len = 0;
    assert_int_equal(rg_radius_password_hide((const uint8_t *)"arctangent", 10, rfc_7_1_request + 4,
                                             RFC_SECRET, out, &out_len),
                     0);
    assert_int_equal(out_len, 16);
    /* The RFC's User-Password octets: 0d be 70 8d 93 d4 13 ce 31 96 e4 3f 78 2a 0a ee. */
    assert_memory_equal(out, rfc_7_1_request + 28, 16);

    uint8_t plain[RG_RADIUS_PASSWORD_MAX];
    size_t plain_len = 0;
    assert_int_equal(rg_radius_password_unhide(rfc_7_1_request + 28, 16, rfc_7_1_request + 4,
                                               RFC_SECRET, plain, &plain_len),
                     0);
    assert_int_equal(plain_len, 10);
    assert_memory_equal(plain, "arctangent", 10);
}

static void test_rfc2865_7_3_password_unhide(void **state)
{
    (void)state;
    uint8_t plain[RG_RADIUS_PASSWORD_MAX];
    size_t plain_len = 0;
    assert_int_equal(rg_radius_password_unhide(rfc_7_3_request + 29, 16, rfc_7_3_request + 4,
                                               RFC_SECRET, plain, &plain_len),
                     0);
    assert_int_equal(plain_len, 9);
    assert_memory_equal(plain, "challenge", 9);
}

static void test_rfc2865_response_authenticators(void **state)
{
    (void)state;
    assert_int_equal(
        rg_radius_auth_response_verify(rfc_7_1_accept, rfc_7_1_request + 4, RFC_SECRET), 0);
    assert_int_equal(
        rg_radius_auth_response_verify(rfc_7_2_accept, rfc_7_2_request + 4, RFC_SECRET), 0);
    assert_int_equal(
        rg_radius_auth_response_verify(rfc_7_3_challenge, rfc_7_3_request + 4, RFC_SECRET), 0);

    /* Signing reproduces the RFC's Response Authenticator. */
    uint8_t reply[sizeof(rfc_7_1_accept)];
    memcpy(reply, rfc_7_1_accept, sizeof(reply));
    memset(reply + 4, 0, 16);
    rg_radius_auth_response_sign(reply, rfc_7_1_request + 4, RFC_SECRET);
    assert_memory_equal(reply, rfc_7_1_accept, sizeof(reply));

    /* request_auth may point at the reply's own field (filled with it before signing). */
    memcpy(reply + 4, rfc_7_1_request + 4, 16);
    rg_radius_auth_response_sign(reply, reply + 4, RFC_SECRET);
    assert_memory_equal(reply, rfc_7_1_accept, sizeof(reply));
}

static void test_response_authenticator_detects_tampering(void **state)
{
    (void)state;
    uint8_t reply[sizeof(rfc_7_1_accept)];
    memcpy(reply, rfc_7_1_accept, sizeof(reply));
    reply[sizeof(reply) - 1] ^= 1; /* Login-IP-Host */
    assert_int_equal(rg_radius_auth_response_verify(reply, rfc_7_1_request + 4, RFC_SECRET),
                     -EBADMSG);
    memcpy(reply, rfc_7_1_accept, sizeof(reply));
    reply[1] = 1; /* Identifier */
    assert_int_equal(rg_radius_auth_response_verify(reply, rfc_7_1_request + 4, RFC_SECRET),
                     -EBADMSG);
    assert_int_equal(rg_radius_auth_response_verify(rfc_7_1_accept, rfc_7_1_request + 4,
                                                    RG_SECRET_LIT("xyzzy5460")),
                     -EBADMSG);
    assert_int_equal(
        rg_radius_auth_response_verify(rfc_7_1_accept, rfc_7_2_request + 4, RFC_SECRET), -EBADMSG);
}

/* ---------------------------------------------------------------- User-Password */

static void test_password_vector_two_blocks(void **state)
{
    (void)state;
    uint8_t out[RG_RADIUS_PASSWORD_MAX];
    size_t out_len = 0;
    assert_int_equal(rg_radius_password_hide(vec_password_plain, sizeof(vec_password_plain),
                                             vec_auth_a, SECRET_A, out, &out_len),
                     0);
    assert_int_equal(out_len, sizeof(vec_password_hidden_a));
    assert_memory_equal(out, vec_password_hidden_a, out_len);

    uint8_t plain[RG_RADIUS_PASSWORD_MAX];
    size_t plain_len = 0;
    assert_int_equal(rg_radius_password_unhide(vec_password_hidden_a, sizeof(vec_password_hidden_a),
                                               vec_auth_a, SECRET_A, plain, &plain_len),
                     0);
    assert_int_equal(plain_len, sizeof(vec_password_plain));
    assert_memory_equal(plain, vec_password_plain, plain_len);
}

static void test_password_round_trip_all_lengths(void **state)
{
    (void)state;
    uint8_t pw[RG_RADIUS_PASSWORD_MAX];
    for (size_t i = 0; i < sizeof(pw); i++)
        pw[i] = (uint8_t)(0x21 + i % 90);
    for (size_t len = 1; len <= RG_RADIUS_PASSWORD_MAX; len++) {
        uint8_t hidden[RG_RADIUS_PASSWORD_MAX], plain[RG_RADIUS_PASSWORD_MAX];
        size_t hidden_len = 0, plain_len = 0;
        assert_int_equal(
            rg_radius_password_hide(pw, len, vec_auth_b, SECRET_B, hidden, &hidden_len), 0);
        assert_int_equal(hidden_len, (len + 15) / 16 * 16);
        assert_int_equal(
            rg_radius_password_unhide(hidden, hidden_len, vec_auth_b, SECRET_B, plain, &plain_len),
            0);
        assert_int_equal(plain_len, len);
        assert_memory_equal(plain, pw, len);
    }
}

static void test_password_bounds(void **state)
{
    (void)state;
    uint8_t buf[256] = {1};
    uint8_t out[256];
    size_t out_len;
    assert_int_equal(rg_radius_password_hide(buf, 0, vec_auth_a, SECRET_A, out, &out_len), -EINVAL);
    assert_int_equal(rg_radius_password_hide(buf, 129, vec_auth_a, SECRET_A, out, &out_len),
                     -EINVAL);
    assert_int_equal(rg_radius_password_unhide(buf, 0, vec_auth_a, SECRET_A, out, &out_len),
                     -EINVAL);
    assert_int_equal(rg_radius_password_unhide(buf, 15, vec_auth_a, SECRET_A, out, &out_len),
                     -EINVAL);
    assert_int_equal(rg_radius_password_unhide(buf, 17, vec_auth_a, SECRET_A, out, &out_len),
                     -EINVAL);
    assert_int_equal(rg_radius_password_unhide(buf, 144, vec_auth_a, SECRET_A, out, &out_len),
                     -EINVAL);
    assert_int_equal(rg_radius_password_unhide(buf, 128, vec_auth_a, SECRET_A, out, &out_len), 0);
}

/* ---------------------------------------------------------------- salted schemes */

static void check_salted_vector(const uint8_t *key, size_t key_len, const uint8_t *salt,
                                const uint8_t *value, size_t value_len)
{
    uint8_t out[2 + 256];
    size_t out_len = 0;
    assert_int_equal(rg_radius_salted_hide(key, key_len, salt, vec_auth_a, SECRET_A, out, &out_len),
                     0);
    assert_int_equal(out_len, value_len);
    assert_memory_equal(out, value, value_len);

    uint8_t plain[256];
    size_t plain_len = 0;
    assert_int_equal(
        rg_radius_salted_unhide(value, value_len, vec_auth_a, SECRET_A, plain, &plain_len), 0);
    assert_int_equal(plain_len, key_len);
    assert_memory_equal(plain, key, key_len);
}

static void test_tunnel_password_vector(void **state)
{
    (void)state;
    assert_int_equal(vec_tunnel_value_a[0], VEC_TUNNEL_TAG);
    check_salted_vector(vec_tunnel_plain, sizeof(vec_tunnel_plain), vec_tunnel_salt,
                        vec_tunnel_value_a + 1, sizeof(vec_tunnel_value_a) - 1);
}

static void test_mppe_send_recv_key_vectors(void **state)
{
    (void)state;
    check_salted_vector(vec_send_key, sizeof(vec_send_key), vec_send_salt, vec_send_value_a,
                        sizeof(vec_send_value_a));
    check_salted_vector(vec_recv_key, sizeof(vec_recv_key), vec_recv_salt, vec_recv_value_a,
                        sizeof(vec_recv_value_a));
}

static void test_salted_round_trip_all_lengths(void **state)
{
    (void)state;
    uint8_t key[253];
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 7);
    const uint8_t salt[2] = {0x80, 0x01};
    for (size_t len = 0; len <= sizeof(key); len++) {
        uint8_t hidden[2 + 256], plain[256];
        size_t hidden_len = 0, plain_len = 0;
        assert_int_equal(
            rg_radius_salted_hide(key, len, salt, vec_auth_b, SECRET_B, hidden, &hidden_len), 0);
        assert_int_equal(hidden_len, 2 + (len + 1 + 15) / 16 * 16);
        assert_memory_equal(hidden, salt, 2);
        assert_int_equal(
            rg_radius_salted_unhide(hidden, hidden_len, vec_auth_b, SECRET_B, plain, &plain_len),
            0);
        assert_int_equal(plain_len, len);
        assert_memory_equal(plain, key, len);
    }
}

static void test_salted_bounds(void **state)
{
    (void)state;
    uint8_t buf[300] = {0};
    uint8_t out[300];
    size_t out_len;
    const uint8_t good_salt[2] = {0x80, 0}, bad_salt[2] = {0x7f, 0xff};
    /* RFC 2868 §3.5: the salt's most significant bit MUST be set. */
    assert_int_equal(rg_radius_salted_hide(buf, 4, bad_salt, vec_auth_a, SECRET_A, out, &out_len),
                     -EINVAL);
    assert_int_equal(
        rg_radius_salted_hide(buf, 254, good_salt, vec_auth_a, SECRET_A, out, &out_len), -EINVAL);
    /* Salt + one or more whole blocks. */
    static const size_t bad_lens[] = {0, 2, 17, 19, 33, 2 + 16 * 17};
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad_lens); i++)
        assert_int_equal(
            rg_radius_salted_unhide(buf, bad_lens[i], vec_auth_a, SECRET_A, out, &out_len),
            -EINVAL);
}

/* A hidden length octet larger than the data it heads is refused (RFC 2868 §3.5). */
static void test_salted_length_octet_too_large(void **state)
{
    (void)state;
    uint8_t key[15];
    memset(key, 'k', sizeof(key));
    const uint8_t salt[2] = {0x81, 0x02};
    uint8_t hidden[2 + 16];
    size_t hidden_len;
    assert_int_equal(
        rg_radius_salted_hide(key, 15, salt, vec_auth_a, SECRET_A, hidden, &hidden_len), 0);
    assert_int_equal(hidden_len, 18);
    uint8_t out[16];
    size_t out_len;
    assert_int_equal(
        rg_radius_salted_unhide(hidden, hidden_len, vec_auth_a, SECRET_A, out, &out_len), 0);
    hidden[2] ^= 15 ^ 16; /* the length octet now decrypts to 16 > 15 */
    assert_int_equal(
        rg_radius_salted_unhide(hidden, hidden_len, vec_auth_a, SECRET_A, out, &out_len), -EBADMSG);
}

static void test_salt_new(void **state)
{
    (void)state;
    unsigned counter = 0x7ffe;
    uint8_t s1[2], s2[2], s3[2];
    rg_radius_salt_new(s1, &counter);
    rg_radius_salt_new(s2, &counter);
    rg_radius_salt_new(s3, &counter);
    assert_int_equal(s1[0], 0xff);
    assert_int_equal(s1[1], 0xfe);
    assert_int_equal(s2[0], 0xff);
    assert_int_equal(s2[1], 0xff);
    assert_int_equal(s3[0], 0x80); /* wraps within the 15 bits, top bit stays */
    assert_int_equal(s3[1], 0x00);
    assert_int_equal(counter, 0x8001);

    /* A zero counter is seeded at random; salts still differ and carry the top bit. */
    unsigned fresh = 0;
    uint8_t seen[64][2];
    for (size_t i = 0; i < 64; i++) {
        rg_radius_salt_new(seen[i], &fresh);
        assert_true(seen[i][0] & 0x80);
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal(seen[i], seen[j], 2);
    }
    assert_int_not_equal(fresh, 0);
}

/* ---------------------------------------------------------------- MS-CHAP-MPPE-Keys */

static void test_mppe_keys_vector(void **state)
{
    (void)state;
    uint8_t out[32];
    size_t out_len = 0;
    assert_int_equal(rg_radius_mppe_keys_hide(vec_mppe_keys_plain, sizeof(vec_mppe_keys_plain),
                                              vec_auth_a, SECRET_A, out, &out_len),
                     0);
    assert_int_equal(out_len, 32);
    assert_memory_equal(out, vec_mppe_keys_hidden_a, 32);

    uint8_t plain[32];
    size_t plain_len = 0;
    assert_int_equal(rg_radius_mppe_keys_unhide(vec_mppe_keys_hidden_a, 32, vec_auth_a, SECRET_A,
                                                plain, &plain_len),
                     0);
    assert_int_equal(plain_len, 32);
    assert_memory_equal(plain, vec_mppe_keys_plain, sizeof(vec_mppe_keys_plain));
    static const uint8_t pad[8];
    assert_memory_equal(plain + 24, pad, 8);

    assert_int_equal(rg_radius_mppe_keys_unhide(vec_mppe_keys_hidden_a, 16, vec_auth_a, SECRET_A,
                                                plain, &plain_len),
                     -EINVAL);
    assert_int_equal(
        rg_radius_mppe_keys_hide(vec_mppe_keys_plain, 33, vec_auth_a, SECRET_A, out, &out_len),
        -EINVAL);
}

/* ---------------------------------------------------------------- reply re-encryption */

static void test_vector_accept_signed(void **state)
{
    (void)state;
    assert_int_equal(rg_radius_validate(vec_accept_a, sizeof(vec_accept_a), NULL), 0);
    assert_int_equal(rg_radius_auth_response_verify(vec_accept_a, vec_auth_a, SECRET_A), 0);
    assert_int_equal(rg_radius_msgauth_verify(vec_accept_a, vec_auth_a, SECRET_A), 0);
    assert_int_equal(rg_radius_auth_response_verify(vec_accept_b, vec_auth_b, SECRET_B), 0);
    assert_int_equal(rg_radius_msgauth_verify(vec_accept_b, vec_auth_b, SECRET_B), 0);

    /* Signing from scratch reproduces the generator's octets. */
    uint8_t pkt[sizeof(vec_accept_a)];
    memcpy(pkt, vec_accept_a, sizeof(pkt));
    memset(pkt + 4, 0, 16);
    memset(pkt + 22, 0, 16);
    assert_int_equal(rg_radius_msgauth_sign(pkt, vec_auth_a, SECRET_A), 0);
    rg_radius_auth_response_sign(pkt, vec_auth_a, SECRET_A);
    assert_memory_equal(pkt, vec_accept_a, sizeof(pkt));
}

static void test_reply_recrypt_known_answer(void **state)
{
    (void)state;
    uint8_t pkt[sizeof(vec_accept_a)];
    memcpy(pkt, vec_accept_a, sizeof(pkt));
    unsigned counter = VEC_RECRYPT_COUNTER;
    assert_int_equal(
        rg_radius_reply_recrypt(pkt, vec_auth_a, SECRET_A, vec_auth_b, SECRET_B, &counter), 0);
    assert_int_equal(counter, VEC_RECRYPT_COUNTER + 3); /* three salted attributes */
    assert_int_equal(sizeof(vec_accept_recrypted_b), sizeof(pkt));
    assert_memory_equal(pkt, vec_accept_recrypted_b, sizeof(pkt));

    /* What the proxy does next: re-sign for the AP. */
    struct rg_radius_attr ma;
    assert_int_equal(rg_radius_attr_find(pkt, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, NULL, &ma), 1);
    memcpy(pkt + 4, vec_auth_b, 16);
    assert_int_equal(rg_radius_msgauth_sign(pkt, vec_auth_b, SECRET_B), 0);
    rg_radius_auth_response_sign(pkt, vec_auth_b, SECRET_B);
    assert_memory_equal(pkt, vec_accept_b, sizeof(pkt));
}

/* Recrypt with random salts, then every key unhides with the new secret to the original. */
static void test_reply_recrypt_round_trip(void **state)
{
    (void)state;
    uint8_t pkt[sizeof(vec_accept_a)];
    memcpy(pkt, vec_accept_a, sizeof(pkt));
    unsigned counter = 0;
    assert_int_equal(
        rg_radius_reply_recrypt(pkt, vec_auth_a, SECRET_A, vec_auth_b, SECRET_B, &counter), 0);
    assert_int_equal(rg_radius_len(pkt), sizeof(vec_accept_a));
    assert_int_equal(rg_radius_validate(pkt, sizeof(pkt), NULL), 0);

    uint8_t key[256];
    size_t key_len;
    struct rg_radius_attr a;
    assert_int_equal(rg_radius_attr_find(pkt, RG_RADIUS_ATTR_TUNNEL_PASSWORD, NULL, &a), 1);
    assert_int_equal(a.value[0], VEC_TUNNEL_TAG); /* tag kept */
    assert_true(a.value[1] & 0x80);
    assert_int_equal(
        rg_radius_salted_unhide(a.value + 1, a.value_len - 1, vec_auth_b, SECRET_B, key, &key_len),
        0);
    assert_int_equal(key_len, sizeof(vec_tunnel_plain));
    assert_memory_equal(key, vec_tunnel_plain, key_len);
    const uint8_t *salts[3];
    salts[0] = a.value + 1;

    assert_int_equal(
        rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_SEND_KEY, NULL, &a),
        1);
    assert_int_equal(
        rg_radius_salted_unhide(a.value, a.value_len, vec_auth_b, SECRET_B, key, &key_len), 0);
    assert_int_equal(key_len, sizeof(vec_send_key));
    assert_memory_equal(key, vec_send_key, key_len);
    salts[1] = a.value;

    assert_int_equal(
        rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_MPPE_RECV_KEY, NULL, &a),
        1);
    assert_int_equal(
        rg_radius_salted_unhide(a.value, a.value_len, vec_auth_b, SECRET_B, key, &key_len), 0);
    assert_int_equal(key_len, sizeof(vec_recv_key));
    assert_memory_equal(key, vec_recv_key, key_len);
    salts[2] = a.value;

    /* RFC 2548 §2.4.2: every salt in one packet is unique and has its top bit set. */
    for (size_t i = 0; i < 3; i++) {
        assert_true(salts[i][0] & 0x80);
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal(salts[i], salts[j], 2);
    }

    assert_int_equal(
        rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_CHAP_MPPE_KEYS, NULL, &a),
        1);
    assert_int_equal(
        rg_radius_mppe_keys_unhide(a.value, a.value_len, vec_auth_b, SECRET_B, key, &key_len), 0);
    assert_memory_equal(key, vec_mppe_keys_plain, sizeof(vec_mppe_keys_plain));

    /* Non-hidden attributes are untouched. */
    char msg[16];
    assert_int_equal(rg_radius_attr_string(pkt, RG_RADIUS_ATTR_REPLY_MESSAGE, msg, sizeof(msg)), 1);
    assert_string_equal(msg, "Welcome");

    /* And back again: the original hidden plaintexts under secret A. */
    assert_int_equal(
        rg_radius_reply_recrypt(pkt, vec_auth_b, SECRET_B, vec_auth_a, SECRET_A, &counter), 0);
    assert_int_equal(
        rg_radius_vsa_find(pkt, RG_RADIUS_VENDOR_MICROSOFT, RG_RADIUS_MS_CHAP_MPPE_KEYS, NULL, &a),
        1);
    assert_memory_equal(a.value, vec_mppe_keys_hidden_a, 32); /* unsalted: identical */
}

static void test_reply_recrypt_without_hidden_attributes(void **state)
{
    (void)state;
    uint8_t pkt[sizeof(rfc_7_1_accept)];
    memcpy(pkt, rfc_7_1_accept, sizeof(pkt));
    unsigned counter = 1;
    assert_int_equal(
        rg_radius_reply_recrypt(pkt, vec_auth_a, SECRET_A, vec_auth_b, SECRET_B, &counter), 0);
    assert_memory_equal(pkt, rfc_7_1_accept, sizeof(pkt));
    assert_int_equal(counter, 1);
}

/* A reply holding one attribute with the given value, for the malformed-value tests. */
static size_t reply_with(uint8_t *buf, size_t cap, uint8_t type, const uint8_t *value, size_t len)
{
    struct rg_radius_pkt p = {buf, cap};
    assert_int_equal(rg_radius_init(&p, RG_RADIUS_ACCESS_ACCEPT, 1, vec_auth_a), 0);
    assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_CLASS, "c", 1), 0);
    assert_int_equal(rg_radius_attr_add(&p, type, value, len), 0);
    return rg_radius_len(buf);
}

static int recrypt(uint8_t *pkt)
{
    unsigned counter = 5;
    return rg_radius_reply_recrypt(pkt, vec_auth_a, SECRET_A, vec_auth_b, SECRET_B, &counter);
}

static void test_reply_recrypt_malformed_tunnel_password(void **state)
{
    (void)state;
    uint8_t buf[512], value[256] = {0};
    value[1] = 0x80;
    /* tag + salt + n*16, n >= 1; anything else is refused. */
    static const size_t bad[] = {0, 1, 3, 18, 20, 34};
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        reply_with(buf, sizeof(buf), RG_RADIUS_ATTR_TUNNEL_PASSWORD, value, bad[i]);
        assert_true(recrypt(buf) < 0);
    }
    /* A well-formed value whose length octet decrypts too large. */
    uint8_t hidden[2 + 16];
    size_t hidden_len;
    const uint8_t salt[2] = {0x80, 0x09};
    assert_int_equal(rg_radius_salted_hide((const uint8_t *)"fifteen-octets!", 15, salt, vec_auth_a,
                                           SECRET_A, hidden, &hidden_len),
                     0);
    value[0] = 1;
    memcpy(value + 1, hidden, hidden_len);
    reply_with(buf, sizeof(buf), RG_RADIUS_ATTR_TUNNEL_PASSWORD, value, 1 + hidden_len);
    assert_int_equal(recrypt(buf), 0);
    value[3] ^= 15 ^ 16;
    reply_with(buf, sizeof(buf), RG_RADIUS_ATTR_TUNNEL_PASSWORD, value, 1 + hidden_len);
    assert_true(recrypt(buf) < 0);
}

static void test_reply_recrypt_malformed_microsoft(void **state)
{
    (void)state;
    uint8_t buf[512];
    /* MS-MPPE-Send-Key with 17 octets (salt + 15), MS-MPPE-Recv-Key with only a salt,
     * MS-CHAP-MPPE-Keys of 16, and a sub-attribute overrunning its VSA. */
    static const uint8_t send_short[] = {0, 0, 1, 0x37, 16, 19, 0x80, 1,  1,  2,  3, 4,
                                         5, 6, 7, 8,    9,  10, 11,   12, 13, 14, 15};
    static const uint8_t recv_salt_only[] = {0, 0, 1, 0x37, 17, 4, 0x80, 1};
    uint8_t chap16[4 + 2 + 16] = {0, 0, 1, 0x37, 12, 18};
    static const uint8_t overrun[] = {0, 0, 1, 0x37, 16, 30, 0x80, 1};
    static const uint8_t trailing[] = {0, 0, 1, 0x37, 1, 3, 'x', 0xff};

    reply_with(buf, sizeof(buf), RG_RADIUS_ATTR_VENDOR_SPECIFIC, send_short, sizeof(send_short));
    assert_true(recrypt(buf) < 0);
    reply_with(buf, sizeof(buf), RG_RADIUS_ATTR_VENDOR_SPECIFIC, recv_salt_only,
               sizeof(recv_salt_only));
    assert_true(recrypt(buf) < 0);
    reply_with(buf, sizeof(buf), RG_RADIUS_ATTR_VENDOR_SPECIFIC, chap16, sizeof(chap16));
    assert_true(recrypt(buf) < 0);
    reply_with(buf, sizeof(buf), RG_RADIUS_ATTR_VENDOR_SPECIFIC, overrun, sizeof(overrun));
    assert_true(recrypt(buf) < 0);
    reply_with(buf, sizeof(buf), RG_RADIUS_ATTR_VENDOR_SPECIFIC, trailing, sizeof(trailing));
    assert_true(recrypt(buf) < 0);

    /* Another vendor's VSA with the same sub-types is not touched. */
    static const uint8_t other[] = {0, 0, 0, 9, 16, 4, 0x80, 1};
    size_t len = reply_with(buf, sizeof(buf), RG_RADIUS_ATTR_VENDOR_SPECIFIC, other, sizeof(other));
    uint8_t before[512];
    memcpy(before, buf, len);
    assert_int_equal(recrypt(buf), 0);
    assert_memory_equal(buf, before, len);
}

/* ---------------------------------------------------------------- request re-encryption */

static void test_request_recrypt_known_answer(void **state)
{
    (void)state;
    uint8_t pkt[sizeof(vec_request_b)];
    memcpy(pkt, vec_request_b, sizeof(pkt));
    assert_int_equal(rg_radius_request_recrypt(pkt, vec_auth_b, SECRET_B, vec_auth_a, SECRET_A), 0);
    struct rg_radius_attr a;
    assert_int_equal(rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_PASSWORD, NULL, &a), 1);
    assert_int_equal(a.value_len, sizeof(vec_request_password_a));
    assert_memory_equal(a.value, vec_request_password_a, a.value_len);
    /* Nothing else changed. */
    assert_memory_equal(pkt, vec_request_b, a.offset);
    assert_memory_equal(pkt + a.offset + a.len, vec_request_b + a.offset + a.len,
                        sizeof(pkt) - a.offset - a.len);
}

static void test_request_recrypt_absent_and_malformed(void **state)
{
    (void)state;
    uint8_t pkt[sizeof(rfc_7_1_accept)];
    memcpy(pkt, rfc_7_1_accept, sizeof(pkt));
    assert_int_equal(rg_radius_request_recrypt(pkt, vec_auth_b, SECRET_B, vec_auth_a, SECRET_A), 0);
    assert_memory_equal(pkt, rfc_7_1_accept, sizeof(pkt));

    uint8_t buf[256], val[32] = {0};
    static const size_t bad[] = {0, 15, 17, 31, 144};
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        uint8_t big[144] = {0};
        struct rg_radius_pkt p = {buf, sizeof(buf)};
        rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 1, vec_auth_b);
        rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, big, bad[i]);
        assert_true(rg_radius_request_recrypt(buf, vec_auth_b, SECRET_B, vec_auth_a, SECRET_A) < 0);
    }
    /* RFC 2865 §5.44: User-Password at most once. */
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 1, vec_auth_b);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, val, 16);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_PASSWORD, val, 16);
    assert_true(rg_radius_request_recrypt(buf, vec_auth_b, SECRET_B, vec_auth_a, SECRET_A) < 0);
}

static void test_request_recrypt_round_trip_rfc(void **state)
{
    (void)state;
    uint8_t pkt[sizeof(rfc_7_1_request)];
    memcpy(pkt, rfc_7_1_request, sizeof(pkt));
    assert_int_equal(
        rg_radius_request_recrypt(pkt, rfc_7_1_request + 4, RFC_SECRET, vec_auth_a, SECRET_A), 0);
    uint8_t plain[128];
    size_t plain_len;
    assert_int_equal(
        rg_radius_password_unhide(pkt + 28, 16, vec_auth_a, SECRET_A, plain, &plain_len), 0);
    assert_int_equal(plain_len, 10);
    assert_memory_equal(plain, "arctangent", 10);
}

/* ---------------------------------------------------------------- Message-Authenticator */

static void test_msgauth_request_own_authenticator(void **state)
{
    (void)state;
    assert_int_equal(rg_radius_msgauth_verify(vec_request_b, NULL, SECRET_B), 0);
    assert_int_equal(rg_radius_msgauth_verify(vec_request_b, vec_auth_b, SECRET_B), 0);
    assert_int_equal(rg_radius_msgauth_verify(vec_request_b, NULL, SECRET_A), -EBADMSG);
    assert_int_equal(rg_radius_msgauth_verify(vec_status_server_a, NULL, SECRET_A), 0);

    uint8_t pkt[sizeof(vec_request_b)];
    memcpy(pkt, vec_request_b, sizeof(pkt));
    memset(pkt + 22, 0xaa, 16);
    assert_int_equal(rg_radius_msgauth_sign(pkt, NULL, SECRET_B), 0);
    assert_memory_equal(pkt, vec_request_b, sizeof(pkt));
}

static void test_msgauth_detects_tampering(void **state)
{
    (void)state;
    uint8_t pkt[sizeof(vec_request_b)];
    for (size_t i = 0; i < sizeof(pkt); i++) {
        if (i == 2 || i == 3 || i == 20 || i == 21)
            continue; /* Length, the MA header: other checks catch those */
        memcpy(pkt, vec_request_b, sizeof(pkt));
        pkt[i] ^= 0x01;
        assert_int_equal(rg_radius_msgauth_verify(pkt, NULL, SECRET_B), -EBADMSG);
    }
    /* A reply verified against the wrong request authenticator. */
    assert_int_equal(rg_radius_msgauth_verify(vec_accept_a, vec_auth_b, SECRET_A), -EBADMSG);
    assert_int_equal(rg_radius_msgauth_verify(vec_accept_a, NULL, SECRET_A), -EBADMSG);
}

static void test_msgauth_absent_duplicate_bad_length(void **state)
{
    (void)state;
    assert_int_equal(rg_radius_msgauth_verify(rfc_7_1_accept, rfc_7_1_request + 4, RFC_SECRET),
                     -ENOENT);
    uint8_t pkt[sizeof(rfc_7_1_accept)];
    memcpy(pkt, rfc_7_1_accept, sizeof(pkt));
    assert_int_equal(rg_radius_msgauth_sign(pkt, rfc_7_1_request + 4, RFC_SECRET), -ENOENT);

    uint8_t buf[128];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 1, vec_auth_a);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, "0123456789abcdef", 16);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, "0123456789abcdef", 16);
    assert_int_equal(rg_radius_msgauth_verify(buf, NULL, SECRET_A), -EINVAL);
    assert_int_equal(rg_radius_msgauth_sign(buf, NULL, SECRET_A), -EINVAL);

    rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 1, vec_auth_a);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, "0123456789", 10);
    assert_int_equal(rg_radius_msgauth_verify(buf, NULL, SECRET_A), -EINVAL);
    assert_int_equal(rg_radius_msgauth_sign(buf, NULL, SECRET_A), -EINVAL);
}

static void test_msgauth_add_first_then_sign_verify(void **state)
{
    (void)state;
    uint8_t buf[128];
    struct rg_radius_pkt p = {buf, sizeof(buf)};
    rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, 5, NULL);
    rg_radius_auth_random(buf);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "bob", 3);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, "0123456789abcdef", 16);
    rg_radius_attr_add(&p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, "0123456789", 10);
    assert_int_equal(rg_radius_msgauth_add_first(&p), 0);
    struct rg_radius_attr a;
    size_t pos = 0;
    assert_int_equal(rg_radius_attr_next(buf, &pos, &a), 1);
    assert_int_equal(a.type, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
    assert_int_equal(a.len, 18);
    assert_int_equal(rg_radius_attr_next(buf, &pos, &a), 1);
    assert_int_equal(a.type, RG_RADIUS_ATTR_USER_NAME);
    assert_int_equal(rg_radius_attr_next(buf, &pos, &a), 0); /* the old ones are gone */
    assert_int_equal(rg_radius_msgauth_sign(buf, NULL, SECRET_A), 0);
    assert_int_equal(rg_radius_msgauth_verify(buf, NULL, SECRET_A), 0);

    /* A reply: keyed to the request's authenticator, then the Response Authenticator. */
    uint8_t reply[64];
    struct rg_radius_pkt r = {reply, sizeof(reply)};
    rg_radius_init(&r, RG_RADIUS_ACCESS_ACCEPT, 5, NULL);
    assert_int_equal(rg_radius_msgauth_add_first(&r), 0);
    assert_int_equal(rg_radius_msgauth_sign(reply, buf + 4, SECRET_A), 0);
    rg_radius_auth_response_sign(reply, buf + 4, SECRET_A);
    assert_int_equal(rg_radius_msgauth_verify(reply, buf + 4, SECRET_A), 0);
    assert_int_equal(rg_radius_auth_response_verify(reply, buf + 4, SECRET_A), 0);
    reply[1] ^= 1;
    assert_int_equal(rg_radius_msgauth_verify(reply, buf + 4, SECRET_A), -EBADMSG);

    uint8_t tiny[20];
    struct rg_radius_pkt t = {tiny, sizeof(tiny)};
    rg_radius_init(&t, RG_RADIUS_ACCESS_REQUEST, 1, NULL);
    assert_int_equal(rg_radius_msgauth_add_first(&t), -ENOSPC);
}

/* ---------------------------------------------------------------- accounting and CoA */

/* Sign a request of code 4/40/43 from scratch the way a sender does, compare to vector. */
static void check_request_signing(const uint8_t *vec, size_t len)
{
    uint8_t pkt[256];
    memcpy(pkt, vec, len);
    struct rg_radius_attr ma;
    assert_int_equal(rg_radius_attr_find(pkt, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, NULL, &ma), 1);
    memset(pkt + 4, 0x55, 16); /* whatever was there is irrelevant */
    memset(pkt + ma.offset + 2, 0, 16);
    assert_int_equal(rg_radius_msgauth_sign(pkt, NULL, SECRET_A), 0);
    rg_radius_auth_request_sign(pkt, SECRET_A);
    assert_memory_equal(pkt, vec, len);
    assert_int_equal(rg_radius_auth_request_verify(pkt, SECRET_A), 0);
    assert_int_equal(rg_radius_msgauth_verify(pkt, NULL, SECRET_A), 0);
    assert_int_equal(rg_radius_auth_request_verify(pkt, SECRET_B), -EBADMSG);
    pkt[len - 1] ^= 0x80;
    assert_int_equal(rg_radius_auth_request_verify(pkt, SECRET_A), -EBADMSG);
    assert_int_equal(rg_radius_msgauth_verify(pkt, NULL, SECRET_A), -EBADMSG);
}

static void test_accounting_request_authenticator(void **state)
{
    (void)state;
    check_request_signing(vec_accounting_a, sizeof(vec_accounting_a));
    assert_int_equal(
        rg_radius_auth_response_verify(vec_accounting_response_a, vec_accounting_a + 4, SECRET_A),
        0);
}

static void test_coa_and_disconnect(void **state)
{
    (void)state;
    check_request_signing(vec_coa_request_a, sizeof(vec_coa_request_a));
    check_request_signing(vec_disconnect_request_a, sizeof(vec_disconnect_request_a));
    /* The CoA-ACK: Message-Authenticator and Response Authenticator keyed to the
     * CoA-Request's authenticator (RFC 5176 §3). */
    assert_int_equal(rg_radius_msgauth_verify(vec_coa_ack_a, vec_coa_request_a + 4, SECRET_A), 0);
    assert_int_equal(rg_radius_auth_response_verify(vec_coa_ack_a, vec_coa_request_a + 4, SECRET_A),
                     0);
    assert_int_equal(rg_radius_msgauth_verify(vec_coa_ack_a, NULL, SECRET_A), -EBADMSG);
}

static void test_auth_random(void **state)
{
    (void)state;
    uint8_t a[20] = {0}, b[20] = {0};
    rg_radius_auth_random(a);
    rg_radius_auth_random(b);
    assert_memory_not_equal(a + 4, b + 4, 16);
    static const uint8_t zero[4];
    assert_memory_equal(a, zero, 4); /* header untouched */
}

/* Many requests in a row, as the gateway makes them (the pool behind rg_random_bytes is
 * refilled as it runs out): no two Request Authenticators alike, and a forked child does
 * not repeat the bytes its parent hands out next. */
static void test_random_pool(void **state)
{
    (void)state;
    enum { N = 200 };
    static uint8_t auth[N][16];
    for (unsigned i = 0; i < N; i++) {
        uint8_t jitter[2];
        rg_random_bytes(auth[i], 16);
        rg_random_bytes(jitter, sizeof(jitter)); /* odd sizes shift the pool's cursor */
    }
    for (unsigned i = 0; i < N; i++)
        for (unsigned k = i + 1; k < N; k++)
            assert_memory_not_equal(auth[i], auth[k], 16);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t child[16];
        rg_random_bytes(child, sizeof(child));
        _exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
    }
    uint8_t parent[16], child[16];
    rg_random_bytes(parent, sizeof(parent));
    assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    close(fds[0]);
    close(fds[1]);
    assert_memory_not_equal(parent, child, 16);
}

/* Message-Authenticator = HMAC-MD5 over the packet with the value zeroed (RFC 3579 §3.2),
 * computed here with wolfCrypt's own HMAC, against the gateway's (keyed states kept per
 * secret): secrets shorter and longer than the MD5 block and the cache entry, more secrets
 * than the cache holds, each used again after others evicted it. */
static void test_msgauth_secrets(void **state)
{
    (void)state;
    static const size_t lens[] = {1, 6, 16, 16, 63, 64, 64, 65, 100, 128, 129, 200};
    char secrets[RG_ARRAY_SIZE(lens)][200];
    for (size_t s = 0; s < RG_ARRAY_SIZE(lens); s++)
        for (size_t i = 0; i < lens[s]; i++)
            secrets[s][i] = (char)('a' + (s * 7 + i * 13) % 26);
    for (int round = 0; round < 3; round++) {
        for (size_t s = 0; s < RG_ARRAY_SIZE(lens); s++) {
            uint8_t pkt[RG_RADIUS_MAX_LEN];
            struct rg_radius_pkt p = {.data = pkt, .cap = sizeof(pkt)};
            uint8_t auth[16];
            memset(auth, (int)(s + round), sizeof(auth));
            assert_int_equal(rg_radius_init(&p, RG_RADIUS_ACCESS_REQUEST, (uint8_t)s, auth), 0);
            assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_USER_NAME, "alice", 5), 0);
            assert_int_equal(rg_radius_msgauth_add_first(&p), 0);
            for (int k = 0; k < round * 4; k++) /* packets over one and several MD5 blocks */
                assert_int_equal(rg_radius_attr_add(&p, RG_RADIUS_ATTR_REPLY_MESSAGE,
                                                    "0123456789abcdef0123456789abcdef", 32),
                                 0);
            assert_int_equal(rg_radius_msgauth_sign(pkt, NULL, (rg_secret){secrets[s], lens[s]}),
                             0);

            size_t len = rg_radius_len(pkt);
            uint8_t zeroed[RG_RADIUS_MAX_LEN], want[16];
            memcpy(zeroed, pkt, len);
            memset(zeroed + RG_RADIUS_HDR_LEN + 2, 0, 16); /* the first attribute's value */
            Hmac h;
            assert_int_equal(wc_HmacInit(&h, NULL, INVALID_DEVID), 0);
            assert_int_equal(wc_HmacSetKey(&h, WC_MD5, (const byte *)secrets[s], (word32)lens[s]),
                             0);
            assert_int_equal(wc_HmacUpdate(&h, zeroed, (word32)len), 0);
            assert_int_equal(wc_HmacFinal(&h, want), 0);
            wc_HmacFree(&h);
            assert_memory_equal(pkt + RG_RADIUS_HDR_LEN + 2, want, 16);
            assert_int_equal(rg_radius_msgauth_verify(pkt, NULL, (rg_secret){secrets[s], lens[s]}),
                             0);
            /* one octet less of the secret is another key (for one octet: the empty key) */
            assert_int_equal(
                rg_radius_msgauth_verify(pkt, NULL, (rg_secret){secrets[s], lens[s] - 1}),
                -EBADMSG);
        }
    }
}

/* ---------------------------------------------------------------- radclient captures */

static int hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (; hex[0] && hex[1] && hex[0] != '\n'; hex += 2) {
        unsigned v;
        if (n >= cap || sscanf(hex, "%2x", &v) != 1)
            return -1;
        out[n++] = (uint8_t)v;
    }
    return (int)n;
}

static void test_radclient_captures(void **state)
{
    (void)state;
    FILE *f = fopen(RG_TEST_DIR "/vectors/radclient.txt", "r");
    assert_non_null(f);
    static const char secret[] = "testing123";
    char line[2048];
    int seen = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#')
            continue;
        char *sp = strchr(line, ' ');
        assert_non_null(sp);
        *sp = '\0';
        uint8_t pkt[RG_RADIUS_MAX_LEN];
        int len = hex_decode(sp + 1, pkt, sizeof(pkt));
        assert_true(len >= 20);
        assert_int_equal(rg_radius_validate(pkt, (size_t)len, NULL), 0);
        assert_int_equal(rg_radius_msgauth_verify(pkt, NULL, rg_secret_str(secret)), 0);
        seen++;
        if (strcmp(line, "access_request") == 0) {
            struct rg_radius_attr a;
            assert_int_equal(rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_PASSWORD, NULL, &a), 1);
            uint8_t plain[128];
            size_t plain_len;
            assert_int_equal(rg_radius_password_unhide(a.value, a.value_len, pkt + 4,
                                                       rg_secret_str(secret), plain, &plain_len),
                             0);
            assert_int_equal(plain_len, 18);
            assert_memory_equal(plain, "hello-radclient-pw", 18);
        } else if (strcmp(line, "status_server") != 0) {
            assert_int_equal(rg_radius_auth_request_verify(pkt, rg_secret_str(secret)), 0);
        }
    }
    fclose(f);
    assert_int_equal(seen, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc2865_7_1_password_hide),
        cmocka_unit_test(test_rfc2865_7_3_password_unhide),
        cmocka_unit_test(test_rfc2865_response_authenticators),
        cmocka_unit_test(test_response_authenticator_detects_tampering),
        cmocka_unit_test(test_password_vector_two_blocks),
        cmocka_unit_test(test_password_round_trip_all_lengths),
        cmocka_unit_test(test_password_bounds),
        cmocka_unit_test(test_tunnel_password_vector),
        cmocka_unit_test(test_mppe_send_recv_key_vectors),
        cmocka_unit_test(test_salted_round_trip_all_lengths),
        cmocka_unit_test(test_salted_bounds),
        cmocka_unit_test(test_salted_length_octet_too_large),
        cmocka_unit_test(test_salt_new),
        cmocka_unit_test(test_mppe_keys_vector),
        cmocka_unit_test(test_vector_accept_signed),
        cmocka_unit_test(test_reply_recrypt_known_answer),
        cmocka_unit_test(test_reply_recrypt_round_trip),
        cmocka_unit_test(test_reply_recrypt_without_hidden_attributes),
        cmocka_unit_test(test_reply_recrypt_malformed_tunnel_password),
        cmocka_unit_test(test_reply_recrypt_malformed_microsoft),
        cmocka_unit_test(test_request_recrypt_known_answer),
        cmocka_unit_test(test_request_recrypt_absent_and_malformed),
        cmocka_unit_test(test_request_recrypt_round_trip_rfc),
        cmocka_unit_test(test_msgauth_request_own_authenticator),
        cmocka_unit_test(test_msgauth_detects_tampering),
        cmocka_unit_test(test_msgauth_absent_duplicate_bad_length),
        cmocka_unit_test(test_msgauth_add_first_then_sign_verify),
        cmocka_unit_test(test_accounting_request_authenticator),
        cmocka_unit_test(test_coa_and_disconnect),
        cmocka_unit_test(test_auth_random),
        cmocka_unit_test(test_random_pool),
        cmocka_unit_test(test_msgauth_secrets),
        cmocka_unit_test(test_radclient_captures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
