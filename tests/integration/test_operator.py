"""The operator API (issue 14 item 4, docs/operator-api.md) end to end: each
order action over HTTP with the right role (and 403 for the wrong ones),
the state after it, its own event kind with the actor on order.events, its
audit entry; the same action once through rxctl (actor rxctl:<user>); 400
without a reason; 409 where it does not apply, with nothing changed; and
the list/search with paging."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import http, offset, prescription, uid, wait_until  # noqa: E402
from test_courier import CourierTestBase  # noqa: E402

PREFIX = "rxd:{default}:"
RXCTL_ACTOR = "rxctl:" + (os.environ.get("USER") or "unknown")


class OperatorTest(CourierTestBase):
    def setUp(self):
        self.place()
        self.operator = self.stack.token("operator", "op-ann")
        self.desk = self.stack.token("desk", "desk-bo")
        self.auditor = self.stack.token("auditor", "aud-cy")

    def api(self, method, path, token, body=None):
        return http(method, self.stack.vars["RXD_OPERATOR_API"] + path, token, body)

    def action(self, oid, name, token, body=None):
        return self.api("POST", "/v1/orders/%s/%s" % (oid, name), token, body)

    def ctl(self, *args, check=True):
        return self.stack.rxctl(*args, check=check)

    def audit_of(self, oid):
        code, out = self.api("GET", "/v1/audit?count=200", self.auditor)
        self.assertEqual(code, 200, out)
        return [e for e in out["entries"] if e["target"] == "order:" + oid]

    def op_events(self, oid):
        """(kind, state, actor) of the order's operator events on order.events."""
        return [(e["kind"], e["state"], e["actor"]) for e in self.stack.events(order_id=oid)
                if e["kind"].startswith("op_")]

    def wait_events(self, oid, want):
        got = {}

        def seen():
            got["ev"] = self.op_events(oid)
            return got["ev"] == want
        wait_until(seen, 20, "%s on order.events (have %s)" % (want, got.get("ev")))

    def refused_unchanged(self, oid, name, token, body, ecode):
        before = self.stack.order(oid)
        code, out = self.action(oid, name, token, body)
        self.assertEqual((code, out["error"]["code"]), (409, ecode), out)
        after = self.stack.order(oid)
        self.assertEqual((after["state"], after["seq"], after["courier_id"], after["pharmacy_id"]),
                         (before["state"], before["seq"], before["courier_id"],
                          before["pharmacy_id"]))

    def picked_up_order(self):
        cid, tok = self.courier(200)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), cid)
        self.assertEqual(self.act(oid, tok, "accept")[0], 200)
        self.assertEqual(self.pickup(oid, cid, tok)[0], 200)
        return oid, cid, tok

    def test_roles(self):
        oid = self.accepted_order()
        ph, co = self.ph_token, self.stack.token("courier", "co-x")
        for tok in (ph, co):  # holders' tokens: nothing on this API
            self.assertEqual(self.api("GET", "/v1/orders/" + oid, tok)[0], 403)
            self.assertEqual(self.api("GET", "/v1/orders", tok)[0], 403)
            self.assertEqual(self.action(oid, "cancel", tok, {"reason": "x"})[0], 403)
        for tok in (self.operator, self.desk, self.auditor):
            code, out = self.api("GET", "/v1/orders/" + oid, tok)
            self.assertEqual((code, out["state"]), (200, "ACCEPTED"), out)
            self.assertEqual(self.api("GET", "/v1/exceptions", tok)[0], 200)
            self.assertEqual(self.api("GET", "/v1/audit", tok)[0], 200)
        for name in ("cancel", "reassign", "reroute", "resend-code", "unlock"):
            code, out = self.action(oid, name, self.auditor, {"reason": "x",
                                                               "identity_checked": True})
            self.assertEqual(code, 403, out)
        self.assertEqual(self.stack.order(oid)["state"], "ACCEPTED")
        # the old operator endpoints of pharmacy-gw stay for operator tokens only
        self.assertEqual(self.stack.pharmacy_api("GET", "/v1/orders/" + oid, self.desk)[0], 403)

    def test_cancel_before_and_after_pickup(self):
        oid = self.accepted_order()
        self.assertEqual(self.action(oid, "cancel", self.desk, {})[0], 400)
        self.assertEqual(self.action(oid, "cancel", self.desk, {"reason": ""})[0], 400)
        code, out = self.action(oid, "cancel", self.desk, {"reason": "patient moved"})
        self.assertEqual((code, out["state"]), (200, "CANCELLED"), out)
        self.assertEqual(self.redis("SISMEMBER", PREFIX + "ph:%s:active" % self.ph, oid), "0")
        self.refused_unchanged(oid, "cancel", self.operator, {"reason": "again"}, "final_state")
        [a] = self.audit_of(oid)
        self.assertEqual((a["action"], a["actor"], a["reason"]),
                         ("cancel", "desk:desk-bo", "patient moved"))
        self.assertEqual(json.loads(a["detail"]), {"from": "ACCEPTED", "to": "CANCELLED"})
        # after pickup, through rxctl: it comes back to the pharmacy
        picked, cid, tok = self.picked_up_order()
        self.assertEqual(self.ctl("order-cancel", picked, check=False).returncode, 2)
        out = json.loads(self.ctl("order-cancel", picked, "--reason", "wrong drug").stdout)
        self.assertEqual(out["state"], "RETURNING")
        self.assertEqual(self.assignments(cid, tok)[0]["state"], "RETURNING")
        self.assertEqual(self.audit_of(picked)[0]["actor"], RXCTL_ACTOR)
        self.wait_events(oid, [("op_cancel", "CANCELLED", "desk:desk-bo")])
        self.wait_events(picked, [("op_cancel", "RETURNING", RXCTL_ACTOR)])

    def test_reassign_and_reroute(self):
        first, tok1 = self.courier(200)
        oid = self.ready_order()
        self.assertEqual(self.assigned_to(oid), first)
        second, tok2 = self.courier(5000)
        self.refused_unchanged(oid, "reassign", self.desk,
                               {"reason": "x", "courier_id": "co-nobody"}, "no_such_courier")
        code, out = self.action(oid, "reassign", self.desk,
                                {"reason": "first courier ill", "courier_id": second})
        self.assertEqual((code, out["state"]), (200, "COURIER_ASSIGNED"), out)
        self.assertEqual(self.stack.order(oid)["courier_id"], second)
        self.assertEqual(self.assignments(first, tok1), [])
        self.assertEqual([a["order_id"] for a in self.assignments(second, tok2)], [oid])
        # back to the dispatch queue, through rxctl
        out = json.loads(self.ctl("order-reassign", oid, "--reason", "van broke").stdout)
        self.assertEqual(out["state"], "READY")
        self.assertEqual(self.assignments(second, tok2), [])
        # to a named pharmacy, then to the next one
        other = uid("ph-b")
        other_tok = self.stack.register_pharmacy(other, *offset(self.pt, east_m=4000))
        self.refused_unchanged(oid, "reroute", self.operator,
                               {"reason": "x", "pharmacy_id": "ph-nowhere"}, "no_such_pharmacy")
        code, out = self.action(oid, "reroute", self.operator,
                                {"reason": "out of stock", "pharmacy_id": other})
        self.assertEqual((code, out["state"]), (200, "OFFERED"), out)
        self.assertEqual(self.redis("SISMEMBER", PREFIX + "ph:%s:active" % self.ph, oid), "0")
        code, offers = self.stack.pharmacy_api("GET", "/v1/pharmacies/%s/orders" % other,
                                               other_tok)
        self.assertEqual([o["order_id"] for o in offers["orders"]], [oid])
        out = json.loads(self.ctl("order-reroute", oid, "--reason", "closing early").stdout)
        self.assertEqual(out["state"], "ROUTING")
        self.assertEqual([a["action"] for a in self.audit_of(oid)],
                         ["reroute", "reroute", "reassign", "reassign"])
        self.wait_events(oid, [("op_reassign", "COURIER_ASSIGNED", "desk:desk-bo"),
                               ("op_reassign", "READY", RXCTL_ACTOR),
                               ("op_reroute", "OFFERED", "operator:op-ann"),
                               ("op_reroute", "ROUTING", RXCTL_ACTOR)])

    def test_resend_code_and_unlock(self):
        oid, cid, tok = self.picked_up_order()
        right = self.handover_code(oid)
        self.refused_unchanged(oid, "reroute", self.operator, {"reason": "x"}, "not_before_pickup")
        self.refused_unchanged(oid, "reassign", self.operator, {"reason": "x"},
                               "not_before_pickup")
        code, out = self.action(oid, "resend-code", self.desk, {"reason": "sms lost"})
        self.assertEqual((code, out["state"]), (200, "PICKED_UP"), out)
        self.assertNotIn(right, json.dumps(out))
        self.refused_unchanged(oid, "unlock", self.desk,
                               {"reason": "x", "identity_checked": True}, "not_locked")
        wrong = "%06d" % ((int(right) + 1) % 1000000)
        for rnd in range(2):
            for _ in range(5):
                self.assertEqual(self.act(oid, tok, "deliver", {"handover_code": wrong})[0], 409)
            self.assertEqual(self.act(oid, tok, "deliver", {"handover_code": right})[0], 429)
            if rnd == 0:
                code, out = self.action(oid, "unlock", self.desk, {"reason": "id seen"})
                self.assertEqual(code, 400, out)  # identity_checked is required
                code, out = self.action(oid, "unlock", self.desk,
                                        {"reason": "passport checked", "identity_checked": True})
                self.assertEqual((code, out["state"]), (200, "PICKED_UP"), out)
            else:
                self.assertEqual(self.ctl("order-unlock", oid, "--reason", "id",
                                          check=False).returncode, 2)
                self.ctl("order-unlock", oid, "--reason", "id card", "--identity-checked", "1")
        self.ctl("order-resend-code", oid, "--reason", "second phone")
        code, out = self.act(oid, tok, "deliver", {"handover_code": right})
        self.assertEqual((code, out["state"]), (200, "DELIVERED"), out)
        self.refused_unchanged(oid, "resend-code", self.desk, {"reason": "x"}, "no_live_code")
        unlocks = [a for a in self.audit_of(oid) if a["action"] == "unlock"]
        self.assertEqual([json.loads(a["detail"])["identity_checked"] for a in unlocks],
                         [True, True])
        self.assertEqual(unlocks[-1]["reason"], "passport checked")
        codes = [n["handover_code"] for n in self.stack.events("patient.notify", idle_ms=1000)
                 if n["order_id"] == oid and n["handover_code"]]
        self.assertEqual(codes, [right] * 3)  # at ACCEPTED, then twice on request
        self.wait_events(oid, [("op_code_resent", "PICKED_UP", "desk:desk-bo"),
                               ("op_unlocked", "PICKED_UP", "desk:desk-bo"),
                               ("op_unlocked", "PICKED_UP", RXCTL_ACTOR),
                               ("op_code_resent", "PICKED_UP", RXCTL_ACTOR)])
        for e in self.stack.events(order_id=oid):
            self.assertNotIn(right, json.dumps(e))

    def test_list_search_and_paging(self):
        hospital = uid("hosp")
        rxs = [uid("rx") for _ in range(5)]
        for pid in rxs:
            self.stack.submit(prescription(pid, offset(self.pt, north_m=1000),
                                           hospital_id=hospital))
        oids = [self.stack.order_id(pid) for pid in rxs]
        for oid in oids:
            self.stack.wait_state(oid, "OFFERED")
        seen, cursor, pages = [], "", 0
        while True:
            code, out = self.api("GET", "/v1/orders?hospital=%s&limit=2&cursor=%s"
                                 % (hospital, cursor), self.auditor)
            self.assertEqual(code, 200, out)
            self.assertLessEqual(len(out["orders"]), 2)
            seen += [o["order_id"] for o in out["orders"]]
            pages += 1
            cursor = out["next_cursor"]
            if not cursor:
                break
        self.assertEqual(sorted(seen), sorted(oids))  # each once
        self.assertGreaterEqual(pages, 3)
        code, out = self.api("GET", "/v1/orders?state=OFFERED&pharmacy=%s&limit=200" % self.ph,
                             self.desk)
        self.assertEqual(sorted(o["order_id"] for o in out["orders"]), sorted(oids))
        code, out = self.api("GET", "/v1/orders?prescription=" + rxs[2], self.desk)
        self.assertEqual([o["order_id"] for o in out["orders"]], [oids[2]])
        code, out = self.api("GET", "/v1/orders?hospital=%s&older_than_s=3600" % hospital,
                             self.desk)
        self.assertEqual((code, out["orders"]), (200, []))
        code, out = self.api("GET", "/v1/orders?hospital=%s&state=ACCEPTED" % hospital, self.desk)
        self.assertEqual((code, out["orders"]), (200, []))
        for bad in ("state=DELIVERED", "limit=201", "limit=0", "older_than_s=x",
                    "cursor=garbage", "courier=a:b"):
            self.assertEqual(self.api("GET", "/v1/orders?" + bad, self.desk)[0], 400, bad)
        # a closed order is still found by its prescription
        self.action(oids[0], "cancel", self.operator, {"reason": "duplicate"})
        code, out = self.api("GET", "/v1/orders?prescription=" + rxs[0], self.desk)
        self.assertEqual([(o["order_id"], o["state"]) for o in out["orders"]],
                         [(oids[0], "CANCELLED")])
        out = json.loads(self.ctl("orders", "--hospital", hospital, "--limit", "3").stdout)
        self.assertEqual(len(out["orders"]), 3)
        self.assertNotEqual(out["next_cursor"], "")
        self.assertEqual(self.ctl("orders", "--state", "NOPE", check=False).returncode, 2)
        self.assertIn("entries", json.loads(self.ctl("audit", "--count", "5").stdout))
        self.assertIn("exceptions", json.loads(self.ctl("exceptions").stdout))

    def subject_events(self, sid):
        """(kind, actor, reason) of the 'op' events of a courier, pharmacy
        or zone on order.events."""
        return [(e["kind"], e["actor"], e["reason"]) for e in self.stack.events(idle_ms=800)
                if e.get("subject_id") == sid]

    def trail(self, target):
        """(action, actor, reason) of the audit entries of target, oldest first."""
        code, out = self.api("GET", "/v1/audit?count=500", self.auditor)
        self.assertEqual(code, 200, out)
        return [(e["action"], e["actor"], e["reason"]) for e in reversed(out["entries"])
                if e["target"] == target]

    def test_bench_courier(self):
        cid, tok = self.courier(200)
        self.assertEqual(self.api("POST", "/v1/couriers/%s/bench" % cid, self.auditor,
                                  {"reason": "x"})[0], 403)
        self.assertEqual(self.api("POST", "/v1/couriers/%s/bench" % cid, self.desk, {})[0], 400)
        self.assertEqual(self.api("POST", "/v1/couriers/co-nobody/bench", self.desk,
                                  {"reason": "x"})[0], 404)
        code, out = self.api("POST", "/v1/couriers/%s/bench" % cid, self.desk,
                             {"reason": "no helmet"})
        self.assertEqual((code, out), (200, {"courier_id": cid, "detail": "benched"}))
        # the only courier near is benched: a ready order waits for it
        oid = self.ready_order()
        with self.assertRaises(AssertionError):
            self.assigned_to(oid, timeout=4)
        out = json.loads(self.ctl("courier-unbench", cid, "--reason", "helmet found").stdout)
        self.assertEqual(out, {"courier_id": cid, "detail": "unbenched"})
        self.assertEqual(self.assigned_to(oid), cid)
        # the other way round: benched through rxctl, back through the API
        out = json.loads(self.ctl("courier-bench", cid, "--reason", "end of shift").stdout)
        self.assertEqual(out, {"courier_id": cid, "detail": "benched"})
        self.assertEqual(self.ctl("courier-bench", cid, check=False).returncode, 2)
        code, out = self.api("POST", "/v1/couriers/%s/unbench" % cid, self.operator,
                             {"reason": "next shift"})
        self.assertEqual((code, out), (200, {"courier_id": cid, "detail": "unbenched"}))
        self.assertEqual(self.trail("courier:" + cid),
                         [("courier_bench", "desk:desk-bo", "no helmet"),
                          ("courier_unbench", RXCTL_ACTOR, "helmet found"),
                          ("courier_bench", RXCTL_ACTOR, "end of shift"),
                          ("courier_unbench", "operator:op-ann", "next shift")])
        wait_until(lambda: self.subject_events(cid) == [
            ("op_benched", "desk:desk-bo", "no helmet"),
            ("op_unbenched", RXCTL_ACTOR, "helmet found"),
            ("op_benched", RXCTL_ACTOR, "end of shift"),
            ("op_unbenched", "operator:op-ann", "next shift")], 20, "the courier's op events")

    def test_close_and_open_pharmacy(self):
        path = "/v1/pharmacies/%s/" % self.ph
        self.assertEqual(self.api("POST", path + "close", self.desk, {"reason": "x"})[0], 403)
        code, out = self.api("POST", path + "close", self.operator, {"reason": "flooded"})
        self.assertEqual((code, out["pharmacy_id"]), (200, self.ph), out)
        # closed: a prescription near it waits in the hold
        pid = uid("rx")
        self.stack.submit(prescription(pid, offset(self.pt, north_m=1500)))
        oid = self.stack.order_id(pid)
        wait_until(lambda: any(e["kind"] == "held" for e in self.stack.events(order_id=oid)),
                   20, "the order held")
        self.assertEqual(self.stack.order(oid)["state"], "ROUTING")
        # retry puts it back to routing now (still nothing open: held again)
        self.assertEqual(self.action(oid, "retry", self.auditor, {"reason": "x"})[0], 403)
        code, out = self.action(oid, "retry", self.desk, {"reason": "try again"})
        self.assertEqual((code, out["state"]), (200, "ROUTING"), out)
        wait_until(lambda: [e["kind"] for e in self.stack.events(order_id=oid)].count("held") == 2,
                   20, "held again")
        out = json.loads(self.ctl("order-retry", oid, "--reason", "once more").stdout)
        self.assertEqual(out["state"], "ROUTING")
        out = json.loads(self.ctl("pharmacy-open", self.ph, "--reason", "dry again").stdout)
        self.assertEqual(out["pharmacy_id"], self.ph)
        self.stack.wait_state(oid, "OFFERED")
        self.assertEqual(self.action(oid, "retry", self.desk, {"reason": "x"})[0], 409)
        self.assertEqual(self.ctl("order-retry", oid, "--reason", "x", check=False).returncode, 1)
        # the other way round: closed through rxctl, opened through the API
        out = json.loads(self.ctl("pharmacy-close", self.ph, "--reason", "stocktake").stdout)
        self.assertEqual(out["pharmacy_id"], self.ph)
        code, out = self.api("POST", path + "open", self.operator, {"reason": "stocktake done"})
        self.assertEqual((code, out["pharmacy_id"]), (200, self.ph), out)
        self.assertEqual(self.trail("pharmacy:" + self.ph),
                         [("pharmacy_close", "operator:op-ann", "flooded"),
                          ("pharmacy_open", RXCTL_ACTOR, "dry again"),
                          ("pharmacy_close", RXCTL_ACTOR, "stocktake"),
                          ("pharmacy_open", "operator:op-ann", "stocktake done")])
        self.assertEqual([a[:2] for a in self.trail("order:" + oid)],
                         [("retry", "desk:desk-bo"), ("retry", RXCTL_ACTOR)])
        wait_until(lambda: self.subject_events(self.ph) == [
            ("op_closed", "operator:op-ann", "flooded"),
            ("op_opened", RXCTL_ACTOR, "dry again"),
            ("op_closed", RXCTL_ACTOR, "stocktake"),
            ("op_opened", "operator:op-ann", "stocktake done")], 20, "the pharmacy's op events")
        self.wait_events(oid, [("op_retry", "ROUTING", "desk:desk-bo"),
                               ("op_retry", "ROUTING", RXCTL_ACTOR)])

    def test_pause_and_resume_zone(self):
        zone, point = uid("zone"), offset(self.pt, north_m=1500)
        body = {"reason": "typhoon", "kind": "circle", "lat": point[0], "lon": point[1],
                "radius_m": 500}
        self.assertEqual(self.api("POST", "/v1/zones/%s/pause" % zone, self.desk, body)[0], 403)
        for bad in ({"kind": "square"}, {"kind": "circle", "lat": 91}, {"kind": "box",
                    "min_lat": 1, "min_lon": 1, "max_lat": 0, "max_lon": 2}):
            code, out = self.api("POST", "/v1/zones/%s/pause" % zone, self.operator,
                                 dict(bad, reason="x"))
            self.assertEqual(code, 400, (bad, out))
        code, out = self.api("POST", "/v1/zones/%s/pause" % zone, self.operator, body)
        self.assertEqual((code, out["zone_id"]), (200, zone), out)
        pid = uid("rx")
        self.stack.submit(prescription(pid, point))
        oid = self.stack.order_id(pid)
        wait_until(lambda: [e["reason"] for e in self.stack.events(order_id=oid)
                            if e["kind"] == "held"] == ["zone_paused"], 20, "held by the zone")
        # a second one, held too, is cancelled: it leaves the hold with its end
        gone = uid("rx")
        self.stack.submit(prescription(gone, offset(point, east_m=100)))
        gone = self.stack.order_id(gone)
        wait_until(lambda: any(e["kind"] == "held" for e in self.stack.events(order_id=gone)),
                   20, "the second order held")
        self.assertEqual(self.action(gone, "cancel", self.desk, {"reason": "moved away"})[0], 200)
        self.assertEqual(self.redis("ZSCORE", PREFIX + "hold", gone), "")
        code, zones = self.api("GET", "/v1/zones", self.auditor)
        self.assertEqual(code, 200, zones)
        [z] = [z for z in zones if z["id"] == zone]
        self.assertEqual((z["reason"], z["actor"], z["held"]), ("typhoon", "operator:op-ann", 1))
        self.assertEqual(self.ctl("zone-resume", zone, check=False).returncode, 2)
        out = json.loads(self.ctl("zone-resume", zone, "--reason", "storm over").stdout)
        self.assertEqual(out["zone_id"], zone)
        self.stack.wait_state(oid, "OFFERED")
        self.assertEqual([a[:2] for a in self.trail("zone:" + zone)],
                         [("zone_pause", "operator:op-ann"), ("zone_resume", RXCTL_ACTOR)])
        wait_until(lambda: self.subject_events(zone) == [
            ("op_paused", "operator:op-ann", "typhoon"),
            ("op_resumed", RXCTL_ACTOR, "storm over")], 20, "the zone's op events")
        # the other way round: a box paused through rxctl, resumed through the API
        box = uid("zone")
        out = json.loads(self.ctl("zone-pause", box, "--reason", "road works", "--kind", "box",
                                  "--min-lat", str(point[0] - 0.01), "--min-lon",
                                  str(point[1] - 0.01), "--max-lat", str(point[0] + 0.01),
                                  "--max-lon", str(point[1] + 0.01)).stdout)
        self.assertEqual(out["zone_id"], box)
        self.assertEqual(self.ctl("zone-pause", box, "--reason", "x", "--kind", "box",
                                  "--min-lat", "1", "--min-lon", "1", "--max-lat", "0",
                                  "--max-lon", "2", check=False).returncode, 2)
        listed = json.loads(self.ctl("zones").stdout)
        self.assertEqual([(z["kind"], z["actor"]) for z in listed if z["id"] == box],
                         [("box", RXCTL_ACTOR)])
        code, out = self.api("POST", "/v1/zones/%s/resume" % box, self.operator,
                             {"reason": "road open"})
        self.assertEqual((code, out["zone_id"], out["released"]), (200, box, 0), out)
        self.assertEqual(self.api("POST", "/v1/zones/%s/resume" % box, self.operator,
                                  {"reason": "again"})[0], 404)
        self.assertEqual([a[:2] for a in self.trail("zone:" + box)],
                         [("zone_pause", RXCTL_ACTOR), ("zone_resume", "operator:op-ann")])
        wait_until(lambda: self.subject_events(box) == [
            ("op_paused", RXCTL_ACTOR, "road works"),
            ("op_resumed", "operator:op-ann", "road open")], 20, "the box's op events")

    def test_subject_event_relayed_and_restart(self):
        """An 'op' outbox entry, as the library's emit_subject writes it for
        an action on a courier, goes out on order.events with the subject;
        operator-api restarts with the stack's env (RXD_OPERATOR_API
        included) and serves."""
        cid = uid("co")
        self.redis("XADD", PREFIX + "outbox", "*", "t", "op", "subject", "courier", "id", cid,
                   "kind", "courier_benched", "actor", "operator:op-ann", "reason", "sick",
                   "at", "1", "v", "2.3")
        got = {}

        def seen():
            got["ev"] = [e for e in self.stack.events(idle_ms=800)
                         if e.get("subject_id") == cid]
            return got["ev"]
        wait_until(seen, 20, "the courier_benched event of " + cid)
        [e] = got["ev"]
        self.assertEqual((e["order_id"], e["kind"], e["actor"], e["reason"], e["courier_id"],
                          e["subject_kind"], e["seq"]),
                         ("", "courier_benched", "operator:op-ann", "sick", cid, "courier", 0))
        self.stack.restart("operator-api", sig=15)
        self.assertEqual(self.api("GET", "/v1/audit?count=1", self.auditor)[0], 200)


if __name__ == "__main__":
    unittest.main()
