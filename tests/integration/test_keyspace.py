"""Ids cannot touch the key space, failing work ends, pickup proves presence
(issue 12, items 2 and 5), on a private stack with every service.

The reproductions of the issue, each of which must now fail to reproduce:
a prescription nominating the pharmacy `geo` (once the geo index itself:
WRONGTYPE retried for ever, a new job every 10 s, the job limit filled,
rejected offers no longer re-offered); an id with a colon (`P:stock`) in a
nomination or a token reaching another pharmacy's keys; a pickup declared by
the courier app alone from anywhere."""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import StackTest, area, offset, prescription, uid, wait_until  # noqa: E402
from test_hostile import approved, f_bytes  # noqa: E402

PREFIX = "rxd:{default}:"


def now_ms():
    return int(time.time() * 1000)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Helpers:
    """Shared by the test classes below (each has a stack of its own)."""

    def redis(self, *args):
        url = self.stack.vars["RXD_REDIS_URL"]
        return subprocess.run(["redis-cli", "-u", url] + list(args), capture_output=True,
                              text=True, check=True).stdout.strip()

    def metric(self, service, name):
        url = self.stack.vars["RXD_ADMIN_" + service.upper().replace("-", "_")] + "/metrics"
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        for line in text.splitlines():  # names carry the service's prefix
            if not line.startswith("#") and line.split()[0].split("{")[0].endswith(name):
                return float(line.split()[-1])
        return 0.0

    def offered_to(self, oid, timeout=15):
        return self.stack.wait_state(oid, "OFFERED", timeout)["pharmacy_id"]

    def dead_letter(self, key, timeout=30):
        found = {}

        def letter():
            got = [d for d in self.stack.events("rx.deadletter", idle_ms=800)
                   if d.get("key") == key]
            found["l"] = got
            return bool(got)

        wait_until(letter, timeout, "the dead letter of " + key)
        return found["l"][0]

    def forged_token(self, role, id_):
        """A token correctly signed with the stack's secret for any id, as
        one made before ids lost ':' would be."""
        payload = ("%s:%s:%d" % (role, id_, int(time.time()) + 3600)).encode()
        mac = hmac.new(self.stack.vars["RXD_TOKEN_SECRET"].encode(), payload,
                       hashlib.sha256).digest()
        return "rxd1." + b64url(payload) + "." + b64url(mac)

    def courier_at(self, cid, point, capacity=1):
        tok = self.stack.token("courier", cid)
        code, out = self.stack.courier_api("PUT", "/v1/couriers/%s/availability" % cid, tok,
                                           {"available": True, "cold_chain": False,
                                            "capacity": capacity})
        self.assertEqual(code, 200, out)
        self.send_position(cid, tok, point)
        return tok

    def send_position(self, cid, tok, point, ts=None):
        code, out = self.stack.courier_api("PUT", "/v1/couriers/%s/location" % cid, tok,
                                           {"lat": point[0], "lon": point[1],
                                            "ts_ms": ts if ts is not None else now_ms()})
        self.assertEqual(code, 200, out)

    def assigned_order(self):
        """A READY order of a fresh pharmacy assigned to a courier 200 m away;
        returns (pharmacy point, pharmacy token, order, courier, its token)."""
        home = area()
        ph = uid("ph")
        ph_tok = self.stack.register_pharmacy(ph, *home, capacity=10)
        cid = uid("co")
        tok = self.courier_at(cid, offset(home, north_m=200))
        rx = prescription(uid("rx"), offset(home, north_m=1500))
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        self.stack.wait_state(oid, "OFFERED")
        for act in ("accept", "ready"):
            code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/%s" % (oid, act), ph_tok)
            self.assertEqual(code, 200, out)
        self.assertEqual(self.stack.wait_state(oid, "COURIER_ASSIGNED", 15)["courier_id"], cid)
        return home, ph_tok, oid, cid, tok

    def pickup(self, oid, tok):
        return self.stack.courier_api("POST", "/v1/orders/%s/courier/pickup" % oid, tok)

    def address_seen(self, cid, tok):
        code, out = self.stack.courier_api("GET", "/v1/couriers/%s/assignments" % cid, tok)
        self.assertEqual(code, 200, out)
        return [a for a in out["assignments"] if "address" in a]


