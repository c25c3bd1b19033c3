/* Tests of src/common.c: rg_sockaddr_format, the one address-to-text every log line and -t
 * print use (src=, dest=, address=, from=), and rg_sockaddr_equal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "radsecgw/common.h"

static struct sockaddr_storage v4(const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s = (void *)&ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, host, &s->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *s = (void *)&ss;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, host, &s->sin6_addr), 1);
    return ss;
}

static const char *fmt(const struct sockaddr_storage *ss, bool with_port, char *buf, size_t len)
{
    return rg_sockaddr_format((const struct sockaddr *)ss, with_port, buf, len);
}

static void test_format_ipv4(void **state)
{
    (void)state;
    char buf[RG_SOCKADDR_TEXT];
    struct sockaddr_storage ss = v4("192.0.2.1", 1812);
    assert_ptr_equal(fmt(&ss, true, buf, sizeof(buf)), buf);
    assert_string_equal(buf, "192.0.2.1:1812");
    assert_string_equal(fmt(&ss, false, buf, sizeof(buf)), "192.0.2.1");
    /* port in network order: 2083 is 0x0823, not 0x2308 */
    ss = v4("127.0.0.1", 2083);
    assert_string_equal(fmt(&ss, true, buf, sizeof(buf)), "127.0.0.1:2083");
    ss = v4("255.255.255.255", 65535);
    assert_string_equal(fmt(&ss, true, buf, sizeof(buf)), "255.255.255.255:65535");
}

static void test_format_ipv6_in_brackets(void **state)
{
    (void)state;
    char buf[RG_SOCKADDR_TEXT];
    struct sockaddr_storage ss = v6("::1", 5555);
    assert_string_equal(fmt(&ss, true, buf, sizeof(buf)), "[::1]:5555");
    assert_string_equal(fmt(&ss, false, buf, sizeof(buf)), "::1");
    /* inet_ntop's canonical (RFC 5952) spelling, whatever the input spelled */
    ss = v6("2001:0db8:0000:0000:0000:0000:0000:0001", 1812);
    assert_string_equal(fmt(&ss, true, buf, sizeof(buf)), "[2001:db8::1]:1812");
}

static void test_format_v4_mapped_stays_ipv6(void **state)
{
    (void)state;
    char buf[RG_SOCKADDR_TEXT];
    /* a dual-stack socket's peer: logged as the IPv6 address it is */
    struct sockaddr_storage ss = v6("::ffff:192.0.2.7", 40000);
    assert_string_equal(fmt(&ss, true, buf, sizeof(buf)), "[::ffff:192.0.2.7]:40000");
    assert_string_equal(fmt(&ss, false, buf, sizeof(buf)), "::ffff:192.0.2.7");
}

static void test_format_port_zero(void **state)
{
    (void)state;
    char buf[RG_SOCKADDR_TEXT];
    struct sockaddr_storage ss = v4("0.0.0.0", 0);
    assert_string_equal(fmt(&ss, true, buf, sizeof(buf)), "0.0.0.0:0");
    ss = v6("::", 0);
    assert_string_equal(fmt(&ss, true, buf, sizeof(buf)), "[::]:0");
}

static void test_format_longest_fits_and_small_buffer_truncates(void **state)
{
    (void)state;
    char buf[RG_SOCKADDR_TEXT];
    struct sockaddr_storage ss = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    fmt(&ss, true, buf, sizeof(buf));
    assert_string_equal(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    assert_true(strlen(buf) < sizeof(buf));
    char small[8];
    memset(small, 'x', sizeof(small));
    ss = v4("192.0.2.1", 1812);
    fmt(&ss, true, small, sizeof(small));
    assert_string_equal(small, "192.0.2");
}

static void test_format_other_family(void **state)
{
    (void)state;
    char buf[RG_SOCKADDR_TEXT];
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNSPEC; /* e.g. a server whose name did not resolve */
    assert_string_equal(fmt(&ss, true, buf, sizeof(buf)), "?");
    assert_string_equal(fmt(&ss, false, buf, sizeof(buf)), "?");
    ss.ss_family = AF_UNIX;
    assert_string_equal(fmt(&ss, true, buf, sizeof(buf)), "?");
}

static void test_equal_compares_family_address_port(void **state)
{
    (void)state;
    struct sockaddr_storage a = v4("192.0.2.1", 1812), b = v4("192.0.2.1", 1812);
    assert_true(rg_sockaddr_equal((void *)&a, (void *)&b));
    b = v4("192.0.2.1", 1813);
    assert_false(rg_sockaddr_equal((void *)&a, (void *)&b));
    b = v4("192.0.2.2", 1812);
    assert_false(rg_sockaddr_equal((void *)&a, (void *)&b));
    b = v6("::ffff:192.0.2.1", 1812);
    assert_false(rg_sockaddr_equal((void *)&a, (void *)&b));
    a = v6("::ffff:192.0.2.1", 1812);
    assert_true(rg_sockaddr_equal((void *)&a, (void *)&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_ipv4),
        cmocka_unit_test(test_format_ipv6_in_brackets),
        cmocka_unit_test(test_format_v4_mapped_stays_ipv6),
        cmocka_unit_test(test_format_port_zero),
        cmocka_unit_test(test_format_longest_fits_and_small_buffer_truncates),
        cmocka_unit_test(test_format_other_family),
        cmocka_unit_test(test_equal_compares_family_address_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
