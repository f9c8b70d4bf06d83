/* geo.h - coordinates: validity and great-circle distance. Redis' GEO
 * commands use the same earth radius, so distances agree with GEOSEARCH. */
#ifndef RXD_GEO_H
#define RXD_GEO_H

/* 1 for finite lat in [-85.05112878, 85.05112878] (Redis' geo index limit)
 * and lon in [-180, 180]. */
int geo_valid(double lat, double lon);
/* Haversine distance in metres. */
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);

#endif
