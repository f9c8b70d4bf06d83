/* lsap.c - the Hungarian method for rectangular assignment (see lsap.h).
 * Rows are added one at a time; each addition grows a shortest-path tree
 * over the columns with reduced costs cost - u - v until it reaches a free
 * column, then flips the path. Indices are 1-based inside, 0 = none. */
#include "lsap.h"
#include "mem.h"

#include <math.h>
#include <stdlib.h>

typedef struct lsap_work {
    double *u, *v, *minv;
    size_t *row_of_col, *way;
    unsigned char *used;
} lsap_work;

static void lsap_work_free(lsap_work *w)
{
    free(w->u);
    free(w->v);
    free(w->minv);
    free(w->row_of_col);
    free(w->way);
    free(w->used);
}

static void lsap_work_init(lsap_work *w, size_t n, size_t m)
{
    w->u = xcalloc(n + 1, sizeof(double));
    w->v = xcalloc(m + 1, sizeof(double));
    w->minv = xcalloc(m + 1, sizeof(double));
    w->row_of_col = xcalloc(m + 1, sizeof(size_t));
    w->way = xcalloc(m + 1, sizeof(size_t));
    w->used = xcalloc(m + 1, 1);
}

/* One Dijkstra step from column j0: relax every unused column, return the
 * closest one and move the potentials by its distance. */
static size_t lsap_step(lsap_work *w, size_t m, const double *cost, size_t j0)
{
    w->used[j0] = 1;
    size_t i0 = w->row_of_col[j0], j1 = 0;
    const double *row = cost + (i0 - 1) * m;
    double delta = INFINITY;
    for (size_t j = 1; j <= m; j++) {
        if (w->used[j])
            continue;
        double cur = row[j - 1] - w->u[i0] - w->v[j];
        if (cur < w->minv[j]) {
            w->minv[j] = cur;
            w->way[j] = j0;
        }
        if (w->minv[j] < delta) {
            delta = w->minv[j];
            j1 = j;
        }
    }
    for (size_t j = 0; j <= m; j++) {
        if (w->used[j]) {
            w->u[w->row_of_col[j]] += delta;
            w->v[j] -= delta;
        } else {
            w->minv[j] -= delta;
        }
    }
    return j1;
}

static void lsap_add_row(lsap_work *w, size_t m, const double *cost, size_t i)
{
    w->row_of_col[0] = i;
    size_t j0 = 0;
    for (size_t j = 0; j <= m; j++) {
        w->minv[j] = INFINITY;
        w->used[j] = 0;
    }
    do {
        j0 = lsap_step(w, m, cost, j0);
    } while (w->row_of_col[j0] != 0);
    do { /* flip the augmenting path */
        size_t j1 = w->way[j0];
        w->row_of_col[j0] = w->row_of_col[j1];
        j0 = j1;
    } while (j0);
}

int lsap_solve(size_t n, size_t m, const double *cost, size_t *col_of_row)
{
    if (n > m)
        return -1;
    if (n == 0)
        return 0;
    lsap_work w;
    lsap_work_init(&w, n, m);
    for (size_t i = 1; i <= n; i++)
        lsap_add_row(&w, m, cost, i);
    for (size_t j = 1; j <= m; j++)
        if (w.row_of_col[j]) {
            mem_assert(w.row_of_col[j] <= n);
            col_of_row[w.row_of_col[j] - 1] = j - 1;
        }
    lsap_work_free(&w);
    return 0;
}
