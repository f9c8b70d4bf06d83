"""Browser tests of the pages (issue 15): Debian's Chromium, driven by
playwright-core (tests/browser/*.mjs), against a whole stack with its web
service. Each scenario logs in by a login link (rxctl login-link), saves
screenshots under $BROWSER_ARTIFACTS (default <build>/browser-artifacts)
and runs axe-core on each page, failing on serious or critical violations.

(a) a pharmacist accepts and readies an offer on the workbench, then
    uploads a stock CSV with a bad row; (b) a courier delivers on the phone
    page with the right code after a wrong one is refused, and the order's
    timeline and events show it; (c) a courier's session cannot open the
    console; (d) the operator clears an exception from the desk, and its
    rosters and last-hour figures show the order's pharmacy, courier and
    state; (e) the
    operator watches an order pass through its states on the live map and
    its courier move."""
import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from harness import (BUILD, StackTest, area, offset, prescription, uid,  # noqa: E402
                     wait_until)

ARTIFACTS = os.environ.get("BROWSER_ARTIFACTS", os.path.join(BUILD, "browser-artifacts"))


class PagesTest(StackTest):
    # A PICKED_UP order raises its exception for the desk after 4 s: (d)
    # needs one, and (b) delivers regardless of it.
    STACK_ENV = {"RXD_DEADLINE_DELIVER_S": 4, "RXD_COURIER_DEADLINE_MS": 60000}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "RXD_WEB" not in cls.stack.vars:
            cls.stack.down()
            raise unittest.SkipTest("the stack has no web service (RXD_WEB unset): "
                                    "scripts/stack starts it once web/dist exists (scripts/web-build)")
        cls.web = cls.stack.vars["RXD_WEB"]

    def browse(self, script, **args):
        """Runs tests/browser/<script>.mjs with args; returns what it saw."""
        args.setdefault("artifacts", ARTIFACTS)
        args.setdefault("name", script)
        p = subprocess.run(["node", os.path.join(HERE, script + ".mjs"), json.dumps(args)],
                           capture_output=True, text=True, timeout=150)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        out = json.loads(lines[-1]) if lines else {}
        self.assertEqual(p.returncode, 0, "%s.mjs failed: %s\n%s\nstderr: %s" % (
            script, out.get("error"), "\n".join(out.get("log", [])), p.stderr[-2000:]))
        if "load" in out:  # page weight and first paint, kept beside the screenshots
            path = os.path.join(ARTIFACTS, "page-load.json")
            loads = {}
            if os.path.exists(path):
                with open(path) as f:
                    loads = json.load(f)
            loads[script] = out["load"]
            with open(path, "w") as f:
                json.dump(loads, f, indent=1, sort_keys=True)
        return out

    def link(self, role, id):
        out = self.stack.rxctl("login-link", "--role", role, "--id", id).stdout.strip()
        self.assertTrue(out.startswith(self.web + "/login/#code="), out)
        return out

    def offered_near_courier(self, **pharmacy):
        """A pharmacy with an available courier at it, and an order 700 m
        away offered to the pharmacy: (here, pharmacy token, courier id,
        courier token, order id)."""
        here = area()
        pid, cid = uid("ph"), uid("c")
        ph = self.stack.register_pharmacy(pid, *here, **pharmacy)
        co = self.stack.token("courier", cid)
        api = self.stack.courier_api
        self.assertEqual(api("PUT", "/v1/couriers/%s/availability" % cid, co,
                             {"available": True, "capacity": 1})[0], 200)
        self.assertEqual(api("PUT", "/v1/couriers/%s/location" % cid, co,
                             {"lat": here[0], "lon": here[1], "ts_ms": int(time.time() * 1000)})[0], 200)
        rx = uid("rx")
        self.stack.submit(prescription(rx, offset(here, east_m=700)))
        oid = self.stack.order_id(rx)
        self.stack.wait_state(oid, "OFFERED")
        return here, ph, cid, co, oid

    def test_pharmacy_then_courier_delivers(self):
        here = area()
        pid, cid = uid("ph"), uid("c")
        self.stack.register_pharmacy(pid, *here, name="仁和大药房")
        rx = uid("rx")
        self.stack.submit(prescription(rx, offset(here, north_m=900)))
        oid = self.stack.order_id(rx)
        self.stack.wait_state(oid, "OFFERED")

        seen = self.browse("pharmacy", link=self.link("pharmacy", pid), order_id=oid)
        self.assertIn("Amoxicillin", seen["items"])
        self.assertEqual(self.stack.order(oid)["state"], "READY")

        code = self.stack.handover_code(oid)
        wrong = "0" * len(code) if code != "0" * len(code) else "1" * len(code)
        seen = self.browse("courier", link=self.link("courier", cid), order_id=oid, code=code,
                           wrong=wrong, geo={"lat": here[0], "lon": here[1]})
        self.assertIn("Test street 1", seen["address"])
        self.assertNotIn("Amoxicillin", seen["before"])  # never the drugs
        self.assertNotIn("pat-", seen["before"] + seen["address"])  # never the patient
        order = self.stack.wait_state(oid, "DELIVERED")
        self.assertEqual(order["courier_id"], cid)
        kinds = [e["kind"] for e in order["timeline"]]
        for k in ("accepted", "ready", "courier_accepted", "picked_up", "delivered"):
            self.assertIn(k, kinds)
        events = [e for e in self.stack.events(order_id=oid) if e.get("kind")]
        self.assertIn("delivered", [e["kind"] for e in events])

    def test_courier_cannot_open_console(self):
        seen = self.browse("console", link=self.link("courier", uid("c")), login_page="/courier/",
                           name="console-forbidden")
        self.assertIn("此角色无权", seen["message"])

    def test_desk_clears_an_exception(self):
        _, ph, cid, co, oid = self.offered_near_courier()
        api = self.stack.courier_api
        for action in ("accept", "ready"):
            self.assertEqual(self.stack.pharmacy_api("POST", "/v1/orders/%s/%s" % (oid, action), ph)[0], 200)
        self.stack.wait_state(oid, "COURIER_ASSIGNED")
        self.assertEqual(api("POST", "/v1/orders/%s/courier/pickup" % oid, co)[0], 200)
        wait_until(lambda: oid in self.stack.rxctl("exceptions", "--count", "200").stdout, 30,
                   "the deliver exception of " + oid)

        pid = self.stack.order(oid)["pharmacy_id"]
        seen = self.browse("console", link=self.link("operator", uid("op")), login_page="/console/",
                           order_id=oid, action="cancel", pharmacy_id=pid, courier_id=cid,
                           name="console-desk")
        # the rosters and the last hour's figures, as the desk saw them
        # before it acted: the pharmacy let the order go at pickup (0 of
        # its 10), the courier is busy with it, and the hour counted it into
        # PICKED_UP, where it is now
        self.assertRegex(seen["pharmacy_row"], r"0 / 10", seen)
        self.assertIn("courier-busy", seen["courier_class"])
        self.assertIn("courier-benched", seen["benched_class"])
        bench = [e for e in self.stack.events() if e.get("kind") == "op_benched"
                 and e.get("subject_id") == cid]
        self.assertEqual(len(bench), 1, bench)
        self.assertTrue(bench[0]["actor"].startswith("operator:"), bench)
        self.assertRegex(seen["picked_up_row"], r"^\D*(\d+)\D+[1-9]", seen)
        self.assertIn("op_cancel", seen["kinds"])
        self.assertEqual(self.stack.order(oid)["state"], "RETURNING")
        self.assertNotIn(oid, self.stack.rxctl("exceptions", "--count", "200").stdout)

    def test_operator_watches_the_map(self):
        here, ph, cid, co, oid = self.offered_near_courier(name="江城大药房")
        moved = offset(here, north_m=800)
        seen = self.browse("map", link=self.link("operator", uid("op")), order_id=oid,
                           courier_id=cid, pharmacy_api=self.stack.vars["RXD_PHARMACY_API"],
                           pharmacy_token=ph, courier_api=self.stack.vars["RXD_COURIER_API"],
                           courier_token=co, moved={"lat": moved[0], "lon": moved[1]},
                           view={"lat": here[0], "lon": here[1]},
                           name="console-map")
        self.assertEqual(seen["states"][0], "OFFERED", seen)
        self.assertEqual(seen["states"][-1], "COURIER_ASSIGNED", seen)
        self.assertTrue(seen["atCourier"], "the assigned order is drawn at its courier")
        self.assertTrue(seen["visible"], "the courier is drawn in view after its move: %s" % seen)
        self.assertGreater(seen["moved_px"], 50, "the courier moved 800 m north on the map: %s" % seen)
        self.assertIn("busy", seen["courierClass"])
        self.assertEqual(self.stack.order(oid)["courier_id"], cid)


if __name__ == "__main__":
    unittest.main()
