/* RADIUS packet codec: validation, attribute walk/find (top level, Vendor-Specific, RFC 6929
 * extended), in-place building and rewriting in caller-owned buffers.
 * No I/O and no cryptography (radius_crypto.c hides and signs). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "radsecgw/log.h"
#include "radsecgw/radius.h"

#define ATTR_HDR_LEN 2
#define ATTR_MAX_LEN 255 /* RFC 2865 §5: the Length octet covers type, length and value */
#define VSA_HDR_LEN  4   /* RFC 2865 §5.26: Vendor-Id */
#define VSA_SUB_HDR  2   /* Vendor-Type, Vendor-Length */
_Static_assert(VSA_SUB_HDR == ATTR_HDR_LEN, "tlv_at reads both with one header length");
#define EXT_HDR_LEN  1 /* RFC 6929 §2.1: Extended-Type */
#define LONG_HDR_LEN 2 /* RFC 6929 §2.2: Extended-Type, flags */

static const char *reason_text(enum rg_radius_reason reason)
{
    switch (reason) {
    case RG_RADIUS_OK:
        return "no error";
    case RG_RADIUS_ERR_SHORT:
        return "packet shorter than the 20-octet header";
    case RG_RADIUS_ERR_LENGTH_FIELD:
        return "Length field outside 20..4096";
    case RG_RADIUS_ERR_TRUNCATED:
        return "packet shorter than its Length field";
    case RG_RADIUS_ERR_ATTR_HEADER:
        return "header truncated";
    case RG_RADIUS_ERR_ATTR_LENGTH:
        return "has length below 2";
    case RG_RADIUS_ERR_ATTR_OVERRUN:
        return "overruns packet";
    case RG_RADIUS_ERR_UNKNOWN_CODE:
        return "unknown packet code";
    case RG_RADIUS_ERR_NO_SPACE:
        return "no space for attribute";
    case RG_RADIUS_ERR_NOT_FOUND:
        return "not found";
    case RG_RADIUS_ERR_BAD_VALUE:
        return "has a malformed value";
    }
    return "unknown error";
}

const char *rg_radius_error_str(const struct rg_radius_error *err, char *buf, size_t buflen)
{
    if (!buf || buflen == 0)
        return "";
    if (!err) {
        snprintf(buf, buflen, "no error");
        return buf;
    }
    switch (err->reason) {
    case RG_RADIUS_ERR_ATTR_HEADER:
    case RG_RADIUS_ERR_ATTR_LENGTH:
    case RG_RADIUS_ERR_ATTR_OVERRUN:
    case RG_RADIUS_ERR_BAD_VALUE:
    case RG_RADIUS_ERR_NOT_FOUND:
        snprintf(buf, buflen, "attribute %u %s at offset %zu", err->attr_type,
                 reason_text(err->reason), err->offset);
        break;
    case RG_RADIUS_OK:
        snprintf(buf, buflen, "%s", reason_text(err->reason));
        break;
    default:
        snprintf(buf, buflen, "%s at offset %zu", reason_text(err->reason), err->offset);
        break;
    }
    return buf;
}

long rg_radius_frame_len(const uint8_t *buf, size_t avail)
{
    if (avail < 4)
        return 0;
    /* RFC 6613 §2.6.4: a Length outside 20..4096 cannot be resynchronised: close. */
    unsigned len = rg_radius_len(buf);
    if (len < RG_RADIUS_MIN_LEN || len > RG_RADIUS_MAX_LEN)
        return -1;
    return (long)len;
}

static int fail(struct rg_radius_error *err, enum rg_radius_reason reason, size_t offset,
                unsigned attr_type)
{
    if (err) {
        err->reason = reason;
        err->offset = offset;
        err->attr_type = attr_type;
    }
    return -EBADMSG;
}

