/* place.h - points of a simulated city: a uniformly random point in a disc
 * and the straight-line distance between two points, at city scale. Pure:
 * no I/O, only the caller's PRNG stream. */
#ifndef CITYSIM_PLACE_H
#define CITYSIM_PLACE_H

#include "rng.h"

/* A uniformly random point within radius_m of (lat, lon). */
void place_disc_point(rng *r, double lat, double lon, double radius_m, double *out_lat,
                      double *out_lon);
/* Straight-line metres between two points (equirectangular: city scale). */
double place_distance_m(double lat1, double lon1, double lat2, double lon2);

#endif
