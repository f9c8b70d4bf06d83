"""Couriers and pharmacies with a lifecycle, and the operator's fleet levers
(issue 14 items 1 and 4; common/lua/fleet.lua, registries.lua): stale
couriers leave the geo index and come back with a position; DELETE of a
courier or pharmacy refused with 409 while it holds orders; bench (no new
assignments), pharmacy open/close, zone pause/resume (intake held, routed
after the resume). The operator functions are driven with FCALL, as the
operator API will call them; each one is checked by its effect, its audit
entry and its event on order.events (an 'op' entry of the outbox, relayed
with the subject in place of an order)."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import area, offset, prescription, uid, wait_until  # noqa: E402
from test_courier import CourierTestBase, now_ms  # noqa: E402

PREFIX = "rxd:{default}:"
ACTOR = "operator:op-fleet"


class FleetTest(CourierTestBase):

    def fcall(self, fn, *args):
        return self.redis("FCALL", "rxd_" + fn, "1", PREFIX + "anchor", PREFIX,
                          *[str(a) for a in args]).split("\n")

    def stream(self, key):
        """The entries of a stream as dicts."""
        out = subprocess.run(["redis-cli", "-u", self.stack.vars["RXD_REDIS_URL"], "--json",
                              "XRANGE", PREFIX + key, "-", "+"],
                             capture_output=True, text=True, check=True).stdout
        return [dict(zip(f[0::2], f[1::2])) for _, f in json.loads(out or "[]")]

    def assert_trail(self, action, subject, target, kind, reason):
        """The audit entry and the outbox 'op' entry of one operator action."""
        audit = [e for e in self.stream("audit")
                 if e["action"] == action and e["target"] == "%s:%s" % (subject, target)]
        self.assertEqual(len(audit), 1, audit)
        self.assertEqual((audit[0]["actor"], audit[0]["reason"]), (ACTOR, reason))
        got = {}

        def published():
            got["ops"] = [e for e in self.stack.events(idle_ms=800)
                          if e.get("subject_id") == target and e["kind"] == kind]
            return got["ops"]
        wait_until(published, 20, "%s of %s on order.events" % (kind, target))
        ops = got["ops"]
        self.assertEqual(len(ops), 1, ops)
        self.assertEqual((ops[0]["subject_kind"], ops[0]["actor"], ops[0]["reason"]),
                         (subject, ACTOR, reason))

    def in_courier_geo(self, cid):
        return self.redis("GEOPOS", PREFIX + "idx:co:geo", cid) != ""

    # ---- lifecycle ----

    def test_stale_courier_leaves_the_geo_index_and_comes_back(self):
        self.place()
        # last seen 20 minutes ago: past RXD_COURIER_STALE_S (900 s)
        cid, tok = self.courier(300, ts=now_ms() - 20 * 60 * 1000)
        wait_until(lambda: not self.in_courier_geo(cid), 10, "%s out of the geo index" % cid)
        self.assertEqual(self.redis("HGET", PREFIX + "co:" + cid, "available"), "1")
        lat, lon = offset(self.pt, north_m=300)
        code, out = self.stack.courier_api("PUT", "/v1/couriers/%s/location" % cid, tok,
                                           {"lat": lat, "lon": lon, "ts_ms": now_ms()})
        self.assertEqual((code, out.get("stored")), (200, True), out)
        self.assertTrue(self.in_courier_geo(cid))
        time.sleep(1)  # several sweeps: a fresh courier stays
        self.assertTrue(self.in_courier_geo(cid))

    def test_courier_deregistration_refused_while_holding_an_order(self):
        self.place()
        cid, tok = self.courier(200)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), cid)
        other = self.stack.token("courier", uid("co"))
        code, out = self.stack.courier_api("DELETE", "/v1/couriers/" + cid, other)
        self.assertEqual(code, 403, out)
        code, out = self.stack.courier_api("DELETE", "/v1/couriers/" + cid, tok)
        self.assertEqual(code, 409, out)
        self.assertEqual(out["error"]["code"], "holds_orders")
        self.assertIn("holds 1 orders", out["error"]["message"])
        self.assertTrue(self.in_courier_geo(cid))
        # the operator can deregister an idle one
        idle, _ = self.courier(900)
        code, out = self.stack.courier_api("DELETE", "/v1/couriers/" + idle, self.op_token)
        self.assertEqual((code, out["removed"]), (200, True), out)
        self.assertFalse(self.in_courier_geo(idle))
        self.assertEqual(self.redis("EXISTS", PREFIX + "co:" + idle), "0")

    def test_pharmacy_deregistration_refused_while_holding_an_order(self):
        self.place()
        oid = self.accepted_order()
        code, out = self.stack.pharmacy_api("DELETE", "/v1/pharmacies/" + self.ph, self.ph_token)
        self.assertEqual(code, 403, out)
        code, out = self.stack.pharmacy_api("DELETE", "/v1/pharmacies/" + self.ph, self.op_token)
        self.assertEqual(code, 409, out)
        self.assertIn("holds 1 orders", out["error"]["message"])
        self.stack.rxctl("cancel", self.stack.order(oid)["prescription_id"], "--reason", "test")
        self.stack.wait_state(oid, "CANCELLED")
        code, out = self.stack.pharmacy_api("DELETE", "/v1/pharmacies/" + self.ph, self.op_token)
        self.assertEqual((code, out["removed"]), (200, True), out)
        self.assertEqual(self.redis("GEOPOS", PREFIX + "idx:ph:geo", self.ph), "")

    # ---- operator levers ----

    def test_benched_courier_is_not_assigned(self):
        self.place()
        near, _ = self.courier(100)
        far, _ = self.courier(2500)
        self.assertEqual(self.fcall("courier_bench", near, ACTOR, "no helmet"), ["ok", "benched"])
        self.assert_trail("courier_bench", "courier", near, "op_benched", "no helmet")
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), far)
        self.assertEqual(self.fcall("courier_unbench", near, ACTOR, "helmet found"),
                         ["ok", "unbenched"])
        self.assert_trail("courier_unbench", "courier", near, "op_unbenched", "helmet found")
        oid2 = self.ready_order()
        self.assertEqual(self.assigned_to(oid2), near)
        self.assertEqual(self.fcall("courier_bench", "nobody", ACTOR, "x")[:2],
                         ["err", "not_found"])

    def test_operator_closes_and_opens_a_pharmacy(self):
        self.place()
        self.assertEqual(self.fcall("pharmacy_open", self.ph, ACTOR, "flooded", 0), ["ok", "0"])
        self.assert_trail("pharmacy_close", "pharmacy", self.ph, "op_closed", "flooded")
        pid = uid("rx")
        self.stack.submit(prescription(pid, offset(self.pt, north_m=1500)))
        oid = self.stack.order_id(pid)
        wait_until(lambda: self.timeline(oid)[-1]["kind"] == "held", 15, "held: nothing open")
        self.assertEqual(self.fcall("pharmacy_open", self.ph, ACTOR, "dry again", 1), ["ok", "1"])
        self.assert_trail("pharmacy_open", "pharmacy", self.ph, "op_opened", "dry again")
        self.assertEqual(self.stack.wait_state(oid, "OFFERED")["pharmacy_id"], self.ph)

    def test_zone_paused_intake_is_held_and_routed_after_resume(self):
        self.place()
        zone = uid("zone")
        home = offset(self.pt, north_m=1500)
        self.assertEqual(self.fcall("zone_pause", zone, "circle", ACTOR, "riot", home[0], home[1],
                                    800), ["ok", "paused"])
        self.assert_trail("zone_pause", "zone", zone, "op_paused", "riot")
        self.assertIn("box takes 4 numbers",
                      self.redis("FCALL", "rxd_zone_pause", "1", PREFIX + "anchor", PREFIX,
                                 uid("zone"), "box", ACTOR, "x", "1", "2", "3"))
        inside, outside = uid("rx"), uid("rx")
        self.stack.submit(prescription(inside, offset(home, east_m=300)))
        self.stack.submit(prescription(outside, offset(home, east_m=-1200)))
        oid_in, oid_out = self.stack.order_id(inside), self.stack.order_id(outside)
        self.stack.wait_state(oid_out, "OFFERED")
        wait_until(lambda: self.timeline(oid_in)[-1]["kind"] == "held", 15, "held in the zone")
        self.assertEqual(self.timeline(oid_in)[-1]["reason"], "zone_paused")
        self.assertEqual(self.stack.order(oid_in)["state"], "ROUTING")
        zones = {z["id"]: z for z in json.loads(self.fcall("zones")[1])}
        self.assertEqual((zones[zone]["held"], zones[zone]["kind"]), (1, "circle"))
        time.sleep(1)  # not routed while paused
        self.assertEqual(self.stack.order(oid_in)["state"], "ROUTING")
        self.assertEqual(self.fcall("zone_resume", zone, ACTOR, "calm"), ["ok", "1"])
        self.assert_trail("zone_resume", "zone", zone, "op_resumed", "calm")
        self.assertEqual(self.stack.wait_state(oid_in, "OFFERED")["pharmacy_id"], self.ph)
        self.assertNotIn(zone, {z["id"] for z in json.loads(self.fcall("zones")[1])})


if __name__ == "__main__":
    unittest.main()
