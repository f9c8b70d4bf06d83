"""Courier side end to end (SPEC sections 3, 5, 6): the courier gateway, the
dispatcher and the courier operations of the state machine, on a private
stack. Each test works in its own area (harness.area()), so the only
couriers a dispatch can find are the test's own."""
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BUILD, StackTest, area, free_port, http_status, offset, prescription, uid,  # noqa: E402
                     wait_until)

DRUG = "Amoxicillin 500mg"
ADDRESS = "Test street 1, flat 2"


def now_ms():
    return int(time.time() * 1000)


class CourierTestBase(StackTest):
    """Helpers: a pharmacy in a fresh area, couriers around it, orders
    taken through the pharmacy's side up to READY."""

    def place(self, **pharmacy_fields):
        self.pt = area()
        self.ph = uid("ph")
        self.ph_token = self.stack.register_pharmacy(self.ph, self.pt[0], self.pt[1],
                                                     **dict({"capacity": 30}, **pharmacy_fields))
        self.op_token = self.stack.token("operator", "op-test")

    def courier(self, north_m, cold=False, capacity=1, available=True, ts=None, cid=None):
        cid = cid or uid("co")
        tok = self.stack.token("courier", cid)
        code, out = self.stack.courier_api("PUT", "/v1/couriers/%s/availability" % cid, tok,
                                           {"available": available, "cold_chain": cold,
                                            "capacity": capacity})
        self.assertEqual(code, 200, out)
        lat, lon = offset(self.pt, north_m=north_m)
        code, out = self.stack.courier_api("PUT", "/v1/couriers/%s/location" % cid, tok,
                                           {"lat": lat, "lon": lon,
                                            "ts_ms": ts if ts is not None else now_ms()})
        self.assertEqual(code, 200, out)
        self.assertTrue(out["stored"], out)
        return cid, tok

    def accepted_order(self, **fields):
        pid = uid("rx")
        self.stack.submit(prescription(pid, offset(self.pt, north_m=1500), **fields))
        oid = self.stack.order_id(pid)
        self.stack.wait_state(oid, "OFFERED")
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/accept" % oid, self.ph_token)
        self.assertEqual(code, 200, out)
        return oid

    def ready(self, oid):
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/ready" % oid, self.ph_token)
        self.assertEqual(code, 200, out)

    def ready_order(self, **fields):
        oid = self.accepted_order(**fields)
        self.ready(oid)
        return oid

    def assigned_to(self, oid, timeout=15):
        o = self.stack.wait_state(oid, "COURIER_ASSIGNED", timeout)
        return o["courier_id"]

    def act(self, oid, tok, action, body=None):
        return self.stack.courier_api("POST", "/v1/orders/%s/courier/%s" % (oid, action), tok,
                                      body)

    def pickup(self, oid, cid, tok):
        """Pickup needs proof of presence (docs/courier-api.md): a fresh
        position at the pharmacy first, then the pickup."""
        code, out = self.stack.courier_api("PUT", "/v1/couriers/%s/location" % cid, tok,
                                           {"lat": self.pt[0], "lon": self.pt[1],
                                            "ts_ms": now_ms()})
        self.assertEqual(code, 200, out)
        return self.act(oid, tok, "pickup")

    def assignments(self, cid, tok, wait=0):
        code, out = self.stack.courier_api("GET", "/v1/couriers/%s/assignments?wait=%d"
                                           % (cid, wait), tok)
        self.assertEqual(code, 200, out)
        return out["assignments"]

    def handover_code(self, oid):
        return self.stack.handover_code(oid)

    def delivered_order(self):
        """A new order through to DELIVERED by a new courier: (oid, cid)."""
        cid, tok = self.courier(200)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), cid)
        self.assertEqual(self.act(oid, tok, "accept")[0], 200)
        self.assertEqual(self.pickup(oid, cid, tok)[0], 200)
        code, out = self.act(oid, tok, "deliver", {"handover_code": self.handover_code(oid)})
        self.assertEqual(code, 200, out)
        self.stack.wait_state(oid, "DELIVERED")
        return oid, cid

    def stays(self, oid, state, seconds):
        """The order is still in state after seconds (no courier found)."""
        time.sleep(seconds)
        self.assertEqual(self.stack.order(oid)["state"], state)

    def timeline(self, oid):
        return self.stack.order(oid)["timeline"]


