"""The operator console's map feed (docs/operator-api.md, "Live map"): the
live long-poll starts with a cursor mark, wakes with an order's events in
order (state, pharmacy, courier; nothing of the patient) and with an
operator's action on a courier; a trimmed cursor answers a reset mark; the
fleet snapshot shows pharmacies with their load and couriers with their
position age, load and bench; the last hour's figures count a delivery, its
stages and click-to-door, and a pharmacy's accepted and rejected offers; holders' tokens get 403; bad parameters 400."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import http, offset, prescription, uid  # noqa: E402
from test_courier import CourierTestBase  # noqa: E402

PREFIX = "rxd:{default}:"


class LiveTest(CourierTestBase):
    def setUp(self):
        self.place()
        self.desk = self.stack.token("desk", "desk-li")

    def api(self, path, token=None):
        return http("GET", self.stack.vars["RXD_OPERATOR_API"] + path, token or self.desk)

    def start(self):
        code, out = self.api("/v1/live")
        self.assertEqual(code, 200, out)
        [mark] = out["events"]
        self.assertEqual(mark["kind"], "start")
        return mark["id"]

    def drain(self, cursor, until, timeout=20):
        """Long-polls from cursor until until(events so far) holds."""
        seen, deadline = [], time.time() + timeout
        while time.time() < deadline:
            code, out = self.api("/v1/live?wait=5&after=" + cursor)
            self.assertEqual(code, 200, out)
            for e in out["events"]:
                self.assertNotEqual(e["kind"], "reset", out)
                seen.append(e)
                cursor = e["id"]
            if until(seen):
                return seen, cursor
        self.fail("the live feed never showed it: %s" % seen)

    def test_order_events_in_order(self):
        cursor = self.start()
        oid = self.accepted_order()
        evs, cursor = self.drain(cursor, lambda s: any(
            e.get("sid") == oid and e.get("state") == "ACCEPTED" for e in s))
        mine = [e for e in evs if e.get("sid") == oid]
        self.assertEqual([e["state"] for e in mine][-2:], ["OFFERED", "ACCEPTED"])
        for e in mine:
            self.assertEqual(e["subject"], "order")
            if e["state"] in ("OFFERED", "ACCEPTED"):
                self.assertEqual(e["pharmacy"], self.ph)
            self.assertIsInstance(e["at_ms"], int)
            for private in ("patient", "code", "address", "items", "rx"):
                self.assertNotIn(private, e)
        # ids only grow, so the cursor never goes back
        ids = [tuple(map(int, e["id"].split("-"))) for e in evs]
        self.assertEqual(ids, sorted(ids))

    def test_long_poll_waits_then_wakes(self):
        cursor = self.start()
        got = {}

        def poll():
            t0 = time.time()
            got["reply"] = self.api("/v1/live?wait=15&after=" + cursor)
            got["s"] = time.time() - t0
        t = threading.Thread(target=poll)
        t.start()
        time.sleep(1.5)
        self.assertTrue(t.is_alive(), "a long-poll with nothing new answered at once")
        cid, _ = self.courier(300)
        self.stack.rxctl("courier-bench", cid, "--reason", "flat tyre")
        t.join(20)
        code, out = got["reply"]
        self.assertEqual(code, 200, out)
        self.assertLess(got["s"], 14, "woken by the event, not by the end of the wait")
        [e] = [e for e in out["events"] if e.get("sid") == cid]
        self.assertEqual((e["subject"], e["kind"]), ("courier", "op_benched"))
        # nothing new: an empty answer after the wait
        code, out = self.api("/v1/live?wait=0&after=" + out["events"][-1]["id"])
        self.assertEqual((code, out), (200, {"events": []}))

    def test_trimmed_cursor_resets(self):
        self.start()
        self.accepted_order()
        first = self.redis("XRANGE", PREFIX + "live", "-", "+", "COUNT", "1")
        self.assertTrue(first, "the live stream holds the order's events")
        # a cursor older than everything kept, whose own entry is gone
        code, out = self.api("/v1/live?after=1-0")
        self.assertEqual(code, 200, out)
        [mark] = out["events"]
        self.assertEqual(mark["kind"], "reset")
        self.assertEqual(self.api("/v1/live?after=" + mark["id"])[1], {"events": []})

    def test_fleet_snapshot(self):
        cid, tok = self.courier(200, capacity=2)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), cid)
        self.stack.rxctl("courier-bench", cid, "--reason", "checking the box")
        code, out = self.api("/v1/fleet?kind=couriers")
        self.assertEqual(code, 200, out)
        [c] = [c for c in out["couriers"] if c["id"] == cid]
        self.assertEqual((c["load"], c["capacity"], c["benched"]), (1, 2, True))
        self.assertGreaterEqual(c["pos_age_ms"], 0)
        self.assertAlmostEqual(c["lat"], self.pt[0], delta=0.05)
        self.assertFalse(out["truncated"])
        code, out = self.api("/v1/fleet?kind=pharmacies&limit=1000")
        self.assertEqual(code, 200, out)
        [p] = [p for p in out["pharmacies"] if p["id"] == self.ph]
        self.assertEqual((p["load"], p["open"]), (1, True))
        self.assertIn("name", p)

    def figures(self):
        code, out = self.api("/v1/figures?window_s=600")
        self.assertEqual(code, 200, out)
        return out

    def test_figures_count_what_happened(self):
        before = self.figures()
        oid, _ = self.delivered_order()
        self.offered_then_rejected()
        self.unroutable_order()
        after = self.figures()

        def grew(path, by=1):
            def get(f):
                for p in path:
                    f = f.get(p, {}) if isinstance(f, dict) else {}
                return f if isinstance(f, int) else 0
            self.assertEqual(get(after) - get(before), by, (path, before, after))
        grew(["entered", "DELIVERED"])
        grew(["entered", "ACCEPTED"])
        grew(["click_to_door", "n"])
        grew(["stages", "PICKED_UP", "n"])
        grew(["stages", "COURIER_ASSIGNED", "n"])
        self.assertGreater(after["click_to_door"]["p90_ms"], 0)
        self.assertGreaterEqual(after["click_to_door"]["p90_ms"], after["click_to_door"]["p50_ms"])
        [a] = [a for a in after["acceptance"] if a["pharmacy"] == self.ph]
        was = [b for b in before["acceptance"] if b["pharmacy"] == self.ph]
        acc0, dec0 = (was[0]["accepted"], was[0]["declined"]) if was else (0, 0)
        self.assertEqual((a["accepted"] - acc0, a["declined"] - dec0), (1, 1), a)
        self.assertAlmostEqual(a["rate"], a["accepted"] / a["offers"])
        self.assertEqual(after["unroutable"].get("expired", 0) -
                         before["unroutable"].get("expired", 0), 1,
                         (before["unroutable"], after["unroutable"]))
        self.assertEqual(set(after["live"]), {"ROUTING", "OFFERED", "ACCEPTED", "READY",
                                              "COURIER_ASSIGNED", "PICKED_UP", "RETURNING"})
        self.assertEqual(after["window_s"], 600)

    def offered_then_rejected(self):
        pid = uid("rx")
        self.stack.submit(prescription(pid, offset(self.pt, north_m=1500)))
        oid = self.stack.order_id(pid)
        self.stack.wait_state(oid, "OFFERED")
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/reject" % oid, self.ph_token,
                                            {"reason": "out_of_stock"})
        self.assertEqual(code, 200, out)
        self.stack.wait_state(oid, "ROUTING")
        return oid

    def unroutable_order(self):
        """A prescription that expired before it arrived."""
        pid = uid("rx")
        self.stack.submit(prescription(pid, offset(self.pt, north_m=1500),
                                       expires_at_ms=int(time.time() * 1000) - 3600 * 1000))
        oid = self.stack.order_id(pid)
        self.stack.wait_state(oid, "UNROUTABLE")
        return oid

    def test_roles_and_bad_input(self):
        for tok in (self.ph_token, self.stack.token("courier", "co-li")):
            self.assertEqual(self.api("/v1/live", tok)[0], 403)
            self.assertEqual(self.api("/v1/fleet?kind=couriers", tok)[0], 403)
        self.assertEqual(self.api("/v1/live", self.stack.token("auditor", "aud-li"))[0], 200)
        self.assertEqual(self.api("/v1/figures", self.ph_token)[0], 403)
        for q in ("/v1/figures?window_s=10", "/v1/figures?window_s=9000", "/v1/live?after=abc", "/v1/live?wait=31", "/v1/live?after=1-",
                  "/v1/fleet", "/v1/fleet?kind=orders", "/v1/fleet?kind=couriers&limit=0"):
            code, out = self.api(q)
            self.assertEqual(code, 400, (q, out))
            self.assertIn("error", out)


if __name__ == "__main__":
    unittest.main()
