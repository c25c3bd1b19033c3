/* Tests of src/listener.c: a connection there is no memory for is still accepted and closed
 * (rg_listener_drop), so the listening socket keeps accepting; with several pending at once
 * each one is taken in turn. Real sockets on 127.0.0.1, one libuv loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "radsecgw/listener.h"

static unsigned offered;

/* What on_connection does when rg_conn_accept has no memory for the connection. */
static void on_connection_no_memory(uv_stream_t *server, int status)
{
    assert_int_equal(status, 0);
    offered++;
    rg_listener_drop(server);
}

static void on_closed(uv_handle_t *h)
{
    struct rg_listener *l = h->data;
    l->closed = true;
}

/* Every client sees its connection closed (EOF or reset) within a second. */
static bool closed_by_peer(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) != 1)
        return false;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void test_drop_accepts_and_closes_every_pending(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct rg_listener *l = calloc(1, sizeof(*l));
    l->open_handles = 1;
    snprintf(l->addr_text, sizeof(l->addr_text), "127.0.0.1:0");
    assert_int_equal(uv_tcp_init(&loop, &l->tcp), 0);
    l->tcp.data = l;
    struct sockaddr_in sin;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    assert_int_equal(uv_tcp_bind(&l->tcp, (const struct sockaddr *)&sin, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&l->tcp, 16, on_connection_no_memory), 0);
    int alen = sizeof(sin);
    assert_int_equal(uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&sin, &alen), 0);

    /* Three clients connect at the same moment (the kernel completes the handshakes). */
    enum { N = 3 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (const struct sockaddr *)&sin, sizeof(sin)), 0);
    }
    int done = 0;
    for (int round = 0; round < 100 && done < N; round++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(10000);
        done = 0;
        for (int i = 0; i < N; i++)
            done += closed_by_peer(fds[i]);
    }
    assert_int_equal(done, N);
    assert_true(offered >= N); /* a connection waiting for the spare handle is offered again */
    /* The listener still accepts: a fourth client is taken too. */
    int late = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(late, (const struct sockaddr *)&sin, sizeof(sin)), 0);
    for (int round = 0; round < 100 && !closed_by_peer(late); round++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    assert_true(closed_by_peer(late));
    close(late);
    for (int i = 0; i < N; i++)
        close(fds[i]);

    uv_close((uv_handle_t *)&l->tcp, on_closed);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(l->closed);
    assert_false(l->spare_busy);
    assert_int_equal(uv_loop_close(&loop), 0);
    free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drop_accepts_and_closes_every_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
