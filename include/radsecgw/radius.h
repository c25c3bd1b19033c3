/* RADIUS packet codec: parse/validate, attribute walk, find, add, remove, rewrite,
 * including Vendor-Specific (RFC 2865 §5.26) and RFC 6929 extended attributes.
 * Pure: no I/O, no crypto (see radius_crypto.h). Packets live in caller buffers. */
#ifndef RADSECGW_RADIUS_H
#define RADSECGW_RADIUS_H

#include <stddef.h>
#include <stdint.h>

#define RG_RADIUS_HDR_LEN  20
#define RG_RADIUS_AUTH_LEN 16
#define RG_RADIUS_MAX_LEN  4096 /* RFC 2865 §3, RFC 6613 §2.6.4 */
#define RG_RADIUS_MIN_LEN  20

/* Packet codes (RFC 2865 §3, RFC 2866, RFC 5997, RFC 5176). */
enum rg_radius_code {
    RG_RADIUS_ACCESS_REQUEST = 1,
    RG_RADIUS_ACCESS_ACCEPT = 2,
    RG_RADIUS_ACCESS_REJECT = 3,
    RG_RADIUS_ACCOUNTING_REQUEST = 4,
    RG_RADIUS_ACCOUNTING_RESPONSE = 5,
    RG_RADIUS_ACCESS_CHALLENGE = 11,
    RG_RADIUS_STATUS_SERVER = 12,
    RG_RADIUS_STATUS_CLIENT = 13,
    RG_RADIUS_DISCONNECT_REQUEST = 40,
    RG_RADIUS_DISCONNECT_ACK = 41,
    RG_RADIUS_DISCONNECT_NAK = 42,
    RG_RADIUS_COA_REQUEST = 43,
    RG_RADIUS_COA_ACK = 44,
    RG_RADIUS_COA_NAK = 45,
};

/* Attributes the gateway touches. */
enum rg_radius_attr_type {
    RG_RADIUS_ATTR_USER_NAME = 1,
    RG_RADIUS_ATTR_USER_PASSWORD = 2,
    RG_RADIUS_ATTR_CHAP_PASSWORD = 3,
    RG_RADIUS_ATTR_NAS_IP_ADDRESS = 4,
    RG_RADIUS_ATTR_NAS_PORT = 5,
    RG_RADIUS_ATTR_SERVICE_TYPE = 6,
    RG_RADIUS_ATTR_REPLY_MESSAGE = 18,
    RG_RADIUS_ATTR_STATE = 24,
    RG_RADIUS_ATTR_CLASS = 25,
    RG_RADIUS_ATTR_VENDOR_SPECIFIC = 26,
    RG_RADIUS_ATTR_CALLED_STATION_ID = 30,
    RG_RADIUS_ATTR_CALLING_STATION_ID = 31,
    RG_RADIUS_ATTR_NAS_IDENTIFIER = 32,
    RG_RADIUS_ATTR_PROXY_STATE = 33,
    RG_RADIUS_ATTR_ACCT_STATUS_TYPE = 40,
    RG_RADIUS_ATTR_ACCT_SESSION_ID = 44,
    RG_RADIUS_ATTR_EVENT_TIMESTAMP = 55,
    RG_RADIUS_ATTR_CHAP_CHALLENGE = 60,
    RG_RADIUS_ATTR_NAS_PORT_TYPE = 61,
    RG_RADIUS_ATTR_TUNNEL_PASSWORD = 69,
    RG_RADIUS_ATTR_EAP_MESSAGE = 79,
    RG_RADIUS_ATTR_MESSAGE_AUTHENTICATOR = 80,
    RG_RADIUS_ATTR_NAS_IPV6_ADDRESS = 95,
    RG_RADIUS_ATTR_ERROR_CAUSE = 101,
    RG_RADIUS_ATTR_OPERATOR_NAS_IDENTIFIER = 126,
    RG_RADIUS_ATTR_EXTENDED_1 = 241, /* RFC 6929 §2.1: 241..244 Extended-Type */
    RG_RADIUS_ATTR_EXTENDED_4 = 244,
    RG_RADIUS_ATTR_LONG_EXTENDED_1 = 245, /* RFC 6929 §2.2: 245..246 Long-Extended-Type */
    RG_RADIUS_ATTR_LONG_EXTENDED_2 = 246,
};

