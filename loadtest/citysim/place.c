/* place.c - points in a disc and distances between them. */
#include <math.h>

#include "place.h"

#define PLACE_EARTH_M 6371000.0
#define PLACE_DEG (M_PI / 180.0)

void place_disc_point(rng *r, double lat, double lon, double radius_m, double *out_lat,
                      double *out_lon)
{
    /* sqrt makes the density uniform over the disc, not bunched at the centre */
    double d = radius_m * sqrt(rng_unit(r));
    double a = 2 * M_PI * rng_unit(r);
    *out_lat = lat + (d * cos(a)) / PLACE_EARTH_M / PLACE_DEG;
    *out_lon = lon + (d * sin(a)) / (PLACE_EARTH_M * cos(lat * PLACE_DEG)) / PLACE_DEG;
}

double place_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double x = (lon2 - lon1) * PLACE_DEG * cos((lat1 + lat2) / 2 * PLACE_DEG);
    double y = (lat2 - lat1) * PLACE_DEG;
    return sqrt(x * x + y * y) * PLACE_EARTH_M;
}
