/* Tests of src/proxy_table.c: slots bounded by the limit and recycled, packet buffers from
 * their size classes and reused, and the timer heap's order under removals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "radsecgw/proxy.h"
#include "radsecgw/proxy_table.h"
#include "radsecgw/radius.h"

static void test_slots_bounded_and_recycled(void **state)
{
    (void)state;
    struct rg_proxy px;
    assert_int_equal(rg_proxy_init(&px, NULL, NULL, 2 * RG_PROXY_CHUNK), 0);
    struct rg_request *got[2 * RG_PROXY_CHUNK];
    for (unsigned i = 0; i < 2 * RG_PROXY_CHUNK; i++) {
        got[i] = rg_proxy_slot_get(&px);
        assert_non_null(got[i]);
        assert_null(got[i]->pkt); /* a packet buffer only once something is sent */
    }
    assert_null(rg_proxy_slot_get(&px)); /* the limit holds */
    assert_int_equal(px.nchunks, 2);
    rg_proxy_slot_put(&px, got[7]);
    struct rg_request *again = rg_proxy_slot_get(&px);
    assert_ptr_equal(again, got[7]); /* recycled, nothing allocated */
    assert_int_equal(px.nchunks, 2);
    for (unsigned i = 0; i < 2 * RG_PROXY_CHUNK; i++)
        rg_proxy_slot_put(&px, got[i]);
    assert_int_equal(px.inuse, 0);
    rg_proxy_free(&px);
}

static void test_packet_buffers_sized_and_recycled(void **state)
{
    (void)state;
    struct rg_proxy px;
    assert_int_equal(rg_proxy_init(&px, NULL, NULL, RG_PROXY_CHUNK), 0);
    struct rg_request *a = rg_proxy_slot_get(&px), *b = rg_proxy_slot_get(&px);
    /* A small packet takes a small buffer; a large one the RFC 2865 maximum. */
    assert_int_equal(rg_proxy_pkt_reserve(&px, a, 300), 0);
    assert_true(a->pkt_cap >= 300 && a->pkt_cap < 1024);
    assert_int_equal(rg_proxy_pkt_reserve(&px, b, 3000), 0);
    assert_int_equal(b->pkt_cap, RG_RADIUS_MAX_LEN);
    assert_int_equal(rg_proxy_pkt_reserve(&px, b, RG_RADIUS_MAX_LEN + 1), -EMSGSIZE);
    /* Growing keeps the slot usable: the small buffer is swapped for a bigger one. */
    uint8_t *small = a->pkt;
    memset(a->pkt, 0xab, a->pkt_cap);
    assert_int_equal(rg_proxy_pkt_reserve(&px, a, 1000), 0);
    assert_true(a->pkt_cap >= 1000);
    memset(a->pkt, 0xcd, a->pkt_cap);
    /* Released buffers are reused (no allocation once warm). */
    uint8_t *big = b->pkt;
    rg_proxy_slot_put(&px, b);
    b = rg_proxy_slot_get(&px);
    assert_int_equal(rg_proxy_pkt_reserve(&px, b, 2000), 0);
    assert_ptr_equal(b->pkt, big);
    struct rg_request *c = rg_proxy_slot_get(&px);
    assert_int_equal(rg_proxy_pkt_reserve(&px, c, 100), 0);
    assert_ptr_equal(c->pkt, small);
    for (unsigned i = 0; i < RG_PROXY_BUF_CLASSES; i++)
        assert_true(px.bufs[i].inuse <= 1);
    rg_proxy_slot_put(&px, a);
    rg_proxy_slot_put(&px, b);
    rg_proxy_slot_put(&px, c);
    for (unsigned i = 0; i < RG_PROXY_BUF_CLASSES; i++)
        assert_int_equal(px.bufs[i].inuse, 0);
    rg_proxy_free(&px);
}

static void test_heap_orders_deadlines(void **state)
{
    (void)state;
    struct rg_proxy px;
    assert_int_equal(rg_proxy_init(&px, NULL, NULL, 4 * RG_PROXY_CHUNK), 0);
    enum { N = 1000 };
    struct rg_request *r[N];
    srand(7);
    for (unsigned i = 0; i < N; i++) {
        r[i] = rg_proxy_slot_get(&px);
        r[i]->deadline_ms = (uint64_t)(rand() % 5000);
        rg_proxy_heap_push(&px, r[i]);
    }
    /* Remove a third from the middle, as replies do. */
    for (unsigned i = 0; i < N; i += 3)
        rg_proxy_heap_remove(&px, r[i]);
    uint64_t last = 0;
    unsigned popped = 0;
    struct rg_request *top;
    while ((top = rg_proxy_heap_peek(&px)) != NULL) {
        assert_true(top->deadline_ms >= last);
        last = top->deadline_ms;
        rg_proxy_heap_remove(&px, top);
        popped++;
    }
    assert_int_equal(popped, N - (N + 2) / 3);
    for (unsigned i = 0; i < N; i++)
        rg_proxy_slot_put(&px, r[i]);
    rg_proxy_free(&px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_bounded_and_recycled),
        cmocka_unit_test(test_packet_buffers_sized_and_recycled),
        cmocka_unit_test(test_heap_orders_deadlines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
