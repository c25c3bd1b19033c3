/* libFuzzer driver for RadSec framing (RFC 6613 §2.6.4, what conn.c's frame() does with
 * rg_radius_frame_len on the decrypted stream): the input is a byte stream of RADIUS
 * packets, fed as TLS records would deliver it, split at points the input chooses. The
 * packets found, and where the stream turns malformed, must not depend on the split. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/radius.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

#define MAX_PACKETS 4096

struct framing {
    size_t starts[MAX_PACKETS], lens[MAX_PACKETS];
    size_t n;
    size_t bad_at; /* offset of the malformed Length; SIZE_MAX: none */
};

/* Consume whole packets from buf[0..len) as frame() does; returns octets consumed. */
static size_t frame(const uint8_t *buf, size_t len, size_t base, struct framing *f)
{
    size_t off = 0;
    while (f->bad_at == SIZE_MAX && f->n < MAX_PACKETS) {
        long need = rg_radius_frame_len(buf + off, len - off);
        if (need < 0) {
            f->bad_at = base + off;
            break;
        }
        if (need == 0 || (size_t)need > len - off)
            break;
        check(need >= RG_RADIUS_MIN_LEN && need <= RG_RADIUS_MAX_LEN);
        f->starts[f->n] = base + off;
        f->lens[f->n++] = (size_t)need;
        off += (size_t)need;
    }
    return off;
}

static struct framing whole, split;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t seed;
    memcpy(&seed, data, 4);
    data += 4;
    size -= 4;

    memset(&whole, 0, sizeof(whole));
    whole.bad_at = SIZE_MAX;
    uint8_t *all = malloc(size ? size : 1);
    if (!all)
        return 0;
    memcpy(all, data, size);
    frame(all, size, 0, &whole);
    free(all);

    /* The same stream in pieces of 1..(16384 + 256) octets (a TLS record's plaintext and
     * more), appended to a buffer that keeps what a packet has not completed yet. */
    memset(&split, 0, sizeof(split));
    split.bad_at = SIZE_MAX;
    uint8_t *buf = malloc(size + 1);
    if (!buf)
        return 0;
    size_t have = 0, fed = 0, base = 0;
    while (fed < size && split.bad_at == SIZE_MAX) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 8) % ((seed & 1) ? 7 : 16640);
        if (piece > size - fed)
            piece = size - fed;
        memcpy(buf + have, data + fed, piece);
        have += piece;
        fed += piece;
        size_t used = frame(buf, have, base, &split);
        memmove(buf, buf + used, have - used);
        have -= used;
        base += used;
    }
    free(buf);

    check(split.n == whole.n);
    for (size_t i = 0; i < whole.n; i++)
        check(split.starts[i] == whole.starts[i] && split.lens[i] == whole.lens[i]);
    check(split.bad_at == whole.bad_at);
    return 0;
}
