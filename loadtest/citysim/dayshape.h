/* dayshape.h - a province's day of prescriptions: how many of a run's
 * prescriptions are due by a given time when one simulated day passes in
 * day_s real seconds. Pure: no clock, no I/O. */
#ifndef CITYSIM_DAYSHAPE_H
#define CITYSIM_DAYSHAPE_H

/* Prescriptions due elapsed_s into the run at a mean of rate per second:
 * rate * elapsed_s when day_s <= 0 (a flat rate), else following the hourly
 * weights of dayshape.c, the day starting at midnight. */
double dayshape_due(double rate, double day_s, double elapsed_s);

/* The rate at elapsed_s relative to the mean (1.0 for a flat day). */
double dayshape_factor(double day_s, double elapsed_s);

#endif