int rg_radius_validate(const uint8_t *pkt, size_t len, struct rg_radius_error *err)
{
    if (!pkt || len < RG_RADIUS_HDR_LEN)
        return fail(err, RG_RADIUS_ERR_SHORT, 0, 0);
    size_t plen = rg_radius_len(pkt);
    /* RFC 2865 §3: minimum 20, maximum 4096 (RFC 6613 §2.6.4 keeps the limit on TCP). */
    if (plen < RG_RADIUS_MIN_LEN || plen > RG_RADIUS_MAX_LEN)
        return fail(err, RG_RADIUS_ERR_LENGTH_FIELD, 2, 0);
    /* RFC 2865 §3: fewer octets than Length MUST be silently discarded; extra ones are
     * padding and ignored. */
    if (plen > len)
        return fail(err, RG_RADIUS_ERR_TRUNCATED, len, 0);

    size_t off = RG_RADIUS_HDR_LEN;
    while (off < plen) {
        if (plen - off < ATTR_HDR_LEN)
            return fail(err, RG_RADIUS_ERR_ATTR_HEADER, off, pkt[off]);
        uint8_t alen = pkt[off + 1];
        /* RFC 2865 §5: Length covers type and length octets, so it is at least 2. */
        if (alen < ATTR_HDR_LEN)
            return fail(err, RG_RADIUS_ERR_ATTR_LENGTH, off, pkt[off]);
        if (alen > plen - off)
            return fail(err, RG_RADIUS_ERR_ATTR_OVERRUN, off, pkt[off]);
        off += alen;
    }
    if (err) {
        err->reason = RG_RADIUS_OK;
        err->offset = 0;
        err->attr_type = 0;
    }
    return 0;
}

/* A type/length/value item at off if it lies fully inside [off, end): attributes and
 * VSA sub-attributes share this layout (2-octet header). */
static int tlv_at(const uint8_t *pkt, size_t off, size_t end, struct rg_radius_attr *a)
{
    if (off >= end || end - off < ATTR_HDR_LEN)
        return 0;
    uint8_t len = pkt[off + 1];
    if (len < ATTR_HDR_LEN || len > end - off)
        return 0;
    a->type = pkt[off];
    a->len = len;
    a->offset = off;
    a->value = pkt + off + ATTR_HDR_LEN;
    a->value_len = len - ATTR_HDR_LEN;
    return 1;
}

/* Attribute at off if it lies fully inside the packet's Length; the walkers below stay
 * in bounds even on a packet that was never validated. */
static int attr_at(const uint8_t *pkt, size_t off, struct rg_radius_attr *a)
{
    return off >= RG_RADIUS_HDR_LEN && tlv_at(pkt, off, rg_radius_len(pkt), a);
}

int rg_radius_attr_next(const uint8_t *pkt, size_t *pos, struct rg_radius_attr *a)
{
    size_t off = *pos < RG_RADIUS_HDR_LEN ? RG_RADIUS_HDR_LEN : *pos;
    if (!attr_at(pkt, off, a))
        return 0;
    *pos = off + a->len;
    return 1;
}

int rg_radius_attr_find(const uint8_t *pkt, uint8_t type, size_t *pos, struct rg_radius_attr *a)
{
    size_t cursor = pos ? *pos : 0;
    while (rg_radius_attr_next(pkt, &cursor, a)) {
        if (a->type == type) {
            if (pos)
                *pos = cursor;
            return 1;
        }
    }
    if (pos)
        *pos = cursor;
    return 0;
}

/* Walk the sub-attributes of one VSA (RFC 2865 §5.26 recommended format). *sub is the
 * packet offset of the next sub-attribute; 0 at the end or if the layout is broken. */
static int vsa_sub_next(const uint8_t *pkt, const struct rg_radius_attr *vsa, size_t *sub,
                        struct rg_radius_attr *a)
{
    /* RFC 2865 §5.26: Vendor-Type and Vendor-Length, the same layout as an attribute. */
    if (!tlv_at(pkt, *sub, vsa->offset + vsa->len, a))
        return 0;
    *sub += a->len;
    return 1;
}

