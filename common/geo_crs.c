/* geo_crs.c - WGS-84 <-> GCJ-02 (see geo_crs.h). The forward transform is
 * the public formula: a polynomial-plus-sines offset in metres-like units
 * around (105 E, 35 N), scaled to degrees on the Krasovsky 1940 ellipsoid. */
#include "geo_crs.h"

#include <math.h>
#include <stddef.h>
#include <strings.h>

#define GEO_CRS_A 6378245.0               /* Krasovsky semi-major axis, m */
#define GEO_CRS_EE 0.00669342162296594323 /* its first eccentricity squared */
#define GEO_CRS_MAX_STEPS 30              /* the inversion converges in 2-4 */

static const struct {
    const char *name;
    geo_crs crs;
} geo_crs_table[] = {
    {"wgs84", GEO_CRS_WGS84},
    {"gcj02", GEO_CRS_GCJ02},
};

int geo_crs_parse(const char *name, geo_crs *out)
{
    for (size_t i = 0; name && i < sizeof(geo_crs_table) / sizeof(geo_crs_table[0]); i++)
        if (strcasecmp(name, geo_crs_table[i].name) == 0) {
            *out = geo_crs_table[i].crs;
            return 0;
        }
    return -1;
}

const char *geo_crs_name(geo_crs crs)
{
    return crs == GEO_CRS_GCJ02 ? "gcj02" : "wgs84";
}

int geo_crs_in_china(double lat, double lon)
{
    return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
}

/* The waves both offsets share, in x (longitude from 105 E). */
static double geo_crs_wave_x(double x)
{
    return (20.0 * sin(6.0 * x * M_PI) + 20.0 * sin(2.0 * x * M_PI)) * 2.0 / 3.0;
}

static double geo_crs_offset_lat(double x, double y)
{
    double r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(fabs(x));
    r += geo_crs_wave_x(x);
    r += (20.0 * sin(y * M_PI) + 40.0 * sin(y / 3.0 * M_PI)) * 2.0 / 3.0;
    r += (160.0 * sin(y / 12.0 * M_PI) + 320.0 * sin(y * M_PI / 30.0)) * 2.0 / 3.0;
    return r;
}

static double geo_crs_offset_lon(double x, double y)
{
    double r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(fabs(x));
    r += geo_crs_wave_x(x);
    r += (20.0 * sin(x * M_PI) + 40.0 * sin(x / 3.0 * M_PI)) * 2.0 / 3.0;
    r += (150.0 * sin(x / 12.0 * M_PI) + 300.0 * sin(x / 30.0 * M_PI)) * 2.0 / 3.0;
    return r;
}

void geo_crs_wgs84_to_gcj02(double lat, double lon, double *out_lat, double *out_lon)
{
    if (!geo_crs_in_china(lat, lon)) {
        *out_lat = lat;
        *out_lon = lon;
        return;
    }
    double dlat = geo_crs_offset_lat(lon - 105.0, lat - 35.0);
    double dlon = geo_crs_offset_lon(lon - 105.0, lat - 35.0);
    double rad = lat / 180.0 * M_PI;
    double s = sin(rad);
    double magic = 1.0 - GEO_CRS_EE * s * s;
    double sq = sqrt(magic);
    /* metres to degrees: the meridian and the parallel radii of curvature */
    dlat = dlat * 180.0 / ((GEO_CRS_A * (1.0 - GEO_CRS_EE)) / (magic * sq) * M_PI);
    dlon = dlon * 180.0 / (GEO_CRS_A / sq * cos(rad) * M_PI);
    *out_lat = lat + dlat;
    *out_lon = lon + dlon;
}

void geo_crs_gcj02_to_wgs84(double lat, double lon, double *out_lat, double *out_lon)
{
    /* the offset changes slowly with position, so w <- w + (g - f(w))
     * contracts quickly towards the w with f(w) = g */
    double wlat = lat, wlon = lon;
    for (int i = 0; i < GEO_CRS_MAX_STEPS; i++) {
        double glat, glon;
        geo_crs_wgs84_to_gcj02(wlat, wlon, &glat, &glon);
        double elat = lat - glat, elon = lon - glon;
        if (fabs(elat) < GEO_CRS_EPS_DEG && fabs(elon) < GEO_CRS_EPS_DEG)
            break;
        wlat += elat;
        wlon += elon;
    }
    *out_lat = wlat;
    *out_lon = wlon;
}

void geo_crs_to_wgs84(geo_crs crs, double lat, double lon, double *out_lat, double *out_lon)
{
    if (crs == GEO_CRS_GCJ02) {
        geo_crs_gcj02_to_wgs84(lat, lon, out_lat, out_lon);
        return;
    }
    *out_lat = lat;
    *out_lon = lon;
}
