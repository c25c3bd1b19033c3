/* libFuzzer driver for the config parser (src/config*.c over libconfuse's cfg_parse_buf):
 * any text either loads into a snapshot or fails with at least one file:line error; never
 * a crash, a leak or a read past the text. Certificates and CAs are not opened
 * (check_files false), so the driver needs no files. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "radsecgw/config.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct rg_config *cfg = NULL;
    struct rg_config_diag diag = {0};
    int rc = rg_config_load_buf("fuzz.conf", text, false, &cfg, &diag);
    if (rc == 0) {
        check(cfg != NULL && diag.nerrors == 0);
        check(cfg->listen.naddress > 0 && cfg->workers > 0);
        check(cfg->listen.packet_timeout_s >= 1);
        rg_config_unref(cfg);
    } else {
        check(cfg == NULL && diag.nerrors > 0 && diag.text != NULL);
        check(strstr(diag.text, "fuzz.conf") != NULL);
    }
    rg_config_diag_free(&diag);
    free(text);
    return 0;
}