class CourierTest(CourierTestBase):
    """Default deadlines (30 s to accept)."""

    def test_full_lifecycle(self):
        self.place()
        cid, tok = self.courier(300)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), cid)
        code, out = self.act(oid, tok, "accept")
        self.assertEqual((code, out["state"]), (200, "COURIER_ASSIGNED"), out)
        code, out = self.pickup(oid, cid, tok)
        self.assertEqual((code, out["state"]), (200, "PICKED_UP"), out)
        code, out = self.act(oid, tok, "deliver", {"handover_code": self.handover_code(oid)})
        self.assertEqual((code, out["state"]), (200, "DELIVERED"), out)
        self.assertEqual(self.assignments(cid, tok), [])

        def all_events():
            evs = self.stack.events(order_id=oid, idle_ms=1000)
            return evs if evs and evs[-1]["state"] == "DELIVERED" else None

        wait_until(lambda: all_events() is not None, 30, "DELIVERED on order.events")
        evs = {e["seq"]: e for e in all_events()}  # the relay may repeat one
        self.assertEqual(sorted(evs), list(range(1, len(evs) + 1)))
        kinds = [evs[s]["kind"] for s in sorted(evs)]
        self.assertEqual(kinds, ["created", "offered", "accepted", "ready", "courier_assigned",
                                 "courier_accepted", "picked_up", "delivered"])
        self.assertEqual(evs[max(evs)]["courier_id"], cid)
        for e in evs.values():
            self.assertNotIn(DRUG, json.dumps(e))

    def test_nearest_fresh_available_courier_chosen(self):
        self.place()
        self.courier(100, ts=now_ms() - 120000)       # nearest: position too old
        self.courier(200, available=False)            # next: not available
        near, _ = self.courier(800)
        self.courier(2000)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), near)

    def test_cold_chain_only_to_cold_box(self):
        self.place(cold_chain=True)
        self.courier(100)
        cold, _ = self.courier(1500, cold=True)
        items = [{"drug_code": "PZN-200", "name": "Insulin", "quantity": 1, "cold_chain": True}]
        oid = self.ready_order(items=items)
        self.assertEqual(self.assigned_to(oid), cold)
        # and a plain order still goes to the nearest
        oid2 = self.ready_order()
        self.assertNotEqual(self.assigned_to(oid2), cold)

    def test_capacity_respected(self):
        self.place()
        cid, tok = self.courier(300, capacity=2)
        oids = [self.ready_order() for _ in range(3)]
        wait_until(lambda: len(self.assignments(cid, tok)) == 2, 15, "two assignments")
        waiting = [o for o in oids if self.stack.order(o)["state"] == "READY"]
        self.assertEqual(len(waiting), 1)
        self.stays(waiting[0], "READY", 3)
        self.assertEqual(len(self.assignments(cid, tok)), 2)
        # a delivery frees a place: the third order gets the courier
        first = self.assignments(cid, tok)[0]["order_id"]
        self.assertEqual(self.pickup(first, cid, tok)[0], 200)
        code, out = self.act(first, tok, "deliver", {"handover_code": self.handover_code(first)})
        self.assertEqual(code, 200, out)
        self.assertEqual(self.assigned_to(waiting[0]), cid)
        self.assertEqual(len(self.assignments(cid, tok)), 2)

    def test_decline_goes_to_next_courier(self):
        self.place()
        first, tok1 = self.courier(200)
        second, tok2 = self.courier(900)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), first)
        code, out = self.act(oid, tok1, "decline", {"reason": "flat tyre"})
        self.assertEqual((code, out["state"]), (200, "READY"), out)
        wait_until(lambda: self.stack.order(oid)["courier_id"] == second, 15,
                   "the second courier")
        self.assertEqual(self.assignments(first, tok1), [])
        declined = [e for e in self.timeline(oid) if e["kind"] == "courier_declined"]
        self.assertEqual(declined[0]["courier"], first)
        self.assertEqual(declined[0]["reason"], "flat tyre")

    def test_wrong_code_then_locked_then_fail_and_return(self):
        self.place()
        cid, tok = self.courier(300)
        oid = self.ready_order()
        self.assigned_to(oid)
        self.assertEqual(self.pickup(oid, cid, tok)[0], 200)
        right = self.handover_code(oid)
        wrong = "%06d" % ((int(right) + 1) % 1000000)
        self.assertEqual(self.act(oid, tok, "deliver", {})[0], 400)
        for left in range(4, -1, -1):
            code, out = self.act(oid, tok, "deliver", {"handover_code": wrong})
            self.assertEqual(code, 409, out)
            self.assertIn("%d tries left" % left, out["error"]["message"])
        code, out = self.act(oid, tok, "deliver", {"handover_code": right})
        self.assertEqual(code, 429, out)
        self.assertEqual(self.stack.order(oid)["state"], "PICKED_UP")
        self.assertEqual(self.act(oid, tok, "fail", {})[0], 400)  # the reason is required
        code, out = self.act(oid, tok, "fail", {"reason": "nobody home"})
        self.assertEqual((code, out["state"]), (200, "RETURNING"), out)
        self.assertEqual(self.assignments(cid, tok)[0]["state"], "RETURNING")
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/returned" % oid,
                                            self.ph_token)
        self.assertEqual((code, out["state"]), (200, "RETURNED"), out)
        self.assertEqual(self.assignments(cid, tok), [])

    def test_cancel_before_pickup_releases_courier_after_pickup_409(self):
        self.place()
        cid, tok = self.courier(300, capacity=2)
        oid = self.ready_order()
        self.assigned_to(oid)
        self.assertEqual(len(self.assignments(cid, tok)), 1)
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/cancel" % oid, self.op_token,
                                            {"reason": "patient cancelled"})
        self.assertEqual((code, out["state"]), (200, "CANCELLED"), out)
        self.assertEqual(self.assignments(cid, tok), [])
        self.assertEqual(self.act(oid, tok, "pickup")[0], 409)
        oid2 = self.ready_order()
        self.assigned_to(oid2)
        self.assertEqual(self.pickup(oid2, cid, tok)[0], 200)
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/cancel" % oid2, self.op_token)
        self.assertEqual(code, 409, out)
        self.assertEqual(self.stack.order(oid2)["state"], "PICKED_UP")

    def test_assignment_view_privacy(self):
        self.place()
        cid, tok = self.courier(300)
        oid = self.ready_order()
        self.assigned_to(oid)
        a = self.assignments(cid, tok, wait=5)
        self.assertEqual(len(a), 1)
        a = a[0]
        self.assertEqual((a["order_id"], a["pharmacy_id"]), (oid, self.ph))
        self.assertIn("lat", a["pharmacy"])
        self.assertIn("lat", a["dropoff"])
        self.assertIn("accept_by", a)
        self.assertNotIn("address", a)
        text = json.dumps(a)
        for secret in (DRUG, "PZN-100", "pat-", ADDRESS):
            self.assertNotIn(secret, text)
        self.assertEqual(self.pickup(oid, cid, tok)[0], 200)
        a = self.assignments(cid, tok)[0]
        self.assertEqual(a["address"], ADDRESS)
        for secret in (DRUG, "PZN-100", "pat-"):
            self.assertNotIn(secret, json.dumps(a))

    def test_longpoll_wakes_on_assignment(self):
        self.place()
        cid, tok = self.courier(300)
        oid = self.accepted_order()
        out = {}

        def poll():
            out["t0"] = time.time()
            out["a"] = self.assignments(cid, tok, wait=20)
            out["t1"] = time.time()

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        self.ready(oid)
        t.join(30)
        self.assertEqual([a["order_id"] for a in out["a"]], [oid])
        self.assertLess(out["t1"] - out["t0"], 15)

    def test_batch_of_locations(self):
        self.place()
        cid, tok = self.courier(5000)
        t = now_ms() + 1  # strictly after the position courier() stored
        pts = []
        for i in range(5):
            lat, lon = offset(self.pt, north_m=4000 - 800 * i)
            pts.append({"lat": lat, "lon": lon, "ts_ms": t + 1000 * i})
        pts.insert(2, dict(pts[0], ts_ms=t - 5000))  # late and older: not stored
        code, out = self.stack.courier_api("POST", "/v1/couriers/%s/locations" % cid, tok,
                                           {"points": pts})
        self.assertEqual((code, out), (200, {"courier_id": cid, "stored": 5}))
        code, out = self.stack.courier_api("PUT", "/v1/couriers/%s/location" % cid, tok,
                                           dict(pts[0]))
        self.assertEqual((code, out["stored"]), (200, False))
        self.assertEqual(self.stack.courier_api("POST", "/v1/couriers/%s/locations" % cid, tok,
                                                {"points": [{"lat": 91, "lon": 0,
                                                             "ts_ms": t}]})[0], 400)
        # the last point (800 m off) is where the courier is now
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), cid)
        a = self.assignments(cid, tok)[0]
        self.assertTrue(a["order_id"] == oid)

    def test_http_errors(self):
        self.place()
        cid, tok = self.courier(300)
        other, other_tok = self.courier(400, available=False)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), cid)
        api = self.stack.courier_api
        loc = {"lat": self.pt[0], "lon": self.pt[1], "ts_ms": now_ms()}
        self.assertEqual(api("PUT", "/v1/couriers/%s/location" % cid, None, loc)[0], 401)
        self.assertEqual(api("PUT", "/v1/couriers/%s/location" % cid, "rxd1.bad.token",
                             loc)[0], 401)
        self.assertEqual(self.act(oid, None, "accept")[0], 401)
        # another courier's order, another courier's position, a pharmacy's token
        self.assertEqual(self.act(oid, other_tok, "accept")[0], 403)
        self.assertEqual(api("PUT", "/v1/couriers/%s/location" % cid, other_tok, loc)[0], 403)
        self.assertEqual(api("GET", "/v1/couriers/%s/assignments" % cid, other_tok)[0], 403)
        self.assertEqual(api("PUT", "/v1/couriers/%s/location" % cid, self.ph_token, loc)[0], 403)
        self.assertEqual(self.act(oid, self.ph_token, "accept")[0], 403)
        # bad input
        code, out = api("PUT", "/v1/couriers/%s/location" % cid, tok, dict(loc, lat=91))
        self.assertEqual(code, 400, out)
        self.assertIn("error", out)
        self.assertEqual(api("PUT", "/v1/couriers/%s/availability" % cid, tok,
                             {"available": "yes"})[0], 400)
        self.assertEqual(api("GET", "/v1/couriers/%s/assignments?wait=99" % cid, tok)[0], 400)
        self.assertEqual(self.act("no-such-order", tok, "accept")[0], 404)
        big = dict(loc, pad="x" * (100 * 1024))
        self.assertEqual(api("PUT", "/v1/couriers/%s/location" % cid, tok, big)[0], 413)
        # deliver before pickup is a state conflict
        self.assertEqual(self.act(oid, tok, "deliver", {"handover_code": "123456"})[0], 409)

    def test_two_dispatchers_never_exceed_capacity(self):
        self.place()
        couriers = [self.courier(200 + 150 * i, capacity=2) for i in range(3)]
        second = self.start_second_dispatcher()
        try:
            oids = [self.accepted_order() for _ in range(10)]
            # all ready at once, so that both dispatchers work at the same time
            readiers = [threading.Thread(target=self.ready, args=(o,)) for o in oids]
            for t in readiers:
                t.start()
            for t in readiers:
                t.join(30)
            wait_until(lambda: sum(len(self.assignments(c, t)) for c, t in couriers) == 6, 20,
                       "six assignments")
            time.sleep(3)  # both dispatchers keep trying the four left over
            for c, t in couriers:
                self.assertEqual(len(self.assignments(c, t)), 2)
            states = [self.stack.order(o)["state"] for o in oids]
            self.assertEqual(states.count("COURIER_ASSIGNED"), 6)
            self.assertEqual(states.count("READY"), 4)
            self.assertCapacityNeverExceeded(oids, {c: 2 for c, _ in couriers})
        finally:
            second.terminate()
            rc = second.wait(20)
            with open(self.second_log) as f:
                log = f.read()
            self.assertEqual(rc, 0, log[-4000:])  # SIGTERM: drained and clean
        self.assertIn("shutdown_drained", log)

    def start_second_dispatcher(self):
        port = free_port()
        env = dict(self.stack.env, RXD_ADMIN_PORT=str(port))
        self.second_log = os.path.join(self.stack.dir, "logs", "dispatcher-2.log")
        with open(self.second_log, "a") as logf:
            p = subprocess.Popen([os.path.join(BUILD, "services", "dispatcher", "dispatcher")],
                                 env=env, stdout=logf, stderr=logf)
        wait_until(lambda: http_status("http://127.0.0.1:%d/readyz" % port) == 200, 30,
                   "second dispatcher ready")
        return p

    def assertCapacityNeverExceeded(self, oids, capacity):
        """Replays the order timelines in time order: a courier holds an
        order from its assignment until it is given back or ends."""
        ev = []
        for oid in oids:
            for e in self.timeline(oid):
                ev.append((e["at_ms"], 0 if e["kind"] != "courier_assigned" else 1, oid, e))
        ev.sort(key=lambda x: (x[0], x[1]))
        holding = {}
        for _, _, oid, e in ev:
            c = e["courier"]
            if e["kind"] == "courier_assigned":
                holding.setdefault(c, set()).add(oid)
                self.assertLessEqual(len(holding[c]), capacity[c], (c, holding[c]))
            elif e["kind"] in ("courier_declined", "courier_timeout", "delivered", "returned",
                               "cancelled"):
                for h in holding.values():
                    h.discard(oid)


