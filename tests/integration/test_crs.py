"""Chinese coordinates (issue 15 item 5; common/geo_crs.c, body.c): the APIs
take an optional "crs" ("wgs84", the default, or "gcj02", what mainland
Chinese map tiles show) and keep WGS-84 inside. A pharmacy registered from a
map in GCJ-02 and a courier reporting raw GPS at the same spot end up metres
apart in the geo indexes; the same GCJ-02 numbers sent without "crs" (taken
as WGS-84) are hundreds of metres away; an unknown crs is a 400 and stores
nothing. The GCJ-02 positions come from a Python port of the public forward
formula, written separately from the C one."""
import json
import math
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import StackTest, http, uid  # noqa: E402

PREFIX = "rxd:{default}:"
WUHAN = (30.5928, 114.3055)  # WGS-84, a street corner in Wuchang


def now_ms():
    return int(time.time() * 1000)


def wgs84_to_gcj02(lat, lon):
    """The public "China offset" on the Krasovsky ellipsoid."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    wave = (20 * math.sin(6 * x * math.pi) + 20 * math.sin(2 * x * math.pi)) * 2 / 3
    dlat = (-100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + wave
            + (20 * math.sin(y * math.pi) + 40 * math.sin(y / 3 * math.pi)) * 2 / 3
            + (160 * math.sin(y / 12 * math.pi) + 320 * math.sin(y * math.pi / 30)) * 2 / 3)
    dlon = (300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + wave
            + (20 * math.sin(x * math.pi) + 40 * math.sin(x / 3 * math.pi)) * 2 / 3
            + (150 * math.sin(x / 12 * math.pi) + 300 * math.sin(x / 30 * math.pi)) * 2 / 3)
    rad = math.radians(lat)
    magic = 1 - ee * math.sin(rad) ** 2
    dlat = dlat * 180 / ((a * (1 - ee)) / (magic * math.sqrt(magic)) * math.pi)
    dlon = dlon * 180 / (a / math.sqrt(magic) * math.cos(rad) * math.pi)
    return lat + dlat, lon + dlon


def metres(p, q):
    r = 6372797.560856  # Redis' earth radius
    dlat, dlon = math.radians(q[0] - p[0]), math.radians(q[1] - p[1])
    h = (math.sin(dlat / 2) ** 2
         + math.cos(math.radians(p[0])) * math.cos(math.radians(q[0])) * math.sin(dlon / 2) ** 2)
    return 2 * r * math.asin(math.sqrt(h))


class CrsTest(StackTest):
    SERVICES = ["pharmacy-gw", "courier-gw", "operator-api"]

    def geopos(self, index, member):
        """The stored WGS-84 position of a member of a geo index, or None."""
        out = self.redis("GEOPOS", PREFIX + index, member).split()
        return (float(out[1]), float(out[0])) if len(out) == 2 else None

    def put_pharmacy(self, pid, lat, lon, **extra):
        body = {"name": "Wuhan " + pid, "lat": lat, "lon": lon, "open": True, "capacity": 5}
        body.update(extra)
        return self.stack.pharmacy_api("PUT", "/v1/pharmacies/" + pid,
                                       self.stack.token("operator", "op-crs"), body)

    def courier_at(self, lat, lon, **extra):
        cid = uid("co")
        tok = self.stack.token("courier", cid)
        code, out = self.stack.courier_api("PUT", "/v1/couriers/%s/availability" % cid, tok,
                                           {"available": True})
        self.assertEqual(code, 200, out)
        body = {"lat": lat, "lon": lon, "ts_ms": now_ms()}
        body.update(extra)
        code, out = self.stack.courier_api("PUT", "/v1/couriers/%s/location" % cid, tok, body)
        return cid, tok, code, out

    def test_gcj02_pharmacy_and_gps_courier_at_one_spot_are_metres_apart(self):
        g = wgs84_to_gcj02(*WUHAN)
        self.assertTrue(100 < metres(WUHAN, g) < 700, metres(WUHAN, g))  # the map's offset
        on_map, as_if_gps = uid("ph"), uid("ph")
        code, out = self.put_pharmacy(on_map, g[0], g[1], crs="gcj02")
        self.assertEqual(code, 200, out)
        # the same map numbers without crs: taken as WGS-84, as before
        code, out = self.put_pharmacy(as_if_gps, g[0], g[1])
        self.assertEqual(code, 200, out)
        cid, _, code, out = self.courier_at(*WUHAN)
        self.assertEqual(code, 200, out)

        courier = self.geopos("idx:co:geo", cid)
        near = metres(self.geopos("idx:ph:geo", on_map), courier)
        far = metres(self.geopos("idx:ph:geo", as_if_gps), courier)
        print("\n  gcj02 pharmacy to gps courier: %.2f m; without crs: %.1f m" % (near, far),
              file=sys.stderr)
        self.assertLess(near, 3.0)
        self.assertGreater(far, 100.0)
        self.assertLess(far, 700.0)
        # the pharmacy record itself holds WGS-84 too
        lat, lon = map(float, self.redis("HMGET", PREFIX + "ph:" + on_map, "lat", "lon").split())
        self.assertLess(metres((lat, lon), WUHAN), 1.0)

    def test_courier_batch_in_gcj02_is_stored_as_wgs84(self):
        cid, tok, code, out = self.courier_at(*WUHAN)
        self.assertEqual(code, 200, out)
        north = (WUHAN[0] + 0.001, WUHAN[1])  # 111 m on
        g = wgs84_to_gcj02(*north)
        t = now_ms()
        code, out = self.stack.courier_api(
            "POST", "/v1/couriers/%s/locations" % cid, tok,
            {"crs": "gcj02", "points": [{"lat": g[0], "lon": g[1], "ts_ms": t}]})
        self.assertEqual(code, 200, out)
        self.assertLess(metres(self.geopos("idx:co:geo", cid), north), 3.0)

    def test_unknown_crs_is_refused_and_nothing_stored(self):
        pid = uid("ph")
        code, out = self.put_pharmacy(pid, *WUHAN, crs="bd09")
        self.assertEqual(code, 400, out)
        self.assertIn('"wgs84" or "gcj02"', str(out))
        self.assertIsNone(self.geopos("idx:ph:geo", pid))
        self.assertEqual(self.redis("EXISTS", PREFIX + "ph:" + pid), "0")

        cid, tok, code, out = self.courier_at(*WUHAN, crs="bd09")
        self.assertEqual(code, 400, out)
        self.assertIn('"wgs84" or "gcj02"', str(out))
        self.assertIsNone(self.geopos("idx:co:geo", cid))
        code, out = self.stack.courier_api(
            "POST", "/v1/couriers/%s/locations" % cid, tok,
            {"crs": "BD09", "points": [{"lat": WUHAN[0], "lon": WUHAN[1], "ts_ms": now_ms()}]})
        self.assertEqual(code, 400, out)
        self.assertIsNone(self.geopos("idx:co:geo", cid))

    def test_operator_zone_in_gcj02_is_kept_as_wgs84(self):
        zone, tok = uid("zone"), self.stack.token("operator", "op-crs")
        g = wgs84_to_gcj02(*WUHAN)
        body = {"reason": "flood", "kind": "circle", "lat": g[0], "lon": g[1], "radius_m": 500,
                "crs": "gcj02"}
        code, out = http("POST", self.stack.vars["RXD_OPERATOR_API"] + "/v1/zones/%s/pause" % zone,
                         tok, body)
        self.assertEqual(code, 200, out)
        z = json.loads(self.redis("HGET", PREFIX + "zones", zone))
        self.assertLess(metres((z["lat"], z["lon"]), WUHAN), 1.0, z)
        body["crs"] = "bd09"
        code, out = http("POST", self.stack.vars["RXD_OPERATOR_API"] + "/v1/zones/%s/pause" % zone,
                         tok, body)
        self.assertEqual(code, 400, out)
        self.assertEqual(json.loads(self.redis("HGET", PREFIX + "zones", zone)), z)


if __name__ == "__main__":
    unittest.main()
