/* fuzz_rx.c - rx.approved / rx.cancelled decoding (SPEC section 2) on
 * arbitrary bytes, as they would arrive from Kafka. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "ids.h"
#include "rx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_why_ok(const char *why, size_t whylen)
{
    /* A rejection always says why, within the buffer. */
    FUZZ_CHECK(memchr(why, '\0', whylen) != NULL);
    FUZZ_CHECK(why[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];

    memset(why, 0, sizeof(why));
    rx_approved *rx = rx_approved_decode(data, size, why, sizeof(why));
    if (rx) {
        /* What the router relies on after a successful decode. */
        FUZZ_CHECK(ids_valid(rx->prescription_id, strlen(rx->prescription_id)));
        FUZZ_CHECK(rx->n_items >= 1 && rx->n_items <= RX_ITEMS_MAX);
        for (size_t i = 0; i < rx->n_items; i++) {
            FUZZ_CHECK(ids_valid(rx->items[i]->drug_code, strlen(rx->items[i]->drug_code)));
            FUZZ_CHECK(rx->items[i]->quantity >= 1 && rx->items[i]->quantity <= RX_QUANTITY_MAX);
        }
        FUZZ_CHECK(rx->delivery || rx->nominated_pharmacy_id[0]);
        /* ids that reach our key names hold no ':' (common/ids.h) */
        FUZZ_CHECK(!rx->nominated_pharmacy_id[0] ||
                   ids_valid_key(rx->nominated_pharmacy_id, strlen(rx->nominated_pharmacy_id)));
        FUZZ_CHECK(!rx->hospital_id[0] || ids_valid_key(rx->hospital_id, strlen(rx->hospital_id)));
        const char *r = rx_unroutable_reason(rx, FUZZ_NOW_MS);
        FUZZ_CHECK(!r || strcmp(r, "special_management_item") == 0 || strcmp(r, "expired") == 0);
        int cold = rx_needs_cold_chain(rx);
        FUZZ_CHECK(cold == 0 || cold == 1);
        rx_approved_free(rx);
    } else {
        fuzz_why_ok(why, sizeof(why));
    }

    /* A tiny why buffer must still be NUL-terminated and never overrun. */
    char small[8];
    rx = rx_approved_decode(data, size, small, sizeof(small));
    if (rx)
        rx_approved_free(rx);
    else
        FUZZ_CHECK(memchr(small, '\0', sizeof(small)) != NULL);

    memset(why, 0, sizeof(why));
    rx_cancelled *rc = rx_cancelled_decode(data, size, why, sizeof(why));
    if (rc) {
        FUZZ_CHECK(ids_valid(rc->prescription_id, strlen(rc->prescription_id)));
        FUZZ_CHECK(rx_text_valid(rc->reason, strlen(rc->reason)));
        rx_cancelled_free(rc);
    } else {
        fuzz_why_ok(why, sizeof(why));
    }

    /* The text rule on the raw bytes too. */
    int tv = rx_text_valid((const char *)data, size);
    FUZZ_CHECK(tv == 0 || tv == 1);
    return 0;
}