class CourierDeadlineTest(CourierTestBase):
    """Short assignment deadlines: missed offers and benched couriers."""
    STACK_ENV = {"RXD_COURIER_DEADLINE_MS": 1500, "RXD_COURIER_MAX_MISSES": 2}

    def test_missed_deadline_goes_to_next_courier(self):
        self.place()
        first, _ = self.courier(200)
        second, tok2 = self.courier(900)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), first)
        wait_until(lambda: self.stack.order(oid)["courier_id"] == second, 15,
                   "the second courier after the first let the deadline pass")
        code, out = self.act(oid, tok2, "accept")
        self.assertEqual(code, 200, out)
        time.sleep(2.5)  # an accepted assignment has no deadline any more
        o = self.stack.order(oid)
        self.assertEqual((o["state"], o["courier_id"]), ("COURIER_ASSIGNED", second))
        missed = [e for e in o["timeline"] if e["kind"] == "courier_timeout"]
        self.assertEqual([e["courier"] for e in missed], [first])

    def test_misses_in_a_row_make_courier_unavailable(self):
        self.place()
        cid, tok = self.courier(300, capacity=3)
        key = "rxd:{default}:co:" + cid
        o1 = self.ready_order()
        self.assertEqual(self.assigned_to(o1), cid)
        wait_until(lambda: self.redis("HGET", key, "misses") == "1", 15, "first miss")
        self.assertEqual(self.redis("HGET", key, "available"), "1")
        o2 = self.ready_order()
        self.assertEqual(self.assigned_to(o2), cid)
        wait_until(lambda: self.redis("HGET", key, "available") == "0", 15, "courier benched")
        o3 = self.ready_order()
        self.stays(o3, "READY", 3)
        # the courier comes back: misses forgiven, and it gets the order it
        # never missed (not the two it let lapse)
        code, _ = self.stack.courier_api("PUT", "/v1/couriers/%s/availability" % cid, tok,
                                         {"available": True, "capacity": 3})
        self.assertEqual(code, 200)
        self.assertEqual(self.redis("HGET", key, "misses"), "0")
        self.assertEqual(self.assigned_to(o3), cid)
        self.assertEqual(self.act(o3, tok, "accept")[0], 200)
        self.assertEqual(self.stack.order(o1)["state"], "READY")
        self.assertEqual(self.stack.order(o2)["state"], "READY")


if __name__ == "__main__":
    unittest.main()
