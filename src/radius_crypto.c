/* RADIUS cryptography: Request/Response Authenticators, Message-Authenticator, and hiding of
 * User-Password, Tunnel-Password and Microsoft MPPE keys, plus re-encryption between secrets.
 * MD5 and HMAC-MD5 come from wolfCrypt; packet layout comes from radius.c. No I/O. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/md5.h>

#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/radius_crypto.h"

#define BLOCK         16  /* MD5 output; the hiding schemes work in 16-octet blocks */
#define SALT_LEN      2   /* RFC 2868 §3.5, RFC 2548 §2.4.2 */
#define SALTED_MAX    256 /* hidden part of a salted value: length octet + 253 + padding */
#define MSGAUTH_LEN   18  /* RFC 3579 §3.2: Length = 18 */
#define MPPE_KEYS_LEN 32  /* RFC 2548 §2.4.1: Vendor-Length = 34 */
#define VSA_HDR_LEN   4

struct part {
    const void *data;
    size_t len;
};

static void md5_parts(uint8_t out[BLOCK], const struct part *parts, size_t n)
{
    wc_Md5 md5;
    RG_REQUIRE(wc_InitMd5(&md5) == 0);
    for (size_t i = 0; i < n; i++)
        if (parts[i].len)
            RG_REQUIRE(wc_Md5Update(&md5, parts[i].data, (word32)parts[i].len) == 0);
    RG_REQUIRE(wc_Md5Final(&md5, out) == 0);
    wc_Md5Free(&md5);
}

/* HMAC-MD5 (RFC 2104) keyed by a RADIUS secret: MD5((K ^ opad) || MD5((K ^ ipad) || text)).
 * The two keyed MD5 states (one block each) depend on the secret alone, so each thread keeps
 * them for the last few secrets it used and every Message-Authenticator starts from copies:
 * two MD5 compressions and the key set-up fewer per packet (issue 14). Entries are found by
 * the secret's bytes, not by its address, so a config reload that frees a secret cannot
 * leave a stale key behind. Longer secrets than a cache entry holds are keyed each time. */
#define HMAC_BLOCK     64 /* MD5 block */
#define HMAC_KEYS      8  /* secrets per thread: RadSec secrets of the orgs and backends */
#define HMAC_KEY_CACHE 128

struct hmac_key {
    size_t len; /* 0: empty entry (an empty secret is never cached) */
    uint8_t secret[HMAC_KEY_CACHE];
    wc_Md5 inner; /* has absorbed K ^ ipad */
    wc_Md5 outer; /* has absorbed K ^ opad */
};

static __thread struct hmac_key hmac_keys[HMAC_KEYS];
static __thread unsigned hmac_keys_next;

static void hmac_key_init(struct hmac_key *e, const char *key, size_t key_len)
{
    uint8_t k[HMAC_BLOCK] = {0}, pad[HMAC_BLOCK];
    if (key_len > HMAC_BLOCK) {
        struct part whole = {key, key_len}; /* RFC 2104 §2: longer keys are hashed first */
        md5_parts(k, &whole, 1);
    } else if (key_len) {
        memcpy(k, key, key_len);
    }
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    RG_REQUIRE(wc_InitMd5(&e->inner) == 0);
    RG_REQUIRE(wc_Md5Update(&e->inner, pad, HMAC_BLOCK) == 0);
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    RG_REQUIRE(wc_InitMd5(&e->outer) == 0);
    RG_REQUIRE(wc_Md5Update(&e->outer, pad, HMAC_BLOCK) == 0);
    explicit_bzero(k, sizeof(k));
    explicit_bzero(pad, sizeof(pad));
}

/* The cached keyed states of a secret, made on first use; NULL for secrets too long to keep. */
static const struct hmac_key *hmac_key_get(const char *key, size_t key_len)
{
    if (key_len == 0 || key_len > HMAC_KEY_CACHE)
        return NULL;
    for (unsigned i = 0; i < HMAC_KEYS; i++)
        if (hmac_keys[i].len == key_len && memcmp(hmac_keys[i].secret, key, key_len) == 0)
            return &hmac_keys[i];
    struct hmac_key *e = &hmac_keys[hmac_keys_next++ % HMAC_KEYS];
    explicit_bzero(e, sizeof(*e));
    hmac_key_init(e, key, key_len);
    memcpy(e->secret, key, key_len);
    e->len = key_len;
    return e;
}