static uint32_t vsa_vendor(const struct rg_radius_attr *vsa)
{
    const uint8_t *v = vsa->value;
    return (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
}

int rg_radius_vsa_find(const uint8_t *pkt, uint32_t vendor_id, uint8_t vtype, size_t *pos,
                       struct rg_radius_attr *a)
{
    /* *pos is the packet offset just past the previous hit; sub-attributes live inside
     * their VSA, so walk from the top and skip everything before it. */
    size_t from = pos ? *pos : 0;
    size_t cursor = 0;
    struct rg_radius_attr vsa;
    while (rg_radius_attr_find(pkt, RG_RADIUS_ATTR_VENDOR_SPECIFIC, &cursor, &vsa)) {
        if (cursor <= from || vsa.value_len < VSA_HDR_LEN || vsa_vendor(&vsa) != vendor_id)
            continue;
        size_t sub = vsa.offset + ATTR_HDR_LEN + VSA_HDR_LEN;
        struct rg_radius_attr s;
        while (vsa_sub_next(pkt, &vsa, &sub, &s)) {
            if (s.offset < from || s.type != vtype)
                continue;
            *a = s;
            if (pos)
                *pos = sub;
            return 1;
        }
    }
    return 0;
}

int rg_radius_ext_find(const uint8_t *pkt, uint8_t type, uint8_t ext_type, size_t *pos,
                       struct rg_radius_attr *a)
{
    /* RFC 6929 §2.1 (241..244): Extended-Type, then value. §2.2 (245..246): Extended-Type,
     * flags (M bit: more fragments follow), then value. Fragments are not joined here. */
    size_t hdr;
    if (type >= RG_RADIUS_ATTR_EXTENDED_1 && type <= RG_RADIUS_ATTR_EXTENDED_4)
        hdr = EXT_HDR_LEN;
    else if (type == RG_RADIUS_ATTR_LONG_EXTENDED_1 || type == RG_RADIUS_ATTR_LONG_EXTENDED_2)
        hdr = LONG_HDR_LEN;
    else
        return 0;
    size_t cursor = pos ? *pos : 0;
    struct rg_radius_attr e;
    while (rg_radius_attr_find(pkt, type, &cursor, &e)) {
        if (e.value_len < hdr || e.value[0] != ext_type)
            continue;
        *a = e;
        a->value = e.value + hdr;
        a->value_len = e.value_len - hdr;
        if (pos)
            *pos = cursor;
        return 1;
    }
    if (pos)
        *pos = cursor;
    return 0;
}

/* Usable size of a packet buffer: RFC 2865 §3 caps packets at 4096 octets. */
static size_t pkt_limit(const struct rg_radius_pkt *p)
{
    return p->cap < RG_RADIUS_MAX_LEN ? p->cap : RG_RADIUS_MAX_LEN;
}

/* Current Length, or 0 if the header does not describe a packet that fits the buffer. */
static size_t pkt_len(const struct rg_radius_pkt *p)
{
    if (!p || !p->data || p->cap < RG_RADIUS_HDR_LEN)
        return 0;
    size_t len = rg_radius_len(p->data);
    if (len < RG_RADIUS_HDR_LEN || len > pkt_limit(p))
        return 0;
    return len;
}

/* Open a gap of n octets at off (off <= Length) and grow Length. */
static int make_room(struct rg_radius_pkt *p, size_t off, size_t n)
{
    size_t len = pkt_len(p);
    if (!len || off > len)
        return -EINVAL;
    if (n > pkt_limit(p) - len)
        return -ENOSPC;
    memmove(p->data + off + n, p->data + off, len - off);
    rg_radius_set_len(p->data, (uint16_t)(len + n));
    return 0;
}

/* Close a gap of n octets at off and shrink Length. */
static void close_gap(struct rg_radius_pkt *p, size_t off, size_t n)
{
    size_t len = rg_radius_len(p->data);
    memmove(p->data + off, p->data + off + n, len - off - n);
    rg_radius_set_len(p->data, (uint16_t)(len - n));
}

static int insert_attr(struct rg_radius_pkt *p, size_t off, uint8_t type, const void *value,
                       size_t len)
{
    if (len > ATTR_MAX_LEN - ATTR_HDR_LEN || (len && !value))
        return -EINVAL;
    int rc = make_room(p, off, ATTR_HDR_LEN + len);
    if (rc)
        return rc;
    p->data[off] = type;
    p->data[off + 1] = (uint8_t)(ATTR_HDR_LEN + len);
    if (len)
        memcpy(p->data + off + ATTR_HDR_LEN, value, len);
    return 0;
}

int rg_radius_attr_add(struct rg_radius_pkt *p, uint8_t type, const void *value, size_t len)
{
    size_t plen = pkt_len(p);
    if (!plen)
        return -EINVAL;
    return insert_attr(p, plen, type, value, len);
}

int rg_radius_attr_insert_first(struct rg_radius_pkt *p, uint8_t type, const void *value,
                                size_t len)
{
    return insert_attr(p, RG_RADIUS_HDR_LEN, type, value, len);
}

int rg_radius_vsa_add(struct rg_radius_pkt *p, uint32_t vendor_id, uint8_t vtype, const void *value,
                      size_t len)
{
    uint8_t buf[ATTR_MAX_LEN - ATTR_HDR_LEN];
    if (len > sizeof(buf) - VSA_HDR_LEN - VSA_SUB_HDR || (len && !value))
        return -EINVAL;
    buf[0] = (uint8_t)(vendor_id >> 24);
    buf[1] = (uint8_t)(vendor_id >> 16);
    buf[2] = (uint8_t)(vendor_id >> 8);
    buf[3] = (uint8_t)vendor_id;
    buf[4] = vtype;
    buf[5] = (uint8_t)(VSA_SUB_HDR + len);
    if (len)
        memcpy(buf + VSA_HDR_LEN + VSA_SUB_HDR, value, len);
    return rg_radius_attr_add(p, RG_RADIUS_ATTR_VENDOR_SPECIFIC, buf,
                              VSA_HDR_LEN + VSA_SUB_HDR + len);
}

/* Top-level attribute that starts exactly at offset, found by walking (an offset from a
 * caller is not trusted to sit on an attribute boundary). */
static int attr_lookup(const uint8_t *pkt, size_t offset, struct rg_radius_attr *a)
{
    size_t cursor = 0;
    while (rg_radius_attr_next(pkt, &cursor, a)) {
        if (a->offset == offset)
            return 1;
        if (a->offset > offset)
            return 0;
    }
    return 0;
}

int rg_radius_attr_remove(struct rg_radius_pkt *p, size_t offset)
{
    struct rg_radius_attr a;
    if (!pkt_len(p) || !attr_lookup(p->data, offset, &a))
        return -EINVAL;
    close_gap(p, a.offset, a.len);
    return 0;
}

int rg_radius_attr_remove_all(struct rg_radius_pkt *p, uint8_t type)
{
    if (!pkt_len(p))
        return -EINVAL;
    int removed = 0;
    size_t cursor = 0;
    struct rg_radius_attr a;
    while (rg_radius_attr_next(p->data, &cursor, &a)) {
        if (a.type != type)
            continue;
        close_gap(p, a.offset, a.len);
        cursor = a.offset; /* the next attribute moved into its place */
        removed++;
    }
    return removed;
}

/* Resize the len-octet value at val_off from old_len to new_len octets; the Length octets
 * at len_offs[] (the attribute, and the enclosing VSA for a sub-attribute) follow. */
static int resize_value(struct rg_radius_pkt *p, size_t val_off, size_t old_len, const void *value,
                        size_t new_len, const size_t *len_offs, size_t n_offs)
{
    for (size_t i = 0; i < n_offs; i++) {
        size_t cur = p->data[len_offs[i]];
        if (cur - old_len + new_len > ATTR_MAX_LEN)
            return -EINVAL;
    }
    if (new_len > old_len) {
        int rc = make_room(p, val_off + old_len, new_len - old_len);
        if (rc)
            return rc;
    } else if (new_len < old_len) {
        close_gap(p, val_off + new_len, old_len - new_len);
    }
    if (new_len)
        memmove(p->data + val_off, value, new_len);
    for (size_t i = 0; i < n_offs; i++)
        p->data[len_offs[i]] = (uint8_t)(p->data[len_offs[i]] - old_len + new_len);
    return 0;
}

int rg_radius_attr_replace(struct rg_radius_pkt *p, size_t offset, const void *value, size_t len)
{
    if (!pkt_len(p) || (len && !value) || len > ATTR_MAX_LEN)
        return -EINVAL;
    /* The new value may alias the packet (e.g. a value copied from elsewhere in it); take a
     * copy so moving the tail cannot change it under us. */
    uint8_t copy[ATTR_MAX_LEN];
    if (len)
        memcpy(copy, value, len);

    size_t cursor = 0;
    struct rg_radius_attr a;
    while (rg_radius_attr_next(p->data, &cursor, &a)) {
        if (a.offset == offset) {
            size_t offs[1] = {a.offset + 1};
            return resize_value(p, a.offset + ATTR_HDR_LEN, a.value_len, copy, len, offs, 1);
        }
        if (a.type != RG_RADIUS_ATTR_VENDOR_SPECIFIC || offset <= a.offset ||
            offset >= a.offset + a.len || a.value_len < VSA_HDR_LEN)
            continue;
        /* RFC 2865 §5.26: a sub-attribute inside this VSA; both Length octets change. */
        size_t sub = a.offset + ATTR_HDR_LEN + VSA_HDR_LEN;
        struct rg_radius_attr s;
        while (vsa_sub_next(p->data, &a, &sub, &s)) {
            if (s.offset != offset)
                continue;
            size_t offs[2] = {a.offset + 1, s.offset + 1};
            return resize_value(p, s.offset + VSA_SUB_HDR, s.value_len, copy, len, offs, 2);
        }
        return -EINVAL;
    }
    return -EINVAL;
}

int rg_radius_init(struct rg_radius_pkt *p, uint8_t code, uint8_t id, const uint8_t *auth)
{
    if (!p || !p->data)
        return -EINVAL;
    if (p->cap < RG_RADIUS_HDR_LEN)
        return -ENOSPC;
    p->data[0] = code;
    p->data[1] = id;
    rg_radius_set_len(p->data, RG_RADIUS_HDR_LEN);
    if (auth)
        memcpy(p->data + 4, auth, RG_RADIUS_AUTH_LEN);
    else
        memset(p->data + 4, 0, RG_RADIUS_AUTH_LEN);
    return 0;
}

const char *rg_radius_code_name(unsigned code)
{
    switch (code) {
    case RG_RADIUS_ACCESS_REQUEST:
        return "Access-Request";
    case RG_RADIUS_ACCESS_ACCEPT:
        return "Access-Accept";
    case RG_RADIUS_ACCESS_REJECT:
        return "Access-Reject";
    case RG_RADIUS_ACCOUNTING_REQUEST:
        return "Accounting-Request";
    case RG_RADIUS_ACCOUNTING_RESPONSE:
        return "Accounting-Response";
    case RG_RADIUS_ACCESS_CHALLENGE:
        return "Access-Challenge";
    case RG_RADIUS_STATUS_SERVER:
        return "Status-Server";
    case RG_RADIUS_STATUS_CLIENT:
        return "Status-Client";
    case RG_RADIUS_DISCONNECT_REQUEST:
        return "Disconnect-Request";
    case RG_RADIUS_DISCONNECT_ACK:
        return "Disconnect-ACK";
    case RG_RADIUS_DISCONNECT_NAK:
        return "Disconnect-NAK";
    case RG_RADIUS_COA_REQUEST:
        return "CoA-Request";
    case RG_RADIUS_COA_ACK:
        return "CoA-ACK";
    case RG_RADIUS_COA_NAK:
        return "CoA-NAK";
    }
    /* Workers log from their own threads: one buffer per thread. */
    static __thread char unknown[16];
    snprintf(unknown, sizeof(unknown), "Code-%u", code);
    return unknown;
}

int rg_radius_attr_string(const uint8_t *pkt, uint8_t type, char *out, size_t outlen)
{
    struct rg_radius_attr a;
    int found = rg_radius_attr_find(pkt, type, NULL, &a);
    if (!out || outlen == 0)
        return found;
    rg_log_escape(found ? a.value : NULL, found ? a.value_len : 0, out, outlen);
    return found;
}
