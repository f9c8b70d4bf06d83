/* geo.c - coordinate checks and distances (see geo.h). */
#include "geo.h"

#include <math.h>

#define GEO_EARTH_RADIUS_M 6372797.560856 /* as Redis geohash_helper.c */
#define GEO_LAT_MAX 85.05112878

int geo_valid(double lat, double lon)
{
    return isfinite(lat) && isfinite(lon) && lat >= -GEO_LAT_MAX && lat <= GEO_LAT_MAX &&
           lon >= -180.0 && lon <= 180.0;
}

double geo_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double r = M_PI / 180.0;
    double dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * r) * cos(lat2 * r) * sin(dlon / 2) * sin(dlon / 2);
    return 2.0 * GEO_EARTH_RADIUS_M * asin(sqrt(a));
}
