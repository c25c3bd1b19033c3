/* Tests for src/log.c: level filtering, the stderr line format, the per-key rate limiter
 * (driven by a fake clock, no sleeping) and whole lines under concurrent logging. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radsecgw/log.h"

/* ---- stderr capture through a pipe ---- */

static int capture_fd[2] = {-1, -1};
static int saved_stderr = -1;

static void capture_begin(void)
{
    assert_int_equal(pipe(capture_fd), 0);
    /* a full pipe would block the logger: tests write far less than its 64 KiB */
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_int_equal(dup2(capture_fd[1], STDERR_FILENO), STDERR_FILENO);
}

/* Returns what was written to stderr since capture_begin (malloced). */
static char *capture_end(void)
{
    assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
    close(saved_stderr);
    close(capture_fd[1]);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    ssize_t n;
    while ((n = read(capture_fd[0], buf + len, cap - len)) > 0)
        len += (size_t)n;
    close(capture_fd[0]);
    buf[len] = '\0';
    return buf;
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
    return fake_now;
}

static int setup(void **state)
{
    rg_log_open(-1, LOG_INFO, true); /* stderr only: tests do not write to syslog */
    fake_now = 100000;
    rg_log_set_clock(fake_clock);
    return 0;
}

static int teardown(void **state)
{
    rg_log_set_clock(NULL);
    rg_log_close();
    return 0;
}

static void test_line_format(void **state)
{
    char expect[128];
    snprintf(expect, sizeof(expect), "radsecgw[%ld]: NOTICE: reloaded config \"x\" (3 orgs)\n",
             (long)getpid());
    capture_begin();
    rg_notice("reloaded config \"%s\" (%d orgs)", "x", 3);
    char *out = capture_end();
    assert_string_equal(out, expect);
    free(out);
}

static void test_level_filter(void **state)
{
    rg_log_set_level(LOG_WARNING);
    assert_int_equal(rg_log_get_level(), LOG_WARNING);
    capture_begin();
    rg_debug("debug-line");
    rg_info("info-line");
    rg_notice("notice-line");
    rg_warn("warning-line");
    rg_err("err-line");
    rg_log(LOG_CRIT, "crit-line");
    char *out = capture_end();
    assert_null(strstr(out, "debug-line"));
    assert_null(strstr(out, "info-line"));
    assert_null(strstr(out, "notice-line"));
    assert_non_null(strstr(out, ": WARNING: warning-line\n"));
    assert_non_null(strstr(out, ": ERR: err-line\n"));
    assert_non_null(strstr(out, ": CRIT: crit-line\n"));
    free(out);

    rg_log_set_level(LOG_DEBUG);
    capture_begin();
    rg_debug("debug-line");
    out = capture_end();
    assert_non_null(strstr(out, ": DEBUG: debug-line\n"));
    free(out);

    /* reopening (reload) changes the level; to_stderr=false silences stderr */
    rg_log_open(-1, LOG_ERR, false);
    capture_begin();
    rg_err("hidden-err");
    out = capture_end();
    assert_string_equal(out, "");
    free(out);
    rg_log_open(-1, LOG_ERR, true);
    capture_begin();
    rg_warn("hidden-warning");
    rg_err("shown-err");
    out = capture_end();
    assert_null(strstr(out, "hidden-warning"));
    assert_non_null(strstr(out, "shown-err"));
    free(out);
}

static void test_long_line_truncated(void **state)
{
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    capture_begin();
    rg_info("%s", big);
    rg_info("next");
    char *out = capture_end();
    /* still one line each, ending in a newline */
    assert_int_equal(count(out, "\n"), 2);
    assert_non_null(strstr(out, ": INFO: next\n"));
    assert_true(strlen(out) < 2 * 2048 + 200);
    free(out);
}