#define RG_RADIUS_VENDOR_MICROSOFT  311
#define RG_RADIUS_MS_CHAP_MPPE_KEYS 12 /* RFC 2548 §2.4.1 */
#define RG_RADIUS_MS_MPPE_SEND_KEY  16 /* RFC 2548 §2.4.2 */
#define RG_RADIUS_MS_MPPE_RECV_KEY  17 /* RFC 2548 §2.4.3 */

/* Why a packet was rejected; with offset and attribute type for the log line. */
enum rg_radius_reason {
    RG_RADIUS_OK = 0,
    RG_RADIUS_ERR_SHORT,        /* fewer than 20 octets available */
    RG_RADIUS_ERR_LENGTH_FIELD, /* Length field below 20 or above 4096 */
    RG_RADIUS_ERR_TRUNCATED,    /* fewer octets than the Length field says */
    RG_RADIUS_ERR_ATTR_HEADER,  /* attribute header overruns the packet */
    RG_RADIUS_ERR_ATTR_LENGTH,  /* attribute length 0 or 1 */
    RG_RADIUS_ERR_ATTR_OVERRUN, /* attribute runs past the end of the packet */
    RG_RADIUS_ERR_UNKNOWN_CODE, /* code the gateway does not handle */
    RG_RADIUS_ERR_NO_SPACE,     /* building: the packet would exceed its buffer or 4096 */
    RG_RADIUS_ERR_NOT_FOUND,    /* attribute lookup found nothing */
    RG_RADIUS_ERR_BAD_VALUE,    /* attribute value malformed for its type */
};

struct rg_radius_error {
    enum rg_radius_reason reason;
    size_t offset;      /* octet offset in the packet where the problem is */
    unsigned attr_type; /* attribute type at that offset, 0 if none */
};

/* Fill buf with "attribute 26 overruns packet at offset 88" style text; returns buf. */
const char *rg_radius_error_str(const struct rg_radius_error *err, char *buf, size_t buflen);

/* Stream framing (RFC 6613 §2.6.4): with avail octets buffered, returns the length of the
 * next packet if the header is there (may exceed avail: wait for more), 0 if fewer than
 * 4 octets are buffered, or -1 if the Length field is outside 20..4096 (close the stream). */
long rg_radius_frame_len(const uint8_t *buf, size_t avail);

/* Validate a whole packet: 20 <= Length <= 4096, Length <= len (octets past Length are
 * ignored per RFC 2865 §3 but the stream framer never passes them), attributes exactly fill
 * it, no attribute of length 0 or 1. Does not check the code (callers do). Returns 0 or
 * -EBADMSG with err (may be NULL) saying why and where. */
int rg_radius_validate(const uint8_t *pkt, size_t len, struct rg_radius_error *err);

static inline uint16_t rg_radius_len(const uint8_t *pkt)
{
    return (uint16_t)((pkt[2] << 8) | pkt[3]);
}
static inline void rg_radius_set_len(uint8_t *pkt, uint16_t len)
{
    pkt[2] = (uint8_t)(len >> 8);
    pkt[3] = (uint8_t)len;
}

/* A packet being read or built in a caller-owned buffer. */
struct rg_radius_pkt {
    uint8_t *data; /* not owned; at least cap octets */
    size_t cap;    /* capacity of data; packets never grow past min(cap, 4096) */
};

/* One attribute as seen by the walker. */
struct rg_radius_attr {
    uint8_t type;
    uint8_t len;          /* total length including the 2-octet header */
    size_t offset;        /* offset of the type octet in the packet */
    const uint8_t *value; /* points into the packet */
    size_t value_len;
};

