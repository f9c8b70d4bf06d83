/* ids.c - identifier validation (see ids.h). */
#include "ids.h"

#include <string.h>

int ids_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > IDS_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

int ids_valid_key(const char *s, size_t len)
{
    return ids_valid(s, len) && !memchr(s, ':', len);
}
