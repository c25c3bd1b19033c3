/* libFuzzer driver for src/proxy_protocol.c: arbitrary octets as the start of a connection
 * from a balancer, fed to the reader in reads whose sizes the input also chooses. The reader
 * must never ask for more than the header still lacks, never take a byte past it, and a
 * header it accepts must parse the same way in one piece. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "radsecgw/proxy_protocol.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* First octet: the read size (1..256), the rest: the stream. */
    size_t chunk = (size_t)data[0] + 1;
    data++;
    size--;
    struct rg_pp2_reader r;
    rg_pp2_reader_init(&r);
    struct rg_pp2_header h;
    const char *why = NULL;
    size_t off = 0;
    int rc = 0;
    while (rc == 0 && off < size) {
        uint8_t *at;
        size_t n;
        rg_pp2_reader_want(&r, &at, &n);
        check(n > 0);
        check((at >= r.buf && at + n <= r.buf + sizeof(r.buf)) ||
              (at == r.skip && n <= sizeof(r.skip)));
        check(r.have + n <= r.need); /* never a byte past the header */
        if (n > chunk)
            n = chunk;
        if (n > size - off)
            n = size - off;
        memcpy(at, data + off, n);
        off += n;
        rc = rg_pp2_reader_got(&r, n, &h, &why);
    }
    if (rc < 0)
        check(why != NULL);
    if (rc == 1) {
        check(h.len == off && h.len >= RG_PP2_HDR_LEN && h.len <= RG_PP2_MAX_LEN);
        check(h.local || h.src.ss_family == AF_INET || h.src.ss_family == AF_INET6);
        if (h.len <= RG_PP2_KEEP_LEN) {
            struct rg_pp2_header one;
            check(rg_pp2_parse(data, h.len, &one, &why) == 0);
            check(one.local == h.local && memcmp(&one.src, &h.src, sizeof(one.src)) == 0);
        }
    }
    return 0;
}