static void test_rate_limit(void **state)
{
    capture_begin();
    for (int i = 0; i < 25; i++)
        rg_log_limited("bad-packet", LOG_WARNING, "bad packet %d", i);
    fake_now += 999; /* same window */
    rg_log_limited("bad-packet", LOG_WARNING, "bad packet late");
    /* another key has its own budget */
    rg_log_limited("other-event", LOG_WARNING, "other event");
    char *out = capture_end();
    assert_int_equal(count(out, "bad packet"), RG_LOG_BURST);
    assert_non_null(strstr(out, "bad packet 0\n"));
    assert_non_null(strstr(out, "bad packet 9\n"));
    assert_null(strstr(out, "bad packet 10\n"));
    assert_null(strstr(out, "late"));
    assert_null(strstr(out, "event=log_suppressed"));
    assert_int_equal(count(out, "other event"), 1);
    free(out);

    /* the next window opens: the count of the 16 dropped comes first, then the line */
    fake_now += 1;
    capture_begin();
    rg_log_limited("bad-packet", LOG_WARNING, "bad packet again");
    out = capture_end();
    char *report = strstr(out, ": WARNING: event=log_suppressed count=16 key=bad-packet\n");
    char *line = strstr(out, ": WARNING: bad packet again\n");
    assert_non_null(report);
    assert_non_null(line);
    assert_true(report < line);
    assert_int_equal(count(out, "\n"), 2);
    free(out);

    /* nothing dropped in the last window: no report */
    fake_now += 5000;
    capture_begin();
    rg_log_limited("bad-packet", LOG_WARNING, "quiet");
    out = capture_end();
    assert_null(strstr(out, "event=log_suppressed"));
    assert_non_null(strstr(out, "quiet"));
    free(out);
}

static void test_rate_limit_same_text_other_pointer(void **state)
{
    /* keys are compared by text: two copies of "k" share one budget */
    char k1[] = "shared-key", k2[] = "shared-key";
    capture_begin();
    for (int i = 0; i < RG_LOG_BURST; i++)
        rg_log_limited(k1, LOG_ERR, "from one");
    rg_log_limited(k2, LOG_ERR, "from two");
    char *out = capture_end();
    assert_int_equal(count(out, "from one"), RG_LOG_BURST);
    assert_int_equal(count(out, "from two"), 0);
    free(out);
}

static void test_rate_limit_filtered_not_counted(void **state)
{
    rg_log_set_level(LOG_NOTICE);
    capture_begin();
    for (int i = 0; i < 50; i++)
        rg_log_limited("noisy-debug", LOG_DEBUG, "debug %d", i);
    rg_log_limited("noisy-debug", LOG_ERR, "real problem");
    char *out = capture_end();
    assert_int_equal(count(out, "\n"), 1);
    assert_non_null(strstr(out, "real problem"));
    free(out);
}

static void test_flush(void **state)
{
    capture_begin();
    for (int i = 0; i < RG_LOG_BURST + 3; i++)
        rg_log_limited("flood", LOG_NOTICE, "flood %d", i);
    rg_log_limited_flush(false); /* window still open: nothing yet */
    char *out = capture_end();
    assert_null(strstr(out, "event=log_suppressed"));
    free(out);

    fake_now += RG_LOG_WINDOW_MS;
    capture_begin();
    rg_log_limited_flush(false);
    rg_log_limited_flush(false); /* reported once only */
    rg_log_limited("flood", LOG_NOTICE, "flood after");
    out = capture_end();
    assert_int_equal(count(out, "event=log_suppressed count=3 key=flood\n"), 1);
    assert_int_equal(count(out, "suppressed"), 1);
    assert_non_null(strstr(out, "flood after"));
    free(out);
}

#define THREADS          4
#define LINES_PER_THREAD 100