class KeyspaceTest(Helpers, StackTest):

    # ---- ids ----

    def test_nominating_geo_is_just_an_unknown_pharmacy(self):
        home = area()
        near = uid("ph-near")
        self.stack.register_pharmacy(near, *offset(home, east_m=500))
        errors = self.metric("rx-router", "router_redis_errors_total")
        rx = prescription(uid("rx"), home, nominated_pharmacy_id="geo")
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        self.assertEqual(self.offered_to(oid), near)
        # the index is out of every id's reach, and nothing failed on the way
        self.assertEqual(self.redis("TYPE", PREFIX + "idx:ph:geo"), "zset")
        self.assertEqual(self.redis("EXISTS", PREFIX + "ph:geo"), "0")
        self.assertEqual(self.metric("rx-router", "router_redis_errors_total"), errors)

    def test_pharmacy_named_geo_is_a_pharmacy(self):
        home = area()
        self.stack.register_pharmacy("geo", *offset(home, east_m=300))
        self.assertEqual(self.redis("TYPE", PREFIX + "ph:geo"), "hash")
        rx = prescription(uid("rx"), home, nominated_pharmacy_id="geo")
        self.stack.submit(rx)
        self.assertEqual(self.offered_to(self.stack.order_id(rx["prescription_id"])), "geo")
        # and it does not stand in for the index
        self.assertEqual(self.redis("TYPE", PREFIX + "idx:ph:geo"), "zset")

    def test_colon_in_nomination_is_dead_lettered(self):
        home = area()
        victim = uid("P")
        self.stack.register_pharmacy(victim, *offset(home, east_m=400))
        pid = uid("rx")
        data = approved(pid, home, extra=f_bytes(6, victim + ":stock"))
        self.stack.produce_raw("rx.approved", pid, data)
        dl = self.dead_letter(pid)
        self.assertIn("nominated_pharmacy_id must be 1-64 chars of [A-Za-z0-9._-]",
                      dl.get("error", ""), dl)
        self.assertNotEqual(self.stack.rxctl("lookup", pid, check=False).returncode, 0)
        # the victim's stock hash is untouched, no phantom pharmacy exists
        self.assertEqual(self.redis("EXISTS", PREFIX + "ph:%s:stock" % victim), "0")
        self.assertEqual(self.redis("ZSCORE", PREFIX + "idx:ph:geo", victim + ":stock"), "")
        # a valid prescription behind it is routed
        rx = prescription(uid("rx"), home)
        self.stack.submit(rx)
        self.assertEqual(self.offered_to(self.stack.order_id(rx["prescription_id"])), victim)

    def test_colon_in_hospital_id_is_dead_lettered(self):
        pid = uid("rx")
        self.stack.produce_raw("rx.approved", pid,
                               approved(pid, area(), extra=f_bytes(10, "H:1")))
        self.assertIn("hospital_id must be", self.dead_letter(pid).get("error", ""))

    def test_colon_in_token_ids_is_refused(self):
        p = self.stack.rxctl("token", "--role", "pharmacy", "--id", "P:stock", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no ':'", p.stderr)
        home = area()
        victim = uid("P")
        self.stack.register_pharmacy(victim, *offset(home, east_m=400))
        # signed with the real secret, for ids that would name the victim's keys
        for role, id_, method, path, body in (
                ("pharmacy", victim + ":stock", "GET", "/v1/pharmacies/%s/orders" % victim, None),
                ("courier", victim + ":stock", "PUT", "/v1/couriers/x/location",
                 {"lat": home[0], "lon": home[1], "ts_ms": now_ms()})):
            api = self.stack.pharmacy_api if role == "pharmacy" else self.stack.courier_api
            code, out = api(method, path, self.forged_token(role, id_), body)
            self.assertEqual(code, 401, out)
            self.assertEqual(out["error"]["code"], "unauthenticated", out)
        self.assertEqual(self.redis("EXISTS", PREFIX + "co:%s:stock" % victim), "0")
        # path ids with ':' never reach a handler either
        code, out = self.stack.pharmacy_api("PUT", "/v1/pharmacies/P:stock",
                                            self.stack.token("operator", "op-test"),
                                            {"name": "x", "lat": home[0], "lon": home[1],
                                             "open": True, "capacity": 1})
        self.assertEqual((code, out["error"]["code"]), (400, "bad_id"), out)

    # ---- failing work ends ----

    def test_store_error_ends_routing_and_does_not_hold_jobs(self):
        """An order whose keys are broken ends UNROUTABLE (store_error) at
        once, however many there are, and a healthy rejected order is still
        offered to the next pharmacy meanwhile."""
        home = area()
        first, second = uid("ph-a"), uid("ph-b")
        tok = self.stack.register_pharmacy(first, *offset(home, east_m=300))
        self.stack.register_pharmacy(second, *offset(home, east_m=2000))
        failed = self.metric("rx-router", "router_jobs_failed_total")
        poisoned = []
        for _ in range(5):
            rx = prescription(uid("rx"), home)
            self.stack.submit(rx)
            oid = self.stack.order_id(rx["prescription_id"])
            self.assertEqual(self.offered_to(oid), first)
            # break the order: its tried set becomes a string (WRONGTYPE on load)
            self.redis("DEL", PREFIX + "ord:%s:tried" % oid)
            self.redis("SET", PREFIX + "ord:%s:tried" % oid, "broken")
            poisoned.append(oid)
        healthy = prescription(uid("rx"), home)
        self.stack.submit(healthy)
        hoid = self.stack.order_id(healthy["prescription_id"])
        self.assertEqual(self.offered_to(hoid), first)
        for oid in poisoned + [hoid]:
            code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/reject" % oid, tok,
                                                {"reason": "out of stock"})
            self.assertEqual(code, 200, out)
        for oid in poisoned:
            order = self.stack.wait_state(oid, "UNROUTABLE", 15)
            self.assertEqual(order["timeline"][-1]["reason"], "store_error", order)
            self.assertEqual(self.redis("ZSCORE", PREFIX + "due", oid), "")
        # the healthy one was re-offered to the next pharmacy
        wait_until(lambda: self.stack.order(hoid)["pharmacy_id"] == second, 15,
                   "the rejected order offered to the next pharmacy")
        self.assertGreaterEqual(self.metric("rx-router", "router_jobs_failed_total"),
                                failed + len(poisoned))
        # and nothing is retried: no job for them comes back
        time.sleep(2)
        log = self.stack.log("rx-router")
        for oid in poisoned:
            retries = [line for line in log.splitlines()
                       if '"routing_retry"' in line and oid in line]
            self.assertEqual(retries, [], oid)

    def test_store_error_parks_a_dispatch_order(self):
        """A READY order whose keys are broken is parked (off the queue, the
        reason in <prefix>parked), and the rounds go on for the others."""
        home = area()
        ph = uid("ph")
        ph_tok = self.stack.register_pharmacy(ph, *home, capacity=10)
        cid = uid("co")
        self.courier_at(cid, home, capacity=1)

        def ready_order():
            rx = prescription(uid("rx"), offset(home, north_m=1000))
            self.stack.submit(rx)
            oid = self.stack.order_id(rx["prescription_id"])
            self.stack.wait_state(oid, "OFFERED")
            code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/accept" % oid, ph_tok)
            self.assertEqual(code, 200, out)
            return oid

        bad, good = ready_order(), ready_order()
        self.redis("SET", PREFIX + "ord:%s:ctried" % bad, "broken")
        for oid in (bad, good):
            code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/ready" % oid, ph_tok)
            self.assertEqual(code, 200, out)
        wait_until(lambda: self.redis("HEXISTS", PREFIX + "parked", bad) == "1", 15,
                   "the broken order parked")
        parked = json.loads(self.redis("HGET", PREFIX + "parked", bad))
        self.assertEqual(parked["queue"], "dispatch")
        self.assertIn("WRONGTYPE", parked["reason"])
        self.assertEqual(self.redis("ZSCORE", PREFIX + "dispatch", bad), "")
        self.assertEqual(self.stack.order(bad)["state"], "READY")
        self.assertEqual(self.stack.wait_state(good, "COURIER_ASSIGNED", 15)["courier_id"], cid)
        self.assertGreaterEqual(self.metric("dispatcher", "dispatcher_orders_parked_total"), 1)

    # ---- pickup proves presence ----

    def test_courier_10km_away_cannot_pick_up(self):
        home, _, oid, cid, tok = self.assigned_order()
        self.send_position(cid, tok, offset(home, north_m=10000))
        code, out = self.pickup(oid, tok)
        self.assertEqual(code, 409, out)
        self.assertEqual(out["error"]["code"], "not_at_pharmacy", out)
        msg = out["error"]["message"]
        self.assertIn("from the last 120 s within 300 m", msg)
        away = int(re.search(r"yours is (\d+) m away", msg).group(1))
        self.assertAlmostEqual(away, 10000, delta=100)
        self.assertEqual(self.stack.order(oid)["state"], "COURIER_ASSIGNED")
        self.assertEqual(self.address_seen(cid, tok), [])  # no address before pickup
        # at the pharmacy now: the same pickup succeeds, and the address shows
        self.send_position(cid, tok, offset(home, east_m=40))
        code, out = self.pickup(oid, tok)
        self.assertEqual((code, out["state"]), (200, "PICKED_UP"), out)
        self.assertEqual(len(self.address_seen(cid, tok)), 1)

    def test_stale_or_future_position_is_no_proof(self):
        home, _, oid, cid, tok = self.assigned_order()
        # the stored position (200 m away) aged by ten minutes: the API keeps
        # only positions newer than the stored one, so it is aged in place
        self.redis("HSET", PREFIX + "co:%s" % cid, "ts_ms", str(now_ms() - 600000))
        code, out = self.pickup(oid, tok)
        self.assertEqual((code, out["error"]["code"]), (409, "not_at_pharmacy"), out)
        self.assertIn("600 s old", out["error"]["message"])
        # dated ten minutes ahead: not taken as fresh either
        self.redis("HSET", PREFIX + "co:%s" % cid, "ts_ms", str(now_ms() + 600000))
        code, out = self.pickup(oid, tok)
        self.assertEqual((code, out["error"]["code"]), (409, "not_at_pharmacy"), out)
        self.assertIn("s ahead", out["error"]["message"])

    def test_pharmacy_confirms_the_handover(self):
        home, ph_tok, oid, cid, tok = self.assigned_order()
        self.send_position(cid, tok, offset(home, north_m=10000))
        self.assertEqual(self.pickup(oid, tok)[0], 409)
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/collected" % oid, ph_tok)
        self.assertEqual(code, 200, out)
        self.assertEqual(out["state"], "PICKED_UP", out)
        ev = self.stack.order(oid)["timeline"][-1]
        self.assertEqual((ev["kind"], ev["reason"], ev["courier"]),
                         ("picked_up", "pharmacy_confirmed", cid))
        # the courier's own pickup is now a replay, and it sees the address
        code, out = self.pickup(oid, tok)
        self.assertEqual((code, out["state"]), (200, "PICKED_UP"), out)
        self.assertEqual(len(self.address_seen(cid, tok)), 1)
        # the pharmacy repeating itself is told it succeeded
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/collected" % oid, ph_tok)
        self.assertEqual(code, 200, out)
        self.assertEqual(out["state"], "PICKED_UP", out)


