/* ids.c - the identifier rules (see ids.h). */
#include "ids.h"

typedef struct ids_rule {
    size_t max;
    int colon; /* ':' allowed */
} ids_rule;

static const ids_rule ids_key_rule = {IDS_MAX, 0};
static const ids_rule ids_ref_rule = {IDS_MAX, 1};

static int ids_check(const ids_rule *rule, const char *s, size_t len)
{
    if (!s || len == 0 || len > rule->max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-' || (c == ':' && rule->colon);
        if (!ok)
            return 0;
    }
    return 1;
}

int ids_valid(const char *s, size_t len)
{
    return ids_check(&ids_ref_rule, s, len);
}

int ids_valid_key(const char *s, size_t len)
{
    return ids_check(&ids_key_rule, s, len);
}
