/* PROXY protocol v2 (HAProxy's proxy-protocol.txt §2.2) on the listener: the bounded header
 * parser, the incremental reader a connection feeds before any TLS, who may send a header
 * (listen.proxy-from) and the aggregate counters of what was refused. Pure apart from the
 * counters: no sockets, no libuv. */
#ifndef RADSECGW_PROXY_PROTOCOL_H
#define RADSECGW_PROXY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "radsecgw/config.h"

#define RG_PP2_HDR_LEN 16 /* signature (12), version/command, family/protocol, length (2) */
/* Addresses of the largest family (AF_UNIX: 2 x 108) after the fixed part: what is kept.
 * TLVs past them are read and dropped. */
#define RG_PP2_KEEP_LEN (RG_PP2_HDR_LEN + 216)
/* A longer header (addresses plus TLVs) is refused: balancers send tens of octets. */
#define RG_PP2_MAX_LEN (RG_PP2_HDR_LEN + 1024)

struct rg_pp2_header {
    bool local;                  /* LOCAL command: the balancer's own connection (health check) */
    struct sockaddr_storage src; /* PROXY: the client (AP) address and port */
    struct sockaddr_storage dst; /* PROXY: the address the client connected to */
    size_t len;                  /* octets of the whole header */
};

/* From the first octets of a connection (at least RG_PP2_HDR_LEN): the length of the whole
 * header, or -EINVAL with *why (not a v2 signature, a v1 header, unknown version or command,
 * longer than RG_PP2_MAX_LEN). With fewer than RG_PP2_HDR_LEN octets: 0 while they can still
 * start a header, -EINVAL once they cannot. */
long rg_pp2_header_len(const uint8_t *buf, size_t len, const char **why);

/* Parse a whole header (buf holds at least its first min(len, RG_PP2_KEEP_LEN) octets, len
 * is rg_pp2_header_len's answer). 0 and *out, or -EINVAL and *why: a PROXY command must carry
 * a TCP/IPv4 or TCP/IPv6 address block that fits in the length. A LOCAL command is good
 * whatever its family (the spec: use the real endpoints, skip the rest). */
int rg_pp2_parse(const uint8_t *buf, size_t len, struct rg_pp2_header *out, const char **why);

/* The header of one connection, read piece by piece: never a byte past the header, so
 * whatever follows (the TLS ClientHello) stays in the socket for the TLS layer. */
struct rg_pp2_reader {
    uint8_t buf[RG_PP2_KEEP_LEN];
    uint8_t skip[64]; /* TLV octets past RG_PP2_KEEP_LEN land here and are dropped */
    size_t have;      /* octets read so far */
    size_t need;      /* the whole header's length once known, else RG_PP2_HDR_LEN */
};

void rg_pp2_reader_init(struct rg_pp2_reader *r);
/* Where the next read goes and how much it may take (exactly what is still missing, at most
 * the size of the area). */
void rg_pp2_reader_want(struct rg_pp2_reader *r, uint8_t **at, size_t *n);
/* n octets were read into the area rg_pp2_reader_want gave. 0 more needed, 1 done (*out
 * filled), -EINVAL with *why. */
int rg_pp2_reader_got(struct rg_pp2_reader *r, size_t n, struct rg_pp2_header *out,
                      const char **why);

/* May addr (the TCP peer) send a PROXY header: is it in listen.proxy-from? */
bool rg_pp2_trusted(const struct rg_config *cfg, const struct sockaddr *addr);

/* What happened to connections from balancers and others, summed over workers for one
 * aggregate log line per interval (refusals before any TLS are not logged one by one). */
enum rg_pp2_event {
    RG_PP2_HEALTH_CHECK, /* LOCAL header or a bare connect from a balancer: closed quietly */
    RG_PP2_UNTRUSTED,    /* a source not in proxy-from: closed before any byte is read */
    RG_PP2_MALFORMED,    /* a bad header, or the connection closed inside it */
    RG_PP2_TIMEOUT,      /* no complete header within handshake-timeout */
};
/* Count ev; sample (the peer's address text) is kept for the line. Thread-safe. */
void rg_pp2_note(enum rg_pp2_event ev, const char *sample, const char *why);
/* Log what was noted since the last line, at most once per 10 s (any worker may call it). */
void rg_pp2_report(void);

#endif
