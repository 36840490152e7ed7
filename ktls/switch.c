/* Process-wide kTLS kill switch: offload attempts decline while it is off. */
#include <stdlib.h>
#include <string.h>

#include "ktls_int.h"

/*
 * -1: not decided yet (the environment is read at first use), 0 off, 1 on.
 * Relaxed atomics: a connection that starts its offload while the switch
 * flips may see either value; both are a clean outcome.
 */
static int ktls_switch = -1;

static int from_env(void)
{
    const char *v = getenv("KITLS_KTLS");

    if (v != NULL && (strcmp(v, "off") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0))
        return 0;
    return 1;
}

void kitls_ktls_set_enabled(int enabled)
{
    __atomic_store_n(&ktls_switch, enabled ? 1 : 0, __ATOMIC_RELAXED);
}

int kitls_ktls_enabled(void)
{
    int v = __atomic_load_n(&ktls_switch, __ATOMIC_RELAXED);

    if (v < 0) {
        int expected = -1;
        v = from_env();
        /* A concurrent kitls_ktls_set_enabled() wins over the environment. */
        if (!__atomic_compare_exchange_n(&ktls_switch, &expected, v, 0, __ATOMIC_RELAXED,
                                         __ATOMIC_RELAXED))
            v = expected;
    }
    return v;
}
