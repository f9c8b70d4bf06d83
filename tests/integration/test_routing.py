"""The routing path end to end on the real stack (issue 2): a prescription
produced on the broker, the offer seen in the pharmacy's long-poll, accept /
reject / ready, the events on order.events, bad input to the dead letter."""
import json
import os
import time
import unittest

from harness import (StackTest, area, offset, prescription, uid, wait_until, http,
                     http_status)


class RoutingTest(StackTest):
    SERVICES = ["rx-router", "pharmacy-gw"]

    def offers(self, pharmacy, token, wait=0):
        code, body = self.stack.pharmacy_api(
            "GET", "/v1/pharmacies/%s/orders?wait=%d" % (pharmacy, wait), token)
        self.assertEqual(code, 200, body)
        return [o["order_id"] for o in body["orders"]]

    def routed_to(self, rx):
        """Submits rx and returns (order id, the pharmacy it was offered to)."""
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        order = self.stack.wait_state(oid, "OFFERED")
        return oid, order["pharmacy_id"]

    # ---- candidates and order ----

    def test_nearest_within_3km_gets_the_offer(self):
        home = area()
        near, far = uid("ph-near"), uid("ph-far")
        self.stack.register_pharmacy(far, *offset(home, north_m=2500))
        tok = self.stack.register_pharmacy(near, *offset(home, east_m=800))
        rx = prescription(uid("rx"), home)
        t0 = time.time()
        self.stack.submit(rx)
        # the pharmacy's long-poll answers as soon as the offer exists
        got = self.offers(near, tok, wait=15)
        self.assertLess(time.time() - t0, 10)
        oid = self.stack.order_id(rx["prescription_id"])
        self.assertEqual(got, [oid])
        order = self.stack.order(oid)
        self.assertEqual(order["pharmacy_id"], near)
        self.assertAlmostEqual(order["distance_m"], 800, delta=20)

    def test_5km_step_when_none_within_3km(self):
        home = area()
        ph = uid("ph-4km")
        self.stack.register_pharmacy(ph, *offset(home, north_m=4000))
        oid, got = self.routed_to(prescription(uid("rx"), home))
        self.assertEqual(got, ph)

    def test_nothing_within_8km_is_held(self):
        """A temporary reason: the order waits in the hold (test_hold.py)."""
        home = area()
        self.stack.register_pharmacy(uid("ph-9km"), *offset(home, north_m=9000))
        rx = prescription(uid("rx"), home)
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        wait_until(lambda: self.stack.order(oid)["timeline"][-1]["kind"] == "held", 15, "held")
        order = self.stack.order(oid)
        self.assertEqual(order["state"], "ROUTING")
        self.assertEqual(order["timeline"][-1]["reason"], "no_eligible_pharmacy")

    def test_nominated_first_when_eligible(self):
        home = area()
        near, nominated = uid("ph-near"), uid("ph-nom")
        self.stack.register_pharmacy(near, *offset(home, east_m=300))
        self.stack.register_pharmacy(nominated, *offset(home, east_m=2800))
        oid, got = self.routed_to(prescription(uid("rx"), home, nominated_pharmacy_id=nominated))
        self.assertEqual(got, nominated)

    def test_nominated_skipped_when_not_eligible(self):
        home = area()
        near, nominated = uid("ph-near"), uid("ph-nom")
        self.stack.register_pharmacy(near, *offset(home, east_m=1300))
        self.stack.register_pharmacy(nominated, *offset(home, east_m=200), open=False)
        oid, got = self.routed_to(prescription(uid("rx"), home, nominated_pharmacy_id=nominated))
        self.assertEqual(got, near)

    # ---- eligibility ----

    def test_ineligible_pharmacies_are_skipped(self):
        home = area()
        ok = uid("ph-ok")
        closed, full, nostock, warm, private = (uid("ph-closed"), uid("ph-full"),
                                                uid("ph-nostock"), uid("ph-warm"),
                                                uid("ph-private"))
        # every ineligible one is nearer than the eligible one
        self.stack.register_pharmacy(closed, *offset(home, east_m=100), open=False,
                                     cold_chain=True, insurance_designated=True)
        self.stack.register_pharmacy(full, *offset(home, east_m=150), capacity=0,
                                     cold_chain=True, insurance_designated=True)
        tok = self.stack.register_pharmacy(nostock, *offset(home, east_m=200), cold_chain=True,
                                           insurance_designated=True)
        code, body = self.stack.pharmacy_api("PUT", "/v1/pharmacies/%s/stock" % nostock, tok,
                                             {"items": {"PZN-100": 0, "PZN-200": 9}})
        self.assertEqual(code, 200, body)
        self.stack.register_pharmacy(warm, *offset(home, east_m=250), cold_chain=False,
                                     insurance_designated=True)
        self.stack.register_pharmacy(private, *offset(home, east_m=300), cold_chain=True,
                                     insurance_designated=False)
        tok_ok = self.stack.register_pharmacy(ok, *offset(home, east_m=2000), cold_chain=True,
                                              insurance_designated=True)
        code, body = self.stack.pharmacy_api("PUT", "/v1/pharmacies/%s/stock" % ok, tok_ok,
                                             {"items": {"PZN-100": 5}})
        self.assertEqual(code, 200, body)
        rx = prescription(uid("rx"), home, insurance_covered=True, items=[
            {"drug_code": "PZN-100", "name": "Insulin", "quantity": 2, "cold_chain": True}])
        oid, got = self.routed_to(rx)
        self.assertEqual(got, ok)
        self.assertEqual(self.stack.order(oid)["attempt"], 1)

    def test_at_capacity_counts_open_orders(self):
        home = area()
        one, two = uid("ph-one"), uid("ph-two")
        tok = self.stack.register_pharmacy(one, *offset(home, east_m=100), capacity=1)
        self.stack.register_pharmacy(two, *offset(home, east_m=1500))
        first, got1 = self.routed_to(prescription(uid("rx"), home))
        self.assertEqual(got1, one)
        code, _ = self.stack.pharmacy_api("POST", "/v1/orders/%s/accept" % first, tok)
        self.assertEqual(code, 200)
        second, got2 = self.routed_to(prescription(uid("rx"), home))
        self.assertEqual(got2, two)

    # ---- pharmacy answers ----

    def test_reject_goes_to_the_next_pharmacy(self):
        home = area()
        a, b = uid("ph-a"), uid("ph-b")
        tok_a = self.stack.register_pharmacy(a, *offset(home, east_m=100))
        self.stack.register_pharmacy(b, *offset(home, east_m=900))
        oid, got = self.routed_to(prescription(uid("rx"), home))
        self.assertEqual(got, a)
        code, body = self.stack.pharmacy_api("POST", "/v1/orders/%s/reject" % oid, tok_a,
                                             {"reason": "no pharmacist on duty"})
        self.assertEqual((code, body["state"]), (200, "ROUTING"), body)
        wait_until(lambda: self.stack.order(oid)["pharmacy_id"] == b, 10, "offer to b")
        self.assertEqual(self.stack.order(oid)["state"], "OFFERED")
        self.assertEqual(self.stack.order(oid)["attempt"], 2)
        self.assertEqual(self.offers(a, tok_a), [])
        # the rejecting pharmacy cannot take it back
        code, body = self.stack.pharmacy_api("POST", "/v1/orders/%s/accept" % oid, tok_a)
        self.assertEqual(code, 409, body)
        self.assertEqual(body["error"]["code"], "state_conflict")

    def test_accept_ready_and_collected(self):
        home = area()
        ph = uid("ph")
        tok = self.stack.register_pharmacy(ph, *offset(home, east_m=100))
        oid, _ = self.routed_to(prescription(uid("rx"), home, fulfilment="PICKUP_IN_STORE",
                                             nominated_pharmacy_id=ph))
        for action, state in (("accept", "ACCEPTED"), ("ready", "READY"),
                              ("collected", "COLLECTED")):
            code, body = self.stack.pharmacy_api("POST", "/v1/orders/%s/%s" % (oid, action), tok)
            self.assertEqual((code, body.get("state")), (200, state), body)
        states = [e["state"] for e in self.stack.order(oid)["timeline"]]
        self.assertEqual(states, ["ROUTING", "OFFERED", "ACCEPTED", "READY", "COLLECTED"])

    def test_special_management_item_is_unroutable(self):
        home = area()
        self.stack.register_pharmacy(uid("ph"), *offset(home, east_m=100))
        rx = prescription(uid("rx"), home, items=[
            {"drug_code": "PZN-1", "name": "Paracetamol", "quantity": 1},
            {"drug_code": "PZN-9", "name": "Morphine", "quantity": 1, "special_management": True}])
        self.stack.submit(rx)
        order = self.stack.wait_state(self.stack.order_id(rx["prescription_id"]), "UNROUTABLE")
        self.assertEqual(order["timeline"][-1]["reason"], "special_management_item")

    def test_expired_prescription_is_unroutable(self):
        home = area()
        self.stack.register_pharmacy(uid("ph"), *offset(home, east_m=100))
        rx = prescription(uid("rx"), home, expires_at_ms=int(time.time() * 1000) - 1000)
        self.stack.submit(rx)
        order = self.stack.wait_state(self.stack.order_id(rx["prescription_id"]), "UNROUTABLE")
        self.assertEqual(order["timeline"][-1]["reason"], "expired")

    # ---- exactly once, bad input ----

    def test_same_prescription_twice_is_one_order(self):
        home = area()
        self.stack.register_pharmacy(uid("ph"), *offset(home, east_m=100))
        rx = prescription(uid("rx"), home)
        self.stack.submit(rx)
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        self.stack.wait_state(oid, "OFFERED")
        time.sleep(1.5)
        events = self.stack.events(order_id=oid)
        self.assertEqual([e["kind"] for e in events], ["created", "offered"])

    def test_bad_messages_go_to_the_dead_letter_and_consumption_goes_on(self):
        home = area()
        ph = uid("ph")
        self.stack.register_pharmacy(ph, *offset(home, east_m=100))
        garbage_key, missing_key = uid("garbage"), uid("missing")
        self.stack.produce_raw("rx.approved", garbage_key, b"\xff\xfe\x00garbage\x13\x37")
        missing = {"prescription_id": missing_key, "delivery": {"lat": home[0], "lon": home[1]}}
        self.stack.rxctl("submit", "-", "--no-validate", "1", input=json.dumps(missing))
        rx = prescription(uid("rx"), home)
        oid, got = self.routed_to(rx)
        self.assertEqual(got, ph)

        def letters():
            return {d.get("key"): d for d in self.stack.events("rx.deadletter", idle_ms=1000)}

        wait_until(lambda: garbage_key in letters() and missing_key in letters(), 20,
                   "both dead letters")
        dl = letters()
        self.assertIn("not a decodable", dl[garbage_key]["error"])
        self.assertEqual(dl[garbage_key]["source-topic"], "rx.approved")
        self.assertEqual(dl[garbage_key]["value_bytes"], 12)
        self.assertIn("items", dl[missing_key]["error"])
        # nothing was created for them
        self.assertNotEqual(self.stack.rxctl("lookup", missing_key, check=False).returncode, 0)

    def test_sequence_numbers_have_no_gaps(self):
        home = area()
        a, b = uid("ph-a"), uid("ph-b")
        tok_a = self.stack.register_pharmacy(a, *offset(home, east_m=100))
        tok_b = self.stack.register_pharmacy(b, *offset(home, east_m=600))
        oid, _ = self.routed_to(prescription(uid("rx"), home))
        self.stack.pharmacy_api("POST", "/v1/orders/%s/reject" % oid, tok_a, {"reason": "busy"})
        wait_until(lambda: self.stack.order(oid)["pharmacy_id"] == b, 10, "offer to b")
        self.stack.pharmacy_api("POST", "/v1/orders/%s/accept" % oid, tok_b)
        self.stack.pharmacy_api("POST", "/v1/orders/%s/ready" % oid, tok_b)

        def complete():
            return len(self.stack.events(order_id=oid, idle_ms=800)) >= 6

        wait_until(complete, 20, "six events")
        events = self.stack.events(order_id=oid)
        self.assertEqual([e["seq"] for e in events], list(range(1, len(events) + 1)))
        self.assertEqual([e["state"] for e in events],
                         ["ROUTING", "OFFERED", "ROUTING", "OFFERED", "ACCEPTED", "READY"])
        for e in events:  # courier-facing: no drug names, no code
            self.assertNotIn("Amoxicillin", json.dumps(e))
            self.assertNotIn("handover_code", e)

    def test_cancel_before_pickup(self):
        home = area()
        ph = uid("ph")
        tok = self.stack.register_pharmacy(ph, *offset(home, east_m=100))
        oid, _ = self.routed_to(prescription(uid("rx"), home))
        rx2 = prescription(uid("rx"), home)
        # upstream cancellation on rx.cancelled
        self.stack.submit(rx2)
        oid2 = self.stack.order_id(rx2["prescription_id"])
        self.stack.rxctl("cancel", rx2["prescription_id"], "--reason", "patient withdrew")
        self.stack.wait_state(oid2, "CANCELLED")
        # operator cancellation over HTTP
        op = self.stack.token("operator", "op-1")
        code, body = self.stack.pharmacy_api("POST", "/v1/orders/%s/cancel" % oid, op,
                                             {"reason": "duplicate"})
        self.assertEqual((code, body["state"]), (200, "CANCELLED"), body)
        self.assertEqual(self.offers(ph, tok), [])

    def test_router_restart_between_produce_and_route(self):
        home = area()
        self.stack.register_pharmacy(uid("ph"), *offset(home, east_m=100))
        pid = self.stack.pids()["rx-router"]
        os.kill(pid, 19)  # SIGSTOP: the message waits, unrouted
        try:
            rx = prescription(uid("rx"), home)
            self.stack.submit(rx)
            time.sleep(0.5)
        finally:
            self.stack.restart("rx-router")  # SIGKILL, then a fresh instance
        oid = self.stack.order_id(rx["prescription_id"], timeout=60)
        self.stack.wait_state(oid, "OFFERED", timeout=60)
        time.sleep(2)
        kinds = [e["kind"] for e in self.stack.events(order_id=oid)]
        self.assertEqual(kinds, ["created", "offered"])

    # ---- HTTP errors ----

    def test_http_errors(self):
        home = area()
        a, b = uid("ph-a"), uid("ph-b")
        tok_a = self.stack.register_pharmacy(a, *offset(home, east_m=100))
        tok_b = self.stack.register_pharmacy(b, *offset(home, east_m=5500))
        oid, _ = self.routed_to(prescription(uid("rx"), home))
        api = self.stack.pharmacy_api
        code, body = api("GET", "/v1/pharmacies/%s/orders" % a)
        self.assertEqual(code, 401)
        self.assertEqual(body["error"]["code"], "unauthenticated")
        self.assertEqual(api("GET", "/v1/pharmacies/%s/orders" % a, "rxd1.bogus.token")[0], 401)
        expired = self.stack.rxctl("token", "--role", "pharmacy", "--id", a, "--ttl", "1").stdout
        time.sleep(2.1)
        self.assertEqual(api("GET", "/v1/pharmacies/%s/orders" % a, expired.strip())[0], 401)
        self.assertEqual(api("GET", "/v1/pharmacies/%s/orders" % a, tok_b)[0], 403)
        code, body = api("POST", "/v1/orders/%s/accept" % oid, tok_b)
        self.assertEqual(code, 403, body)
        courier = self.stack.token("courier", "c-1")
        self.assertEqual(api("POST", "/v1/orders/%s/accept" % oid, courier)[0], 403)
        code, body = api("PUT", "/v1/pharmacies/%s/status" % a, tok_a, raw=b"{not json")
        self.assertEqual(code, 400)
        self.assertIn("invalid JSON", body["error"]["message"])
        code, body = api("PUT", "/v1/pharmacies/%s/status" % a, tok_a, {"open": "yes"})
        self.assertEqual(code, 400)
        self.assertIn("open", body["error"]["message"])
        code, body = api("PUT", "/v1/pharmacies/%s/status" % a, tok_a, raw=b'{"open":true}',
                         headers={"Content-Type": "text/plain"})
        self.assertEqual(code, 415)
        code, body = api("POST", "/v1/orders/ord-99999999/accept", tok_a)
        self.assertEqual(code, 404, body)
        op = self.stack.token("operator", "op-1")
        self.assertEqual(api("GET", "/v1/orders/ord-99999999", op)[0], 404)
        code, body = api("PUT", "/v1/pharmacies/%s/stock" % a, tok_a,
                         raw=b'{"items":{"x":1},"pad":"' + b"x" * 70000 + b'"}')
        self.assertEqual(code, 413)
        self.assertEqual(body["error"]["code"], "body_too_large")
        code, body = api("POST", "/v1/orders/%s/reject" % oid, tok_a, {"reason": "closing"})
        self.assertEqual(code, 200, body)
        code, body = api("POST", "/v1/orders/%s/accept" % oid, tok_a)
        self.assertEqual(code, 409, body)
        self.assertEqual(api("GET", "/v1/nowhere", tok_a)[0], 404)
        # the gateway still serves
        self.assertEqual(http_status(self.stack.vars["RXD_ADMIN_PHARMACY_GW"] + "/readyz"), 200)


