"""The hold for UNROUTABLE (issue 14 item 3, docs/architecture.md "The hold
for UNROUTABLE"): an order that finds nothing open in range waits in ROUTING
(event `held`) instead of ending; a pharmacy opening near it gets the offer;
a hold that runs out (the prescription's expiry) ends UNROUTABLE expired; an
operator's retry (rxd_retry) sends it back to routing with its actor on the
event and an audit entry."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import StackTest, area, offset, prescription, uid, wait_until  # noqa: E402

PREFIX = "rxd:{default}:"


class HoldTest(StackTest):
    SERVICES = ["rx-router", "pharmacy-gw"]

    def fcall(self, fn, *args):
        return self.redis("FCALL", "rxd_" + fn, "1", PREFIX + "anchor", PREFIX, *args).split("\n")

    def kinds(self, oid):
        return [(e["kind"], e["reason"]) for e in self.stack.order(oid)["timeline"]]

    def held_order(self, home, **fields):
        """Submits a prescription at home and waits until it is held."""
        pid = uid("rx")
        self.stack.submit(prescription(pid, home, **fields))
        oid = self.stack.order_id(pid)
        wait_until(lambda: ("held", "no_eligible_pharmacy") in self.kinds(oid), 15,
                   "%s held (timeline %s)" % (oid, self.kinds(oid)))
        self.assertEqual(self.stack.order(oid)["state"], "ROUTING")
        return oid

    def test_held_when_all_closed_then_offered_when_one_opens(self):
        home = area()
        ph = uid("ph-closed")
        tok = self.stack.register_pharmacy(ph, *offset(home, east_m=1200), open=False)
        oid = self.held_order(home)
        # held: in the hold, not in the routing queue, announced on order.events
        self.assertNotEqual(self.redis("ZSCORE", PREFIX + "hold", oid), "")
        self.assertEqual(self.redis("ZSCORE", PREFIX + "due", oid), "")
        wait_until(lambda: any(e.get("kind") == "held" and e.get("state") == "ROUTING"
                               for e in self.stack.events(order_id=oid, idle_ms=800)),
                   20, "held of %s on order.events" % oid)
        counts = self.fcall("queue_counts")
        self.assertGreaterEqual(int(counts[counts.index("hold") + 1]), 1, counts)
        # the pharmacy opens: the held order is offered to it
        code, out = self.stack.pharmacy_api("PUT", "/v1/pharmacies/%s/status" % ph, tok,
                                            {"open": True})
        self.assertEqual(code, 200, out)
        o = self.stack.wait_state(oid, "OFFERED", 15)
        self.assertEqual(o["pharmacy_id"], ph)
        self.assertIn(("hold_released", "pharmacy_opened"), self.kinds(oid))
        self.assertEqual(self.redis("ZSCORE", PREFIX + "hold", oid), "")

    def test_restock_releases_a_held_order(self):
        home = area()
        ph = uid("ph-empty")
        tok = self.stack.register_pharmacy(ph, *offset(home, north_m=900))
        code, out = self.stack.pharmacy_api("PUT", "/v1/pharmacies/%s/stock" % ph, tok,
                                            {"items": {"PZN-999": 5}})
        self.assertEqual(code, 200, out)
        oid = self.held_order(home)
        code, out = self.stack.pharmacy_api("PUT", "/v1/pharmacies/%s/stock" % ph, tok,
                                            {"items": {"PZN-100": 5}})
        self.assertEqual(code, 200, out)
        self.assertEqual(self.stack.wait_state(oid, "OFFERED", 15)["pharmacy_id"], ph)
        self.assertIn(("hold_released", "restocked"), self.kinds(oid))

    def test_a_pharmacy_registered_nearby_gets_a_held_order(self):
        home = area()
        oid = self.held_order(home)
        ph = uid("ph-new")
        self.stack.register_pharmacy(ph, *offset(home, north_m=-2000))
        self.assertEqual(self.stack.wait_state(oid, "OFFERED", 15)["pharmacy_id"], ph)

    def test_hold_ends_unroutable_expired_at_the_prescriptions_expiry(self):
        home = area()
        oid = self.held_order(home, expires_at_ms=int(time.time() * 1000) + 4000)
        o = self.stack.wait_state(oid, "UNROUTABLE", 20)
        self.assertEqual(o["timeline"][-1]["reason"], "expired")
        self.assertEqual(self.redis("ZSCORE", PREFIX + "hold", oid), "")

    def test_operator_retry_of_a_held_order(self):
        home = area()
        oid = self.held_order(home)
        self.assertEqual(self.fcall("retry", oid, "operator:op-7", "pharmacy phoned: open now"),
                         ["ok", "ROUTING", "held"])
        # still nothing open: routed again and held again, the retry in between
        wait_until(lambda: [k for k, _ in self.kinds(oid)].count("held") == 2, 15,
                   "held again after the retry (%s)" % self.kinds(oid))
        tl = self.stack.order(oid)["timeline"]
        retry = [e for e in tl if e["kind"] == "op_retry"]
        self.assertEqual(len(retry), 1, tl)
        self.assertEqual(retry[0].get("actor"), "operator:op-7")
        audit = self.redis("XRANGE", PREFIX + "audit", "-", "+").split("\n")
        i = max(i for i, v in enumerate(audit) if v == "order:" + oid)
        self.assertEqual(audit[i - 2:i + 3][0], "retry", audit[i - 6:i + 6])
        self.assertIn("operator:op-7", audit[i - 6:i])
        # an order that is neither held nor parked cannot be retried
        self.assertEqual(self.fcall("retry", "nosuchorder", "operator:op-7", "x")[:2],
                         ["err", "not_found"])


if __name__ == "__main__":
    unittest.main()
