/* dayshape.c - the hourly weights of a day of online prescriptions in a
 * province: almost nothing between 1 and 5 am, a morning peak after the
 * outpatient clinics open, a lunch dip, and an evening peak when people
 * order from home. Relative weights; dayshape_due scales them to the mean
 * rate, so a run of whole days sends rate x duration prescriptions. */
#include "dayshape.h"

#define DAYSHAPE_HOURS 24

static const double dayshape_weight[DAYSHAPE_HOURS] = {
    0.30, 0.20, 0.15, 0.10, 0.10, 0.15, 0.40, 0.80, 1.30, 1.70, 1.80, 1.60,
    1.20, 1.20, 1.40, 1.50, 1.40, 1.30, 1.30, 1.60, 1.80, 1.60, 1.10, 0.60,
};

static double dayshape_mean(void)
{
    double sum = 0;
    for (int h = 0; h < DAYSHAPE_HOURS; h++)
        sum += dayshape_weight[h];
    return sum / DAYSHAPE_HOURS;
}

double dayshape_factor(double day_s, double elapsed_s)
{
    if (day_s <= 0)
        return 1.0;
    double hour_s = day_s / DAYSHAPE_HOURS;
    long h = (long)(elapsed_s / hour_s) % DAYSHAPE_HOURS;
    return dayshape_weight[h] / dayshape_mean();
}

double dayshape_due(double rate, double day_s, double elapsed_s)
{
    if (day_s <= 0)
        return rate * elapsed_s;
    double mean = dayshape_mean();
    double hour_s = day_s / DAYSHAPE_HOURS;
    long days = (long)(elapsed_s / day_s);
    double rem = elapsed_s - (double)days * day_s;
    double due = (double)days * rate * day_s;
    int h = 0;
    for (; h < DAYSHAPE_HOURS && rem >= hour_s; h++, rem -= hour_s)
        due += rate * hour_s * dayshape_weight[h] / mean;
    if (h < DAYSHAPE_HOURS)
        due += rate * rem * dayshape_weight[h] / mean;
    return due;
}
