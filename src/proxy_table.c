/* The state table's storage: request slots preallocated in chunks and recycled, packet
 * buffers in size classes and the min-heap of deadlines. No
 * decisions here (proxy.c makes them), no sockets (backend.c), no translation (translate.c). */
#include <stdlib.h>
#include <string.h>

#include "radsecgw/common.h"
#include "radsecgw/proxy.h"
#include "radsecgw/proxy_table.h"
#include "radsecgw/radius.h"

/* ---- slots ---- */

int rg_proxy_init(struct rg_proxy *px, const struct rg_proxy_host *host, uv_loop_t *loop,
                  unsigned max_requests)
{
    static const size_t class_size[RG_PROXY_BUF_CLASSES] = {512, 1280, RG_RADIUS_MAX_LEN};
    memset(px, 0, sizeof(*px));
    if (host)
        px->host = *host;
    px->ops = &rg_proxy_backend_ops;
    px->max_chunks = (max_requests + RG_PROXY_CHUNK - 1) / RG_PROXY_CHUNK;
    if (px->max_chunks == 0)
        px->max_chunks = 1;
    px->chunks = calloc(px->max_chunks, sizeof(*px->chunks));
    if (!px->chunks)
        return -ENOMEM;
    for (unsigned i = 0; i < RG_PROXY_BUF_CLASSES; i++)
        px->bufs[i].size = class_size[i];
    rg_buf_pool_init(&px->inflight_pool, 256 * sizeof(struct rg_request *), RG_PROXY_INFLIGHT_KEEP);
    if (loop) {
        int rc = uv_timer_init(loop, &px->timer);
        if (rc < 0)
            return rc;
        px->timer.data = px;
        if ((rc = uv_timer_init(loop, &px->share_timer)) < 0)
            return rc;
        px->share_timer.data = px;
    }
    return 0;
}

void rg_proxy_close(struct rg_proxy *px)
{
    if (px->timer.loop && !uv_is_closing((uv_handle_t *)&px->timer))
        uv_close((uv_handle_t *)&px->timer, NULL);
    if (px->share_timer.loop && !uv_is_closing((uv_handle_t *)&px->share_timer))
        uv_close((uv_handle_t *)&px->share_timer, NULL);
}

void rg_proxy_free(struct rg_proxy *px)
{
    for (unsigned i = 0; i < px->nchunks; i++)
        free(px->chunks[i]);
    free(px->chunks);
    free(px->heap);
    for (unsigned c = 0; c < RG_PROXY_BUF_CLASSES; c++) {
        void *chunk = px->bufs[c].chunks;
        while (chunk) {
            void *next = *(void **)chunk;
            free(chunk);
            chunk = next;
        }
    }
    rg_buf_pool_trim(&px->inflight_pool, 0);
    memset(px, 0, sizeof(*px));
}

/* Grow by one chunk of slots (their packet buffers come from the size classes). */
static int grow(struct rg_proxy *px)
{
    if (px->nchunks >= px->max_chunks)
        return -ENOSPC;
    struct rg_request *chunk = calloc(RG_PROXY_CHUNK, sizeof(*chunk));
    if (!chunk)
        return -ENOMEM;
    for (unsigned i = 0; i < RG_PROXY_CHUNK; i++)
        chunk[i].next_free = i + 1 < RG_PROXY_CHUNK ? &chunk[i + 1] : px->free_list;
    px->free_list = &chunk[0];
    px->chunks[px->nchunks++] = chunk;
    return 0;
}

struct rg_request *rg_proxy_slot_get(struct rg_proxy *px)
{
    if (!px->free_list && grow(px) < 0)
        return NULL;
    struct rg_request *req = px->free_list;
    px->free_list = req->next_free;
    memset(req, 0, offsetof(struct rg_request, pkt));
    req->in_use = true;
    req->heap_idx = SIZE_MAX;
    px->inuse++;
    return req;
}

static struct rg_bufclass *class_of(struct rg_proxy *px, size_t cap)
{
    for (unsigned i = 0; i < RG_PROXY_BUF_CLASSES; i++)
        if (px->bufs[i].size == cap)
            return &px->bufs[i];
    RG_REQUIRE(!"packet buffer of no class");
    return NULL;
}