static void hmac_md5_parts(uint8_t out[BLOCK], const char *key, size_t key_len,
                           const struct part *parts, size_t n)
{
    struct hmac_key uncached;
    const struct hmac_key *e = hmac_key_get(key, key_len);
    if (!e) {
        hmac_key_init(&uncached, key, key_len);
        e = &uncached;
    }
    uint8_t inner[BLOCK];
    wc_Md5 md5;
    RG_REQUIRE(wc_Md5Copy((wc_Md5 *)&e->inner, &md5) == 0);
    for (size_t i = 0; i < n; i++)
        if (parts[i].len)
            RG_REQUIRE(wc_Md5Update(&md5, parts[i].data, (word32)parts[i].len) == 0);
    RG_REQUIRE(wc_Md5Final(&md5, inner) == 0);
    wc_Md5Free(&md5);
    RG_REQUIRE(wc_Md5Copy((wc_Md5 *)&e->outer, &md5) == 0);
    RG_REQUIRE(wc_Md5Update(&md5, inner, BLOCK) == 0);
    RG_REQUIRE(wc_Md5Final(&md5, out) == 0);
    wc_Md5Free(&md5);
    explicit_bzero(inner, sizeof(inner));
    if (e == &uncached)
        explicit_bzero(&uncached, sizeof(uncached));
}

/* The chained MD5 stream shared by every hiding scheme (RFC 2865 §5.2, RFC 2868 §3.5,
 * RFC 2548 §2.4.2): b(1) = MD5(S + seed), b(i) = MD5(S + c(i-1)), c(i) = p(i) xor b(i).
 * The seed is the Request Authenticator, followed by the salt for the salted schemes.
 * len is a multiple of 16; in and out may be the same buffer. */
static void hide_stream(const uint8_t *in, uint8_t *out, size_t len, const uint8_t *seed,
                        size_t seed_len, rg_secret secret, int unhide)
{
    uint8_t prev[BLOCK], b[BLOCK], c[BLOCK];
    const uint8_t *chain = seed;
    size_t chain_len = seed_len;
    for (size_t off = 0; off < len; off += BLOCK) {
        struct part parts[2] = {{secret.data, secret.len}, {chain, chain_len}};
        md5_parts(b, parts, 2);
        if (unhide)
            memcpy(c, in + off, BLOCK); /* ciphertext feeds the next block; out may alias */
        for (size_t i = 0; i < BLOCK; i++)
            out[off + i] = in[off + i] ^ b[i];
        if (!unhide)
            memcpy(c, out + off, BLOCK);
        memcpy(prev, c, BLOCK);
        chain = prev;
        chain_len = BLOCK;
    }
    explicit_bzero(b, sizeof(b));
}

void rg_radius_auth_random(uint8_t *pkt)
{
    rg_random_bytes(pkt + 4, RG_RADIUS_AUTH_LEN);
}

/* MD5(Code+ID+Length + auth + Attributes + Secret): RFC 2865 §3, RFC 2866 §3. */
static void packet_md5(uint8_t out[BLOCK], const uint8_t *pkt, const uint8_t *auth,
                       rg_secret secret)
{
    size_t len = rg_radius_len(pkt);
    RG_REQUIRE(len >= RG_RADIUS_HDR_LEN);
    struct part parts[4] = {
        {pkt, 4},
        {auth, RG_RADIUS_AUTH_LEN},
        {pkt + RG_RADIUS_HDR_LEN, len - RG_RADIUS_HDR_LEN},
        {secret.data, secret.len},
    };
    md5_parts(out, parts, 4);
}

static const uint8_t zero_auth[RG_RADIUS_AUTH_LEN];

void rg_radius_auth_request_sign(uint8_t *pkt, rg_secret secret)
{
    uint8_t digest[BLOCK];
    /* RFC 2866 §3, RFC 5176 §2.3: the authenticator field counts as 16 zero octets. */
    packet_md5(digest, pkt, zero_auth, secret);
    memcpy(pkt + 4, digest, BLOCK);
}

