/* Tests of src/admission.c: refusal lines are aggregated per reason and interval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "radsecgw/admission.h"

/* Refusals before a certificate: the first of each reason per interval has its own line, the
 * rest only count; certificate refusals keep a line per peer up to 5 per reason; a report
 * starts a new interval. */
static void test_refusals_aggregate_per_reason(void **state)
{
    (void)state;
    rg_admission_report_refusals(true);
    assert_true(rg_admission_refusal("TLS handshake timeout", "127.1.0.1:1000", false));
    for (int i = 0; i < 1000; i++)
        assert_false(rg_admission_refusal("TLS handshake timeout", "127.1.0.2:1000", false));
    assert_true(rg_admission_refusal("TLS handshake failed: record layer length error",
                                     "127.1.0.3:1000", false));
    for (int i = 0; i < 5; i++)
        assert_true(rg_admission_refusal("unknown CA", "127.2.0.1:1000", true));
    for (int i = 0; i < 100; i++)
        assert_false(rg_admission_refusal("unknown CA", "127.2.0.1:1000", true));
    /* the same text before a certificate is another reason */
    assert_true(rg_admission_refusal("unknown CA", "127.2.0.1:1000", false));
    rg_admission_report_refusals(true);
    assert_true(rg_admission_refusal("TLS handshake timeout", "127.1.0.1:1000", false));
    /* more distinct reasons than slots: still bounded, still counted */
    char reason[32];
    for (int i = 0; i < 100; i++) {
        snprintf(reason, sizeof(reason), "reason %d", i);
        rg_admission_refusal(reason, "127.3.0.1:1000", false);
    }
    rg_admission_report_refusals(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_aggregate_per_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
