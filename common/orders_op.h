/* orders_op.h - private to the state machine's C face: how one operation
 * is described (its function and the fields of each reply it answers), so
 * that orders.c reads replies by the table and no caller by position. */
#ifndef RXD_ORDERS_OP_H
#define RXD_ORDERS_OP_H

#include <stddef.h>

#include "orders.h"

typedef enum orders_ftype {
    ORDERS_F_END = 0,
    ORDERS_F_STR,   /* const char * */
    ORDERS_F_INT,   /* long long */
    ORDERS_F_NUM,   /* double */
    ORDERS_F_FLAG,  /* int: "1" is 1 */
    ORDERS_F_POINT, /* double, and has_point set when not "" */
    ORDERS_F_ERROR, /* the error word: error, error_word */
} orders_ftype;

typedef struct orders_fspec {
    orders_ftype type;
    size_t off; /* into orders_result */
} orders_fspec;

#define ORDERS_FIELDS_MAX 14

/* The fields after the status word of one kind of reply. */
typedef struct orders_shape {
    orders_status status;
    orders_fspec f[ORDERS_FIELDS_MAX];
} orders_shape;

typedef enum orders_reply_kind {
    ORDERS_R_STATUS = 0, /* status word, then the shape's fields */
    ORDERS_R_IDS,        /* a list of ids (claim) */
    ORDERS_R_POINTS,     /* "ok", then stored|stale per point */
    ORDERS_R_COUNTS,     /* "ok", then name, count, ms per counted thing */
} orders_reply_kind;

struct orders_op {
    const char *fn; /* the library function, "rxd_<op>" */
    orders_reply_kind kind;
    const orders_shape *shapes; /* ends with status ORDERS_FAILED */
};

#endif