class DeadlineTest(StackTest):
    """Short accept deadline and few attempts, set by configuration."""
    SERVICES = ["rx-router", "pharmacy-gw"]
    STACK_ENV = {"RXD_OFFER_DEADLINE_MS": 1500, "RXD_MAX_ATTEMPTS": 2}

    def test_missed_deadline_goes_to_the_next_pharmacy(self):
        home = area()
        a, b = uid("ph-a"), uid("ph-b")
        self.stack.register_pharmacy(a, *offset(home, east_m=100))
        self.stack.register_pharmacy(b, *offset(home, east_m=700))
        rx = prescription(uid("rx"), home)
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        wait_until(lambda: self.stack.order(oid)["pharmacy_id"] == a, 10, "offer to a")
        wait_until(lambda: self.stack.order(oid)["pharmacy_id"] == b, 10, "offer to b")
        timeline = self.stack.order(oid)["timeline"]
        lapsed = [e for e in timeline if e["kind"] == "offer_expired"]
        self.assertEqual(len(lapsed), 1)
        self.assertEqual(lapsed[0]["reason"], "accept_deadline_missed")

    def test_attempts_exhausted_is_unroutable(self):
        home = area()
        for i in range(3):
            self.stack.register_pharmacy(uid("ph-%d" % i), *offset(home, east_m=100 + 300 * i))
        rx = prescription(uid("rx"), home)
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        order = self.stack.wait_state(oid, "UNROUTABLE", timeout=20)
        self.assertEqual(order["timeline"][-1]["reason"], "attempts_exhausted")
        self.assertEqual(order["attempt"], 2)
        self.assertEqual([e["kind"] for e in order["timeline"]].count("offered"), 2)