int rg_radius_auth_request_verify(const uint8_t *pkt, rg_secret secret)
{
    uint8_t digest[BLOCK];
    packet_md5(digest, pkt, zero_auth, secret);
    return rg_memcmp_ct(digest, pkt + 4, BLOCK) ? -EBADMSG : 0;
}

void rg_radius_auth_response_sign(uint8_t *reply, const uint8_t *request_auth, rg_secret secret)
{
    uint8_t digest[BLOCK];
    /* Hash first: request_auth may point into the reply's own authenticator field. */
    packet_md5(digest, reply, request_auth, secret);
    memcpy(reply + 4, digest, BLOCK);
}

int rg_radius_auth_response_verify(const uint8_t *reply, const uint8_t *request_auth,
                                   rg_secret secret)
{
    uint8_t digest[BLOCK];
    packet_md5(digest, reply, request_auth, secret);
    return rg_memcmp_ct(digest, reply + 4, BLOCK) ? -EBADMSG : 0;
}

/* Locate the Message-Authenticator: 0 and *a on exactly one of length 18, -ENOENT if
 * absent, -EINVAL if repeated or of the wrong length (RFC 3579 §3.2). */
static int msgauth_locate(const uint8_t *pkt, struct rg_radius_attr *a)
{
    struct rg_radius_attr cur;
    size_t pos = 0;
    int n = 0;
    while (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, &pos, &cur)) {
        if (n++ == 0)
            *a = cur;
    }
    if (n == 0)
        return -ENOENT;
    if (n > 1 || a->len != MSGAUTH_LEN)
        return -EINVAL;
    return 0;
}

static void msgauth_compute(uint8_t out[BLOCK], const uint8_t *pkt, const struct rg_radius_attr *a,
                            const uint8_t *request_auth, rg_secret secret)
{
    const uint8_t *auth = request_auth;
    if (!auth) {
        switch (pkt[0]) {
        case RG_RADIUS_ACCOUNTING_REQUEST:
        case RG_RADIUS_DISCONNECT_REQUEST:
        case RG_RADIUS_COA_REQUEST:
            /* RFC 3579 §3.2 / RFC 5176 §3: these requests compute the HMAC with 16 zero
             * octets in the authenticator field (the MD5 authenticator comes after). */
            auth = zero_auth;
            break;
        default:
            /* Access-Request, Status-Server: the packet's own Request Authenticator. */
            auth = pkt + 4;
            break;
        }
    }
    size_t len = rg_radius_len(pkt);
    size_t value_off = a->offset + 2;
    size_t after = value_off + BLOCK;
    struct part parts[5] = {
        {pkt, 4},
        {auth, RG_RADIUS_AUTH_LEN},
        {pkt + RG_RADIUS_HDR_LEN, value_off - RG_RADIUS_HDR_LEN},
        {zero_auth, BLOCK}, /* RFC 3579 §3.2: the value counts as 16 zero octets */
        {pkt + after, len - after},
    };
    hmac_md5_parts(out, secret.data, secret.len, parts, 5);
}

int rg_radius_msgauth_sign(uint8_t *pkt, const uint8_t *request_auth, rg_secret secret)
{
    struct rg_radius_attr a = {0}; /* gcc -O3 cannot see msgauth_locate sets it */
    int rc = msgauth_locate(pkt, &a);
    if (rc)
        return rc;
    uint8_t mac[BLOCK];
    msgauth_compute(mac, pkt, &a, request_auth, secret);
    memcpy(pkt + a.offset + 2, mac, BLOCK);
    return 0;
}

int rg_radius_msgauth_verify(const uint8_t *pkt, const uint8_t *request_auth, rg_secret secret)
{
    struct rg_radius_attr a = {0};
    int rc = msgauth_locate(pkt, &a);
    if (rc)
        return rc;
    uint8_t mac[BLOCK];
    msgauth_compute(mac, pkt, &a, request_auth, secret);
    return rg_memcmp_ct(mac, a.value, BLOCK) ? -EBADMSG : 0;
}

