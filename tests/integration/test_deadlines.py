"""The deadlines of the states after acceptance (issue 14 item 3,
docs/architecture.md "Deadlines"), end to end on a stack with deadlines of
1-3 s: each one fires and leads to its next step. Packing: a reminder, then
the order re-routes to the next pharmacy; pickup in store not collected:
RETURNED; a courier that accepted and never came: another courier gets it;
PICKED_UP or RETURNING too long: an exception listed (rxd_exceptions) and
announced on order.events."""
import json
import os
import re
import sys
import urllib.request
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import area, offset, prescription, uid, wait_until  # noqa: E402
from test_courier import CourierTestBase  # noqa: E402

PREFIX = "rxd:{default}:"


class DeadlineTest(CourierTestBase):
    STACK_ENV = {"RXD_DEADLINE_PACK_S": 3, "RXD_DEADLINE_PACK_REMIND_S": 1,
                 "RXD_DEADLINE_COLLECT_S": 2, "RXD_DEADLINE_PICKUP_S": 2,
                 "RXD_DEADLINE_DELIVER_S": 2, "RXD_DEADLINE_RETURN_S": 2}

    def kinds(self, oid):
        return [e["kind"] for e in self.timeline(oid)]

    def event_seen(self, oid, kind, state):
        def seen():
            return any(e.get("kind") == kind and e.get("state") == state
                       for e in self.stack.events(order_id=oid, idle_ms=800))
        wait_until(seen, 20, "%s %s of %s on order.events" % (kind, state, oid))

    def exceptions(self):
        out = self.redis("FCALL", "rxd_exceptions", "1", PREFIX + "anchor", PREFIX, "0", "100")
        status, body = out.split("\n", 1)
        self.assertEqual(status, "ok", out)
        return {e["order_id"]: e for e in json.loads(body)["exceptions"]}

    def deadline_count(self, kind):
        with urllib.request.urlopen(self.stack.vars["RXD_ADMIN_DISPATCHER"] + "/metrics",
                                    timeout=10) as r:
            text = r.read().decode()
        m = re.search(r'rxd_dispatcher_deadlines_total\{kind="%s"\} (\S+)' % kind, text)
        return float(m.group(1)) if m else None

    def test_not_packed_reminds_then_reroutes(self):
        self.place()
        second = uid("ph-b")
        self.stack.register_pharmacy(second, *offset(self.pt, east_m=3000))
        oid = self.accepted_order()
        self.event_seen(oid, "reminded", "ACCEPTED")
        o = self.stack.wait_state(oid, "OFFERED", 20)
        self.assertEqual(o["pharmacy_id"], second)
        kinds = self.kinds(oid)
        self.assertLess(kinds.index("reminded"), kinds.index("pack_expired"), kinds)
        self.assertEqual(kinds.count("reminded"), 1, kinds)
        # the first pharmacy's capacity is free again, and it is told no
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/ready" % oid, self.ph_token)
        self.assertEqual(code, 409, out)
        self.assertEqual(self.redis("SISMEMBER", PREFIX + "ph:%s:active" % self.ph, oid), "0")
        self.assertGreaterEqual(self.deadline_count("pack"), 1)

    def test_pickup_in_store_not_collected_is_returned(self):
        self.place()
        oid = self.accepted_order(fulfilment="PICKUP_IN_STORE", nominated_pharmacy_id=self.ph)
        self.ready(oid)
        o = self.stack.wait_state(oid, "RETURNED", 20)
        last = o["timeline"][-1]
        self.assertEqual((last["kind"], last["reason"]), ("not_collected", "not_collected"))
        self.event_seen(oid, "not_collected", "RETURNED")

    def test_courier_who_never_picks_up_loses_the_order(self):
        self.place()
        first, tok1 = self.courier(200)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), first)
        second, _ = self.courier(900)
        code, out = self.act(oid, tok1, "accept")
        self.assertEqual(code, 200, out)
        wait_until(lambda: self.stack.order(oid)["courier_id"] == second, 20,
                   "the second courier after the first never came")
        lost = [e for e in self.timeline(oid) if e["kind"] == "courier_pickup_timeout"]
        self.assertEqual([e["courier"] for e in lost], [first])
        self.assertEqual(self.redis("HGET", PREFIX + "co:" + first, "misses"), "1")
        self.assertEqual(self.assignments(first, tok1), [])

    def test_picked_up_then_returning_too_long_raise_exceptions(self):
        self.place()
        cid, tok = self.courier(200)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), cid)
        self.assertEqual(self.act(oid, tok, "accept")[0], 200)
        code, out = self.pickup(oid, cid, tok)
        self.assertEqual((code, out["state"]), (200, "PICKED_UP"), out)
        wait_until(lambda: oid in self.exceptions(), 20, "the delivery exception of " + oid)
        e = self.exceptions()[oid]
        self.assertEqual((e["kind"], e["state"], e["reason"]),
                         ("deliver", "PICKED_UP", "delivery_deadline_missed"))
        self.event_seen(oid, "exception", "PICKED_UP")
        self.stays(oid, "PICKED_UP", 2.5)  # raised once, not every tick
        self.assertEqual(self.kinds(oid).count("exception"), 1)
        code, out = self.act(oid, tok, "fail", {"reason": "not_home"})
        self.assertEqual((code, out["state"]), (200, "RETURNING"), out)
        self.assertNotIn(oid, self.exceptions())  # cleared when the order moved on
        wait_until(lambda: self.exceptions().get(oid, {}).get("kind") == "return", 20,
                   "the return exception of " + oid)
        self.event_seen(oid, "exception", "RETURNING")
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/returned" % oid, self.ph_token)
        self.assertEqual((code, out["state"]), (200, "RETURNED"), out)
        self.assertNotIn(oid, self.exceptions())


if __name__ == "__main__":
    unittest.main()