class HandoverOnlyTest(Helpers, StackTest):
    """RXD_PICKUP_PROOF=handover: a position is no proof, only the pharmacy's
    confirmation is."""
    STACK_ENV = {"RXD_PICKUP_PROOF": "handover"}

    def test_position_at_the_pharmacy_is_not_enough(self):
        home, ph_tok, oid, cid, tok = self.assigned_order()
        self.send_position(cid, tok, home)
        code, out = self.pickup(oid, tok)
        self.assertEqual((code, out["error"]["code"]), (409, "handover_required"), out)
        code, out = self.stack.pharmacy_api("POST", "/v1/orders/%s/collected" % oid, ph_tok)
        self.assertEqual(code, 200, out)
        self.assertEqual(out["state"], "PICKED_UP", out)


class GreedyDispatchTest(Helpers, StackTest):
    """The same broken READY order under RXD_DISPATCH_POLICY=greedy (one job
    per order, dispatch.c) instead of the batch rounds (round.c)."""
    STACK_ENV = {"RXD_DISPATCH_POLICY": "greedy"}
    SERVICES = ["rx-router", "pharmacy-gw", "courier-gw", "dispatcher"]

    test_store_error_parks_a_dispatch_order = KeyspaceTest.test_store_error_parks_a_dispatch_order