int rg_radius_msgauth_add_first(struct rg_radius_pkt *p)
{
    int rc = rg_radius_attr_remove_all(p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
    if (rc < 0)
        return rc;
    /* RFC 3579 §3.2 / BlastRADIUS guidance: first attribute, so a forged prefix cannot
     * precede it. */
    return rg_radius_attr_insert_first(p, RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR, zero_auth, BLOCK);
}

int rg_radius_password_hide(const uint8_t *plain, size_t plain_len, const uint8_t *auth,
                            rg_secret secret, uint8_t *out, size_t *out_len)
{
    /* RFC 2865 §5.2: 1..128 octets, padded with NULs to a multiple of 16. */
    if (!plain || !auth || !out || !out_len || plain_len < 1 || plain_len > RG_RADIUS_PASSWORD_MAX)
        return -EINVAL;
    uint8_t buf[RG_RADIUS_PASSWORD_MAX] = {0};
    size_t padded = (plain_len + BLOCK - 1) / BLOCK * BLOCK;
    memcpy(buf, plain, plain_len);
    hide_stream(buf, out, padded, auth, RG_RADIUS_AUTH_LEN, secret, 0);
    explicit_bzero(buf, sizeof(buf));
    *out_len = padded;
    return 0;
}

int rg_radius_password_unhide(const uint8_t *hidden, size_t hidden_len, const uint8_t *auth,
                              rg_secret secret, uint8_t *out, size_t *out_len)
{
    if (!hidden || !auth || !out || !out_len || hidden_len < BLOCK ||
        hidden_len > RG_RADIUS_PASSWORD_MAX || hidden_len % BLOCK)
        return -EINVAL;
    hide_stream(hidden, out, hidden_len, auth, RG_RADIUS_AUTH_LEN, secret, 1);
    size_t n = hidden_len;
    while (n > 0 && out[n - 1] == 0)
        n--;
    *out_len = n;
    return 0;
}

/* RFC 2868 §3.5 / RFC 2548 §2.4.2: b(1) = MD5(S + R + A), R the Request Authenticator and
 * A the salt. */
static void salted_stream(const uint8_t *in, uint8_t *out, size_t len, const uint8_t salt[2],
                          const uint8_t *auth, rg_secret secret, int unhide)
{
    uint8_t seed[RG_RADIUS_AUTH_LEN + SALT_LEN];
    memcpy(seed, auth, RG_RADIUS_AUTH_LEN);
    memcpy(seed + RG_RADIUS_AUTH_LEN, salt, SALT_LEN);
    hide_stream(in, out, len, seed, sizeof(seed), secret, unhide);
}

int rg_radius_salted_hide(const uint8_t *key, size_t key_len, const uint8_t salt[2],
                          const uint8_t *auth, rg_secret secret, uint8_t *out, size_t *out_len)
{
    /* The length octet counts the key; padding fills to 16 (RFC 2868 §3.5). The salt's
     * top bit MUST be set. */
    if ((key_len && !key) || !salt || !auth || !out || !out_len || key_len > SALTED_MAX - 3 ||
        !(salt[0] & 0x80))
        return -EINVAL;
    uint8_t buf[SALTED_MAX] = {0};
    size_t padded = (1 + key_len + BLOCK - 1) / BLOCK * BLOCK;
    buf[0] = (uint8_t)key_len;
    if (key_len)
        memcpy(buf + 1, key, key_len);
    uint8_t salt_copy[SALT_LEN] = {salt[0], salt[1]};
    salted_stream(buf, out + SALT_LEN, padded, salt_copy, auth, secret, 0);
    memcpy(out, salt_copy, SALT_LEN);
    explicit_bzero(buf, sizeof(buf));
    *out_len = SALT_LEN + padded;
    return 0;
}

/* Shape of a salted value: salt, then one or more 16-octet blocks. */
static int salted_len_ok(size_t in_len)
{
    return in_len >= SALT_LEN + BLOCK && in_len <= SALT_LEN + SALTED_MAX &&
           (in_len - SALT_LEN) % BLOCK == 0;
}

/* Decrypt the blocks of a salted value into plain (in_len - 2 octets) and check that the
 * length octet fits the data it heads. */
static int salted_open(const uint8_t *in, size_t in_len, const uint8_t *auth, rg_secret secret,
                       uint8_t *plain)
{
    size_t hidden_len = in_len - SALT_LEN;
    salted_stream(in + SALT_LEN, plain, hidden_len, in, auth, secret, 1);
    if ((size_t)plain[0] > hidden_len - 1)
        return -EBADMSG;
    return 0;
}

int rg_radius_salted_unhide(const uint8_t *in, size_t in_len, const uint8_t *auth, rg_secret secret,
                            uint8_t *key, size_t *key_len)
{
    if (!in || !auth || !key || !key_len || !salted_len_ok(in_len))
        return -EINVAL;
    uint8_t plain[SALTED_MAX];
    int rc = salted_open(in, in_len, auth, secret, plain);
    if (rc == 0) {
        memcpy(key, plain + 1, plain[0]);
        *key_len = plain[0];
    }
    explicit_bzero(plain, sizeof(plain));
    return rc;
}

void rg_radius_salt_new(uint8_t salt[2], unsigned *counter)
{
    /* RFC 2868 §3.5: top bit set, unique within the packet. A counter that starts at a
     * random point gives 32768 distinct salts in a row and differs between packets. */
    if (*counter == 0) {
        uint8_t r[2];
        rg_random_bytes(r, sizeof(r));
        *counter = ((unsigned)r[0] << 8 | r[1]) | 0x10000u;
    }
    unsigned v = *counter & 0x7fffu;
    salt[0] = (uint8_t)(0x80 | v >> 8);
    salt[1] = (uint8_t)v;
    (*counter)++;
    if (*counter == 0)
        *counter = 1;
}

int rg_radius_mppe_keys_hide(const uint8_t *plain, size_t len, const uint8_t *auth,
                             rg_secret secret, uint8_t *out, size_t *out_len)
{
    /* RFC 2548 §2.4.1: LM-Key(8) + NT-Key(16) + padding to 32, hidden like User-Password.
     * Shorter input (FreeRADIUS hands over the 24 key octets) is padded with zeros. */
    if (!plain || !auth || !out || !out_len || len < 1 || len > MPPE_KEYS_LEN)
        return -EINVAL;
    uint8_t buf[MPPE_KEYS_LEN] = {0};
    memcpy(buf, plain, len);
    hide_stream(buf, out, MPPE_KEYS_LEN, auth, RG_RADIUS_AUTH_LEN, secret, 0);
    explicit_bzero(buf, sizeof(buf));
    *out_len = MPPE_KEYS_LEN;
    return 0;
}

int rg_radius_mppe_keys_unhide(const uint8_t *hidden, size_t len, const uint8_t *auth,
                               rg_secret secret, uint8_t *out, size_t *out_len)
{
    /* Keys may end in zero octets: nothing is stripped. */
    if (!hidden || !auth || !out || !out_len || len != MPPE_KEYS_LEN)
        return -EINVAL;
    hide_stream(hidden, out, MPPE_KEYS_LEN, auth, RG_RADIUS_AUTH_LEN, secret, 1);
    *out_len = MPPE_KEYS_LEN;
    return 0;
}

struct recrypt {
    const uint8_t *from_auth;
    rg_secret from;
    const uint8_t *to_auth;
    rg_secret to;
    unsigned *salt_counter;
};

/* Salted value (salt + blocks) in place: the same plaintext blocks, including the length
 * octet and padding, under a fresh salt, the new authenticator and the new secret. */
static int recrypt_salted(uint8_t *value, size_t len, const struct recrypt *r)
{
    if (!salted_len_ok(len))
        return -EBADMSG;
    uint8_t plain[SALTED_MAX];
    int rc = salted_open(value, len, r->from_auth, r->from, plain);
    if (rc == 0) {
        uint8_t salt[SALT_LEN];
        rg_radius_salt_new(salt, r->salt_counter);
        salted_stream(plain, value + SALT_LEN, len - SALT_LEN, salt, r->to_auth, r->to, 0);
        memcpy(value, salt, SALT_LEN);
    }
    explicit_bzero(plain, sizeof(plain));
    return rc;
}

/* User-Password style value (RFC 2865 §5.2) in place. */
static void recrypt_blocks(uint8_t *value, size_t len, const uint8_t *from_auth, rg_secret from,
                           const uint8_t *to_auth, rg_secret to)
{
    uint8_t plain[RG_RADIUS_PASSWORD_MAX];
    hide_stream(value, plain, len, from_auth, RG_RADIUS_AUTH_LEN, from, 1);
    hide_stream(plain, value, len, to_auth, RG_RADIUS_AUTH_LEN, to, 0);
    explicit_bzero(plain, sizeof(plain));
}

/* Every sub-attribute of a Microsoft VSA (RFC 2548 §2: RFC 2865 §5.26 layout); a layout
 * that does not exactly fill the VSA is malformed, since a hidden key could hide in it. */
static int recrypt_microsoft(uint8_t *reply, const struct rg_radius_attr *vsa,
                             const struct recrypt *r)
{
    size_t off = vsa->offset + 2 + VSA_HDR_LEN;
    size_t end = vsa->offset + vsa->len;
    while (off < end) {
        if (end - off < 2 || reply[off + 1] < 2 || reply[off + 1] > end - off)
            return -EBADMSG;
        uint8_t vtype = reply[off];
        size_t vlen = reply[off + 1] - 2u;
        uint8_t *value = reply + off + 2;
        int rc = 0;
        switch (vtype) {
        case RG_RADIUS_MS_MPPE_SEND_KEY:
        case RG_RADIUS_MS_MPPE_RECV_KEY:
            rc = recrypt_salted(value, vlen, r);
            break;
        case RG_RADIUS_MS_CHAP_MPPE_KEYS:
            if (vlen != MPPE_KEYS_LEN)
                return -EBADMSG;
            recrypt_blocks(value, vlen, r->from_auth, r->from, r->to_auth, r->to);
            break;
        default:
            break;
        }
        if (rc)
            return rc;
        off += reply[off + 1];
    }
    return 0;
}

int rg_radius_reply_recrypt(uint8_t *reply, const uint8_t *from_auth, rg_secret from,
                            const uint8_t *to_auth, rg_secret to, unsigned *salt_counter)
{
    const struct recrypt r = {from_auth, from, to_auth, to, salt_counter};
    size_t pos = 0;
    struct rg_radius_attr a;
    while (rg_radius_attr_next(reply, &pos, &a)) {
        int rc = 0;
        if (a.type == RG_RADIUS_ATTR_TUNNEL_PASSWORD) {
            /* RFC 2868 §3.5: Tag, then the salted value; the tag stays as it is. */
            if (a.value_len < 1)
                return -EBADMSG;
            rc = recrypt_salted(reply + a.offset + 3, a.value_len - 1, &r);
        } else if (a.type == RG_RADIUS_ATTR_VENDOR_SPECIFIC && a.value_len >= VSA_HDR_LEN &&
                   a.value[0] == 0 && a.value[1] == 0 &&
                   a.value[2] == (RG_RADIUS_VENDOR_MICROSOFT >> 8) &&
                   a.value[3] == (RG_RADIUS_VENDOR_MICROSOFT & 0xff)) {
            rc = recrypt_microsoft(reply, &a, &r);
        }
        if (rc)
            return rc;
    }
    return 0;
}

int rg_radius_request_recrypt(uint8_t *pkt, const uint8_t *from_auth, rg_secret from,
                              const uint8_t *to_auth, rg_secret to)
{
    struct rg_radius_attr a, first;
    size_t pos = 0;
    int n = 0;
    while (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_USER_PASSWORD, &pos, &a)) {
        if (n++ == 0)
            first = a;
    }
    if (n == 0)
        return 0;
    /* RFC 2865 §5.44: at most one User-Password; §5.2: 16..128 octets in 16-octet blocks. */
    if (n > 1 || first.value_len < BLOCK || first.value_len > RG_RADIUS_PASSWORD_MAX ||
        first.value_len % BLOCK)
        return -EBADMSG;
    recrypt_blocks(pkt + first.offset + 2, first.value_len, from_auth, from, to_auth, to);
    return 0;
}