/* Iterate attributes of a validated packet. *pos starts at 0; returns 1 and fills a while
 * there is one, 0 at the end. */
int rg_radius_attr_next(const uint8_t *pkt, size_t *pos, struct rg_radius_attr *a);

/* First attribute of type at or after *pos (pos may be NULL: from the start). Returns 1/0.
 * On a hit *pos moves past it, so repeated calls return repeated attributes in order. */
int rg_radius_attr_find(const uint8_t *pkt, uint8_t type, size_t *pos, struct rg_radius_attr *a);

/* Vendor-Specific sub-attribute (RFC 2865 §5.26 format: vendor id, then type/len/value).
 * Iterates every VSA of vendor_id with sub-type vtype; *pos starts at 0 (pos may be NULL:
 * the first one). On a hit a->offset is the sub-attribute's offset in the packet, a->value
 * its value. A sub-attribute overrunning its VSA ends the walk of that VSA. Returns 1/0. */
int rg_radius_vsa_find(const uint8_t *pkt, uint32_t vendor_id, uint8_t vtype, size_t *pos,
                       struct rg_radius_attr *a);

/* RFC 6929 extended attribute: type and extended type. 241..244 (§2.1): a->value follows
 * the Extended-Type octet; 245..246 (§2.2): a->value follows the flags octet (fragments are
 * not joined; the M bit is at a->offset + 3). Returns 1/0. */
int rg_radius_ext_find(const uint8_t *pkt, uint8_t type, uint8_t ext_type, size_t *pos,
                       struct rg_radius_attr *a);

/* Builders below return 0, -ENOSPC if the packet would outgrow min(cap, 4096) (nothing
 * changes then), or -EINVAL for a value over 253 octets or a Length field that does not
 * fit the buffer. */

/* Append an attribute at the end; updates Length. */
int rg_radius_attr_add(struct rg_radius_pkt *p, uint8_t type, const void *value, size_t len);

/* Insert an attribute right after the header (first position); updates Length. */
int rg_radius_attr_insert_first(struct rg_radius_pkt *p, uint8_t type, const void *value,
                                size_t len);

/* Append a Vendor-Specific attribute holding one sub-attribute. */
int rg_radius_vsa_add(struct rg_radius_pkt *p, uint32_t vendor_id, uint8_t vtype, const void *value,
                      size_t len);

/* Remove the attribute at offset (as given by the walker); updates Length. -EINVAL if no
 * top-level attribute starts there. */
int rg_radius_attr_remove(struct rg_radius_pkt *p, size_t offset);

/* Remove every attribute of type; returns how many were removed (or -EINVAL). */
int rg_radius_attr_remove_all(struct rg_radius_pkt *p, uint8_t type);

/* Replace the value of the attribute at offset (top-level attribute, or a VSA
 * sub-attribute offset from rg_radius_vsa_find, in which case the enclosing VSA length is
 * adjusted too); keeps the attribute's position. value may point into the packet.
 * -EINVAL if nothing starts at offset or an attribute would exceed 255 octets. */
int rg_radius_attr_replace(struct rg_radius_pkt *p, size_t offset, const void *value, size_t len);

/* Start a packet: code, id, authenticator (may be NULL: zeros), Length 20. */
int rg_radius_init(struct rg_radius_pkt *p, uint8_t code, uint8_t id, const uint8_t *auth);

/* Name of a code for logs ("Access-Request"), "Code-N" style for unknown ones (static). */
const char *rg_radius_code_name(unsigned code);

/* A string attribute as text for a log line (rg_log_escape: control characters, backslash
 * and invalid UTF-8 as \xNN, quotes escaped, cut with "..." to outlen), NUL-terminated.
 * Returns 1 when found, 0 when absent (out = ""). */
int rg_radius_attr_string(const uint8_t *pkt, uint8_t type, char *out, size_t outlen);

#endif
