"""A rolling upgrade of the state machine library (docs/operations.md,
"Upgrading the state machine library"), once, with old and new services
against one Redis during the switch.

"Old" is this build's services; "new" is the same services built with the
next minor of the library (tests/upgrade/CMakeLists.txt: orders_next.lua
appended, the minor bumped; a new function and a new stored field, the
expand step). The test builds them itself (target rxd_upgrade_next), so it
runs on its own:

  cd tests/upgrade && RXD_BUILD_DIR=$PWD/../../build python3 -m unittest -v test_rolling_upgrade

One story, in order: orders on the old services; new gateways and a new
dispatcher join (the first loads the new minor over the old one); the old
router routes against the new minor, then a new router joins; orders flow
with steps served by old and by new processes; the old ones stop and the
new ones finish what the old ones started; an old service started after the
switch keeps the new minor; a library of another major makes an old service
refuse, not ready, saying why. Redis MONITOR records every outbox entry the
library writes, with the version that wrote it."""
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import (BUILD, Stack, area, free_port, http, http_status, offset, prescription, uid,  # noqa: E402
                     wait_until)

SERVICES = ["rx-router", "pharmacy-gw", "courier-gw", "dispatcher"]
NEXT_DIR = os.path.join(BUILD, "tests", "upgrade")
STACK_ENV = {
    "RXD_STACK_KAFKA": "embedded",
    # orders wait across the switch: no offer or position may run out meanwhile
    "RXD_OFFER_DEADLINE_MS": 300000,
    "RXD_POSITION_STALE_MS": 600000,
}


def now_ms():
    return int(time.time() * 1000)


def metric(admin, name):
    code, text = http("GET", admin + "/metrics")
    if code != 200:
        return 0.0
    m = re.search(r"^(?:\w+_)?%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


class Monitor(threading.Thread):
    """redis-cli MONITOR: keeps the fields of every XADD to an outbox (the
    relay deletes entries once Kafka has them, so the stream alone would
    not show every entry)."""
    ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')

    def __init__(self, url):
        super().__init__(daemon=True)
        self.p = subprocess.Popen(["redis-cli", "-u", url, "monitor"], stdout=subprocess.PIPE,
                                  text=True)
        self.entries = []  # dicts of outbox entry fields

    def run(self):
        for line in self.p.stdout:
            if '"XADD"' not in line:
                continue
            a = self.ARG.findall(line)
            if len(a) > 3 and a[1].endswith(":outbox"):
                f = a[3:]
                self.entries.append(dict(zip(f[0::2], f[1::2])))

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)
        self.join(timeout=10)


class RollingUpgradeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        subprocess.run(["cmake", "--build", BUILD, "--target", "rxd_upgrade_next"], check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        cls.stack = Stack(services=SERVICES, **STACK_ENV).up()
        cls.monitor = Monitor(cls.stack.vars["RXD_REDIS_URL"])
        cls.monitor.start()

    @classmethod
    def tearDownClass(cls):
        cls.monitor.stop()
        for name in list(cls.stack.children):  # reaped here, or down waits on zombies
            cls.stack.kill(name, sig=15)
        cls.stack.down()

    # ---- the stack's Redis and instances ----

    def redis(self, *args, stdin=None):
        """redis-cli's answer (an error reply is an answer too)."""
        p = subprocess.run(["redis-cli", "-u", self.stack.vars["RXD_REDIS_URL"]] + list(args),
                           input=stdin, capture_output=True, text=True, timeout=30)
        return (p.stdout + p.stderr).strip()

    def loaded_version(self):
        return self.redis("FCALL", "rxd_version", "0")

    def instance(self, name, service, binary):
        """Starts another instance of service running binary, with the
        settings scripts/stack gave the first one and ports of its own;
        returns (admin URL, API URL or None)."""
        with open(os.path.join(self.stack.dir, "run", service + ".sh")) as f:
            script = f.read()
        urls = {}

        def port(m):
            p = free_port()
            urls[m.group(1)] = "http://127.0.0.1:%d" % p
            return "export RXD_%s_PORT=%d" % (m.group(1), p)

        script = re.sub(r"^export RXD_(HTTP|ADMIN)_PORT=\d+$", port, script, flags=re.M)
        old_binary = os.path.join(BUILD, "services", service, service)
        self.assertIn(old_binary, script)
        script = script.replace(old_binary, binary)
        with open(os.path.join(self.stack.dir, "run", name + ".sh"), "w") as f:
            f.write(script)
        self.stack.start(name, wait_ready=False)
        return urls["ADMIN"], urls.get("HTTP")

    def wait_ready(self, name, admin):
        wait_until(lambda: http_status(admin + "/readyz") == 200, 60, name + " ready")

    @staticmethod
    def logged(log, event, cond=lambda e: True):
        """Whether a JSON line of log is event and satisfies cond."""
        for line in log.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == event and cond(e):
                return True
        return False

    # ---- orders, each step through the gateway given ----

    def submit(self):
        pid = uid("rx")
        self.stack.submit(prescription(pid, offset(self.pt, north_m=1500)))
        return pid

    def order_key(self, oid):
        return self.prefix + "ord:" + oid

    def step(self, api, token, path, body=None, want=None):
        code, out = http("POST", api + path, token, body)
        self.assertEqual(code, 200, (path, out))
        if want:
            self.assertEqual(out["state"], want, (path, out))

    def accept(self, oid, pgw):
        self.stack.wait_state(oid, "OFFERED")
        self.step(pgw, self.ph_token, "/v1/orders/%s/accept" % oid)

    def ready(self, oid, pgw):
        self.step(pgw, self.ph_token, "/v1/orders/%s/ready" % oid)

    def courier_takes(self, oid, cgw):
        """The assigned courier accepts and picks up through cgw."""
        cid = self.stack.wait_state(oid, "COURIER_ASSIGNED", 30)["courier_id"]
        tok = self.couriers[cid]
        self.step(cgw, tok, "/v1/orders/%s/courier/accept" % oid, want="COURIER_ASSIGNED")
        code, out = http("PUT", cgw + "/v1/couriers/%s/location" % cid, tok,
                         {"lat": self.pt[0], "lon": self.pt[1], "ts_ms": now_ms()})
        self.assertEqual(code, 200, out)
        self.step(cgw, tok, "/v1/orders/%s/courier/pickup" % oid, want="PICKED_UP")
        return cid

    def deliver(self, oid, cid, cgw):
        code = self.redis("HGET", self.order_key(oid), "code")
        self.step(cgw, self.couriers[cid], "/v1/orders/%s/courier/deliver" % oid,
                  {"handover_code": code}, want="DELIVERED")

    def add_couriers(self, n, cgw):
        for _ in range(n):
            cid = uid("co")
            tok = self.stack.token("courier", cid)
            code, out = http("PUT", cgw + "/v1/couriers/%s/availability" % cid, tok,
                             {"available": True, "cold_chain": False, "capacity": 1})
            self.assertEqual(code, 200, out)
            lat, lon = offset(self.pt, north_m=300)
            code, out = http("PUT", cgw + "/v1/couriers/%s/location" % cid, tok,
                             {"lat": lat, "lon": lon, "ts_ms": now_ms()})
            self.assertEqual(code, 200, out)
            self.couriers[cid] = tok

    # ---- the story ----

    def test_rolling_upgrade(self):
        s = self.stack
        old = {"pgw": s.vars["RXD_PHARMACY_API"], "cgw": s.vars["RXD_COURIER_API"],
               "router": s.vars["RXD_ADMIN_RX_ROUTER"]}
        self.pt = area()
        ph = uid("ph")
        self.ph_token = s.register_pharmacy(ph, self.pt[0], self.pt[1], capacity=100)
        self.couriers = {}
        self.add_couriers(6, old["cgw"])
        cur = self.loaded_version()
        major, minor = (int(x) for x in cur.split("."))
        nxt = "%d.%d" % (major, minor + 1)

        # 1. old services only: orders left in four different states
        pids = [self.submit() for _ in range(4)]
        a = [s.order_id(p) for p in pids]
        self.prefix = self.redis("--scan", "--pattern", "*ord:" + a[0]).rsplit("ord:", 1)[0]
        self.assertTrue(self.prefix, "no key of order " + a[0])
        for oid in a[1:]:
            self.accept(oid, old["pgw"])
        for oid in a[2:]:
            self.ready(oid, old["pgw"])
        a_courier = {a[3]: self.courier_takes(a[3], old["cgw"])}
        s.wait_state(a[2], "COURIER_ASSIGNED", 30)
        self.assertEqual(self.loaded_version(), cur)
        self.assertEqual(self.redis("FCALL", "rxd_order_brief", "1", self.prefix + "x",
                                    self.prefix, a[0]), "ERR Function not found")

        # 2. new gateways and a new dispatcher join; the first one to connect
        # replaces the library
        new = {}
        for svc in SERVICES[1:]:
            new[svc] = self.instance(svc + "-next", svc, os.path.join(NEXT_DIR, svc + "-next"))
        for svc in SERVICES[1:]:
            self.wait_ready(svc + "-next", new[svc][0])
        self.assertEqual(self.loaded_version(), nxt)
        upgraded = [svc for svc in SERVICES[1:]
                    if self.logged(s.log(svc + "-next"), "redis_library_upgrade")]
        self.assertEqual(len(upgraded), 1, "redis_library_upgrade logged by %s" % upgraded)
        for svc in SERVICES:  # the old ones run on against the new minor
            self.assertEqual(http_status(s.vars["RXD_ADMIN_" + svc.upper().replace("-", "_")]
                                         + "/readyz"), 200, svc + " (old) not ready")
        pgw = [old["pgw"], new["pharmacy-gw"][1]]
        cgw = [old["cgw"], new["courier-gw"][1]]

        # 3. old and new side by side: the old orders go on through new
        # gateways; new orders are routed by the old router (against the new
        # minor), then by a new one too (once the group gave it partitions,
        # in rounds until it has routed some); their steps alternate old and
        # new gateways
        self.accept(a[0], pgw[1])               # routed by the old router
        self.ready(a[1], pgw[1])                # accepted through the old gateway
        a_courier[a[2]] = self.courier_takes(a[2], cgw[1])  # assigned by the old dispatcher
        self.deliver(a[3], a_courier[a[3]], cgw[1])         # picked up through the old gateway
        routers = [old["router"]]
        base = [metric(old["router"], "router_offers_total")]
        b = [s.order_id(p, timeout=30) for p in [self.submit() for _ in range(4)]]
        for oid in b:
            s.wait_state(oid, "OFFERED", 30)
        self.assertEqual(metric(old["router"], "router_offers_total") - base[0], 4)
        new["rx-router"] = self.instance("rx-router-next", "rx-router",
                                         os.path.join(NEXT_DIR, "rx-router-next"))
        self.wait_ready("rx-router-next", new["rx-router"][0])
        wait_until(lambda: self.logged(s.log("rx-router-next"), "kafka_partitions_assigned",
                                       lambda e: e.get("partitions")),
                   60, "partitions for the new rx-router")
        routers.append(new["rx-router"][0])
        base.append(0.0)
        for _ in range(10):
            batch = [s.order_id(p, timeout=30) for p in [self.submit() for _ in range(4)]]
            for oid in batch:
                s.wait_state(oid, "OFFERED", 30)
            b += batch
            routed = [metric(r, "router_offers_total") - b0 for r, b0 in zip(routers, base)]
            if routed[1] > 0:
                break
        self.assertGreater(routed[1], 0, "offers made by the new router")
        self.add_couriers(len(b) + 2, cgw[1])
        b_courier = {}
        for i, oid in enumerate(b):
            self.accept(oid, pgw[i % 2])
        for i, oid in enumerate(b[:-2]):  # the last two wait for the new services alone
            self.ready(oid, pgw[(i + 1) % 2])
        for i, oid in enumerate(b[:-2]):
            b_courier[oid] = self.courier_takes(oid, cgw[i % 2])
            self.deliver(oid, b_courier[oid], cgw[(i + 1) % 2])
        self.ready(a[0], pgw[0])
        for oid in a[:3]:
            if oid not in a_courier:
                a_courier[oid] = self.courier_takes(oid, cgw[0])
            self.deliver(oid, a_courier[oid], cgw[0])

        assigned = [metric(u, "dispatcher_assignments_total")
                    for u in (s.vars["RXD_ADMIN_DISPATCHER"], new["dispatcher"][0])]

        # 4. the old services stop; the new ones finish the rest
        for svc in SERVICES:
            s.kill(svc, sig=15)
        c = [s.order_id(p, timeout=30) for p in [self.submit() for _ in range(2)]]
        for oid in b[-2:] + c:
            if oid in c:
                self.accept(oid, pgw[1])
            self.ready(oid, pgw[1])
            self.deliver(oid, self.courier_takes(oid, cgw[1]), cgw[1])

        # 5. an old service started after the switch keeps the newer minor
        admin, _ = self.instance("rx-router-again", "rx-router",
                                 os.path.join(BUILD, "services", "rx-router", "rx-router"))
        self.wait_ready("rx-router-again", admin)
        self.assertTrue(self.logged(s.log("rx-router-again"), "redis_library_newer"))
        self.assertEqual(self.loaded_version(), nxt)

        # no order lost or doubled: one order per prescription, every one
        # DELIVERED, its events on order.events numbered 1..n without a gap
        orders = a + b + c
        self.assertEqual(len(set(orders)), len(orders))
        events = {}
        wanted = set(orders)

        def all_delivered():
            events.clear()
            for e in s.events(idle_ms=1500):
                if e.get("order_id") in wanted:
                    events.setdefault(e["order_id"], {})[e["seq"]] = e
            return all(oid in events and max(events[oid]) in events[oid] and
                       events[oid][max(events[oid])]["state"] == "DELIVERED" for oid in orders)

        wait_until(all_delivered, 60, "DELIVERED of every order on order.events")
        for oid in orders:
            seqs = sorted(events[oid])
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), oid)
            created = [e for e in events[oid].values() if e["kind"] == "created"]
            self.assertEqual(len(created), 1, oid)
        n_rx = len({e["prescription_id"] for oid in orders for e in events[oid].values()})
        self.assertEqual(n_rx, len(orders))

        # the outbox entries name the version that wrote them: the orders of
        # step 1 were written by both, the others by the new one only
        written = {}
        for e in self.monitor.entries:
            if e.get("t") == "ev" and e.get("order_id") in wanted:
                written.setdefault(e["order_id"], set()).add(e.get("v"))
        for oid in a:
            self.assertEqual(written.get(oid), {cur, nxt}, oid)
        for oid in b + c:
            self.assertEqual(written.get(oid), {nxt}, oid)
        # ... and the new minor's stored field and function serve every order
        for oid in orders:
            brief = self.redis("FCALL", "rxd_order_brief", "1", self.prefix + "x",
                               self.prefix, oid).split("\n")
            self.assertEqual(brief[0], "ok", brief)
            self.assertEqual((brief[1], brief[3]), ("DELIVERED", nxt), (oid, brief))

        # 6. another major loaded: an old service refuses it and says why
        with open(os.path.join(NEXT_DIR, "rxd_orders_next.lua")) as f:
            text = f.read()
        later = "%d.0" % (major + 1)
        text, n = re.subn(r"\nlocal VERSION = '[0-9.]+'", "\nlocal VERSION = '%s'" % later, text)
        self.assertEqual(n, 1)
        self.assertEqual(self.redis("-x", "FUNCTION", "LOAD", "REPLACE", stdin=text), "rxd_orders")
        admin, _ = self.instance("pharmacy-gw-refused", "pharmacy-gw",
                                 os.path.join(BUILD, "services", "pharmacy-gw", "pharmacy-gw"))
        why = {}

        def refused():
            try:
                code, out = http("GET", admin + "/readyz", timeout=5)
            except OSError:  # not listening yet
                return False
            why["out"] = out
            return code == 503 and "needs major %d" % major in str(out)

        wait_until(refused, 30, "pharmacy-gw to refuse major %d" % (major + 1))
        self.assertIn("version %s is loaded" % later, str(why["out"]))
        self.assertTrue(self.logged(s.log("pharmacy-gw-refused"), "redis_library_incompatible"))
        self.assertEqual(self.loaded_version(), later)  # refused, not replaced
        print("\nrolling upgrade %s -> %s: %d orders delivered; offers by the (old, new) "
              "router after the switch %s; assignments by the (old, new) dispatcher until the "
              "old stopped %s" % (cur, nxt, len(orders), routed, assigned), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