static void *log_worker(void *arg)
{
    long id = (long)(intptr_t)arg;
    for (int i = 0; i < LINES_PER_THREAD; i++) {
        rg_info("worker %ld line %d padding-padding-padding", id, i);
        rg_log_limited("shared-flood", LOG_WARNING, "limited from worker %ld", id);
    }
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t t[THREADS];
    capture_begin();
    for (long i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, log_worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *out = capture_end();

    /* every line whole, and the limit holds across threads: one window, one budget */
    assert_int_equal(count(out, "padding-padding-padding\n"), THREADS * LINES_PER_THREAD);
    assert_int_equal(count(out, "limited from worker"), RG_LOG_BURST);
    assert_int_equal(count(out, "\n"), THREADS * LINES_PER_THREAD + RG_LOG_BURST);
    for (char *line = out; *line; line = strchr(line, '\n') + 1)
        assert_int_equal(strncmp(line, "radsecgw[", 9), 0);
    free(out);
}

static void test_parse_names(void **state)
{
    assert_int_equal(rg_log_facility_parse("daemon"), LOG_DAEMON);
    assert_int_equal(rg_log_facility_parse("auth"), LOG_AUTH);
    assert_int_equal(rg_log_facility_parse("user"), LOG_USER);
    assert_int_equal(rg_log_facility_parse("local0"), LOG_LOCAL0);
    assert_int_equal(rg_log_facility_parse("local7"), LOG_LOCAL7);
    assert_int_equal(rg_log_facility_parse("local8"), -1);
    assert_int_equal(rg_log_facility_parse("Daemon"), -1);
    assert_int_equal(rg_log_facility_parse(""), -1);
    assert_int_equal(rg_log_facility_parse(NULL), -1);
    assert_int_equal(rg_log_level_parse("err"), LOG_ERR);
    assert_int_equal(rg_log_level_parse("warning"), LOG_WARNING);
    assert_int_equal(rg_log_level_parse("notice"), LOG_NOTICE);
    assert_int_equal(rg_log_level_parse("info"), LOG_INFO);
    assert_int_equal(rg_log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(rg_log_level_parse("trace"), -1);
    assert_int_equal(rg_log_level_parse(NULL), -1);
}

/* ---- escaping of peer strings ---- */

static const char *esc(const char *in, size_t len)
{
    static char out[RG_LOG_ESC_BUF];
    return rg_log_escape(in, len, out, sizeof(out));
}

#define ESC(lit) esc(lit, sizeof(lit) - 1)

static void test_escape_controls_and_quotes(void **state)
{
    (void)state;
    assert_string_equal(ESC("Q2AA-BBBB-CCCC"), "Q2AA-BBBB-CCCC");
    assert_string_equal(ESC("bob@example.com"), "bob@example.com");
    /* a newline would start a forged line; CR, TAB, ESC (terminal sequences) likewise */
    assert_string_equal(ESC("ap\nradsecgw[1]: ERR: x"), "ap\\x0aradsecgw[1]: ERR: x");
    assert_string_equal(ESC("a\rb\tc\x1b[31m"), "a\\x0db\\x09c\\x1b[31m");
    /* a quote would end the value and let the peer add key=value pairs of its own */
    assert_string_equal(ESC("x\" result=accept"), "x\\\" result=accept");
    /* backslash is escaped, so every backslash in the output starts an escape */
    assert_string_equal(ESC("DOM\\user"), "DOM\\x5cuser");
    assert_string_equal(ESC("\\x41"), "\\x5cx41");
    /* NUL inside the value, and DEL */
    assert_string_equal(ESC("a\0b\x7f"), "a\\x00b\\x7f");
    assert_string_equal(esc("", 0), "");
}

static void test_escape_utf8(void **state)
{
    (void)state;
    /* well-formed UTF-8 (RFC 2865 §5.1: User-Name is UTF-8) is kept */
    assert_string_equal(ESC("j\xc3\xbcrgen@m\xc3\xbcnchen.de"), "j\xc3\xbcrgen@m\xc3\xbcnchen.de");
    assert_string_equal(ESC("\xe2\x82\xac \xf0\x9f\x93\xb6"), "\xe2\x82\xac \xf0\x9f\x93\xb6");
    /* a stray octet, a sequence cut short, overlong forms, surrogates, > U+10FFFF */
    assert_string_equal(ESC("a\xff"
                            "b"),
                        "a\\xffb");
    assert_string_equal(ESC("a\xc3"), "a\\xc3");
    assert_string_equal(ESC("\xe2\x82"
                            "x"),
                        "\\xe2\\x82x");
    assert_string_equal(ESC("\xc0\x8a"), "\\xc0\\x8a");
    assert_string_equal(ESC("\xe0\x80\x8a"), "\\xe0\\x80\\x8a");
    assert_string_equal(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80");
    assert_string_equal(ESC("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
    /* C1 controls (NEL) and the Unicode line/paragraph separators */
    assert_string_equal(ESC("a\xc2\x85"
                            "b"),
                        "a\\xc2\\x85b");
    assert_string_equal(ESC("a\xe2\x80\xa8"
                            "b\xe2\x80\xa9"),
                        "a\\xe2\\x80\\xa8b\\xe2\\x80\\xa9");
    assert_string_equal(ESC("\xc2\xa0"), "\xc2\xa0"); /* NBSP is printable */
}

static void test_escape_bounded(void **state)
{
    (void)state;
    char in[1000], out[RG_LOG_ESC_BUF];
    memset(in, 'a', sizeof(in));
    rg_log_escape(in, sizeof(in), out, sizeof(out));
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_string_equal(out + sizeof(out) - 4, "...");

    /* every octet escaped: the cut falls between escapes, never inside one */
    memset(in, '\n', sizeof(in));
    rg_log_escape(in, sizeof(in), out, sizeof(out));
    size_t n = strlen(out);
    assert_true(n < sizeof(out));
    assert_string_equal(out + n - 3, "...");
    assert_int_equal((n - 3) % 4, 0);
    for (size_t i = 0; i < n - 3; i += 4)
        assert_memory_equal(out + i, "\\x0a", 4);

    /* nor inside a UTF-8 character */
    for (size_t i = 0; i + 1 < sizeof(in); i += 2)
        memcpy(in + i, "\xc3\xa9", 2);
    rg_log_escape(in, sizeof(in), out, 10);
    assert_string_equal(out, "\xc3\xa9\xc3\xa9\xc3\xa9...");

    /* exactly full: no marker */
    rg_log_escape("abcdefghi", 9, out, 10);
    assert_string_equal(out, "abcdefghi");
    rg_log_escape("abcdefghij", 10, out, 10);
    assert_string_equal(out, "abcdef...");
    /* tiny buffers stay terminated */
    rg_log_escape("abc", 3, out, 1);
    assert_string_equal(out, "");
    rg_log_escape("abc", 3, out, 3);
    assert_string_equal(out, "ab");
}

/* The whole point: a certificate CN with a newline gives one line, not two. */
static void test_escape_in_a_line(void **state)
{
    const char *cn = "Q2AA\nradsecgw[1]: NOTICE: connection 10.0.0.1:1 open: org \"other\"";
    capture_begin();
    rg_notice("connection %s open: org %s, CN \"%s\"", "127.0.0.1:5555", "acme", RG_LOG_ESC(cn));
    rg_notice("%s %s", RG_LOG_ESC(NULL), RG_LOG_ESC("two\"buffers"));
    char *out = capture_end();
    assert_int_equal(count(out, "\n"), 2);
    assert_non_null(strstr(out, "CN \"Q2AA\\x0aradsecgw[1]: NOTICE: connection 10.0.0.1:1 open: "
                                "org \\\"other\\\"\"\n"));
    assert_non_null(strstr(out, ": NOTICE:  two\\\"buffers\n"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_same_text_other_pointer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_filtered_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_escape_controls_and_quotes),
        cmocka_unit_test(test_escape_utf8),
        cmocka_unit_test(test_escape_bounded),
        cmocka_unit_test_setup_teardown(test_escape_in_a_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