static void pkt_release(struct rg_proxy *px, struct rg_request *req)
{
    if (!req->pkt)
        return;
    struct rg_bufclass *bc = class_of(px, req->pkt_cap);
    *(uint8_t **)(void *)req->pkt = bc->free_list;
    bc->free_list = req->pkt;
    bc->inuse--;
    req->pkt = NULL;
    req->pkt_cap = 0;
}

int rg_proxy_pkt_reserve(struct rg_proxy *px, struct rg_request *req, size_t need)
{
    if (req->pkt && req->pkt_cap >= need)
        return 0;
    struct rg_bufclass *bc = NULL;
    for (unsigned i = 0; i < RG_PROXY_BUF_CLASSES && !bc; i++)
        if (px->bufs[i].size >= need)
            bc = &px->bufs[i];
    if (!bc)
        return -EMSGSIZE;
    if (!bc->free_list) {
        /* 64 KiB of buffers at a time, kept for reuse. */
        size_t n = 65536 / bc->size;
        uint8_t *chunk = malloc(sizeof(void *) + n * bc->size);
        if (!chunk)
            return -ENOMEM;
        *(void **)(void *)chunk = bc->chunks;
        bc->chunks = chunk;
        for (size_t i = 0; i < n; i++) {
            uint8_t *b = chunk + sizeof(void *) + i * bc->size;
            *(uint8_t **)(void *)b = bc->free_list;
            bc->free_list = b;
        }
    }
    pkt_release(px, req);
    req->pkt = bc->free_list;
    bc->free_list = *(uint8_t **)(void *)req->pkt;
    req->pkt_cap = (uint16_t)bc->size;
    bc->inuse++;
    return 0;
}

void rg_proxy_slot_put(struct rg_proxy *px, struct rg_request *req)
{
    RG_REQUIRE(req->in_use);
    RG_REQUIRE(req->heap_idx == SIZE_MAX);
    pkt_release(px, req);
    req->in_use = false;
    req->next_free = px->free_list;
    px->free_list = req;
    px->inuse--;
}

/* ---- timer heap ---- */

static void heap_swap(struct rg_proxy *px, size_t a, size_t b)
{
    struct rg_request *t = px->heap[a];
    px->heap[a] = px->heap[b];
    px->heap[b] = t;
    px->heap[a]->heap_idx = a;
    px->heap[b]->heap_idx = b;
}

static void heap_up(struct rg_proxy *px, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (px->heap[parent]->deadline_ms <= px->heap[i]->deadline_ms)
            break;
        heap_swap(px, i, parent);
        i = parent;
    }
}

static void heap_down(struct rg_proxy *px, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < px->heap_len && px->heap[l]->deadline_ms < px->heap[m]->deadline_ms)
            m = l;
        if (r < px->heap_len && px->heap[r]->deadline_ms < px->heap[m]->deadline_ms)
            m = r;
        if (m == i)
            return;
        heap_swap(px, i, m);
        i = m;
    }
}

void rg_proxy_heap_push(struct rg_proxy *px, struct rg_request *req)
{
    RG_REQUIRE(req->heap_idx == SIZE_MAX);
    if (px->heap_len == px->heap_cap) {
        size_t cap = px->heap_cap ? px->heap_cap * 2 : RG_PROXY_CHUNK;
        struct rg_request **h = realloc(px->heap, cap * sizeof(*h));
        RG_REQUIRE(h != NULL);
        px->heap = h;
        px->heap_cap = cap;
    }
    req->heap_idx = px->heap_len;
    px->heap[px->heap_len++] = req;
    heap_up(px, req->heap_idx);
}

void rg_proxy_heap_remove(struct rg_proxy *px, struct rg_request *req)
{
    size_t i = req->heap_idx;
    if (i == SIZE_MAX)
        return;
    RG_REQUIRE(i < px->heap_len && px->heap[i] == req);
    px->heap_len--;
    if (i != px->heap_len) {
        px->heap[i] = px->heap[px->heap_len];
        px->heap[i]->heap_idx = i;
        heap_down(px, i);
        heap_up(px, i);
    }
    req->heap_idx = SIZE_MAX;
}

struct rg_request *rg_proxy_heap_peek(struct rg_proxy *px)
{
    return px->heap_len ? px->heap[0] : NULL;
}