if __name__ == "__main__":
    unittest.main()


class ShutdownTest(StackTest):
    """SIGTERM: stop taking work, finish in flight, commit, exit 0."""
    SERVICES = ["rx-router", "pharmacy-gw"]

    def test_sigterm_exits_cleanly_and_nothing_is_lost(self):
        home = area()
        self.stack.register_pharmacy(uid("ph"), *offset(home, east_m=100), capacity=100)
        rxs = [prescription(uid("rx"), home) for _ in range(20)]
        for rx in rxs[:10]:
            self.stack.submit(rx)
        for name in ("rx-router", "pharmacy-gw"):
            pid = self.stack.pids()[name]
            t0 = time.time()
            os.kill(pid, 15)
            while time.time() - t0 < 15:
                try:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                except ProcessLookupError:
                    break
            else:
                self.fail("%s did not exit within 15 s of SIGTERM" % name)
            log = self.stack.log(name)
            self.assertIn('"event":"shutdown_drained"', log)
            self.assertIn('"event":"stopped"', log)
        for rx in rxs[10:]:
            self.stack.submit(rx)
        self.stack.restart("rx-router")
        self.stack.restart("pharmacy-gw")
        for rx in rxs:
            oid = self.stack.order_id(rx["prescription_id"], timeout=60)
            self.stack.wait_state(oid, "OFFERED", timeout=60)
