/* fuzz_ids.c - the id rules of common/ids.c, the one check every boundary
 * (HTTP paths, JSON bodies, tokens, Kafka messages) runs before an id may
 * name a Redis key.
 *
 * Properties, on the whole input and on every prefix cut at a NUL or ':':
 * an accepted key id is 1-IDS_MAX bytes of [A-Za-z0-9._-] (no ':', no
 * byte outside the charset), so a key "<kind>:<id>" built from it has
 * exactly one ':'; an accepted reference id is the same charset with ':';
 * key ids are exactly the reference ids without ':'; the verdict depends
 * only on the len bytes given (each is checked in a buffer of exactly that
 * size, so ASan sees a read past the end). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "ids.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int in_charset(unsigned char c, int colon)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || (colon && c == ':');
}

/* What the rule says, written from ids.h's contract, not from ids.c. */
static int by_contract(const uint8_t *s, size_t len, int colon)
{
    if (len < 1 || len > IDS_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!in_charset(s[i], colon))
            return 0;
    return 1;
}

static void check_one(const uint8_t *data, size_t len)
{
    char *s = malloc(len ? len : 1); /* exactly len bytes: no terminator to lean on */
    if (!s)
        return;
    if (len)
        memcpy(s, data, len);
    int key = ids_valid_key(s, len), ref = ids_valid(s, len);
    FUZZ_CHECK(key == 0 || key == 1);
    FUZZ_CHECK(ref == 0 || ref == 1);
    FUZZ_CHECK(key == by_contract(data, len, 0));
    FUZZ_CHECK(ref == by_contract(data, len, 1));
    int has_colon = len > 0 && memchr(s, ':', len) != NULL;
    FUZZ_CHECK(key == (ref && !has_colon));
    if (key) {
        FUZZ_CHECK(len >= 1 && len <= IDS_MAX);
        FUZZ_CHECK(memchr(s, '\0', len) == NULL);
        /* "ph:<id>" names pharmacy <id> and nothing else: one separator */
        char k[IDS_MAX + 4] = "ph:";
        memcpy(k + 3, s, len);
        k[3 + len] = '\0';
        FUZZ_CHECK(strchr(k + 3, ':') == NULL);
        FUZZ_CHECK(strlen(k) == 3 + len);
    }
    free(s);
    /* NULL is never an id, whatever the length */
    FUZZ_CHECK(ids_valid_key(NULL, len) == 0 && ids_valid(NULL, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_one(data, size);
    for (size_t i = 0; i < size; i++)
        if (data[i] == '\0' || data[i] == ':' || data[i] == '/')
            check_one(data, i); /* what a C string or a key split would see */
    if (size > IDS_MAX)
        check_one(data, IDS_MAX); /* the longest that may pass */
    return 0;
}
