"""Integration-test harness: a whole stack (redis-server, Kafka, the
services) started with scripts/stack in a directory of its own, HTTP calls to
the real APIs, and rxctl for Kafka (produce, read topics) and tokens.

Kafka is the embedded broker (devbroker) unless RXD_STACK_KAFKA=kafka in the
environment: then every stack runs on a real three-node Apache Kafka cluster
of its own (scripts/kafka), which ctest does for the tests labelled kafka.

Each test works in its own area (a point far from every other test's), so
tests that share a stack never see each other's pharmacies or couriers."""
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("RXD_BUILD_DIR", os.path.join(ROOT, "build"))
RXCTL = os.path.join(BUILD, "services", "rxctl", "rxctl")

_areas = itertools.count(0)
_ids = itertools.count(1)


_ports_given = set()


def free_port():
    """A free loopback port this test process was not given before: the
    kernel may hand a just-closed port to the next bind, and two servers of
    one test must not race for it."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no free loopback port in 100 tries")


def uid(prefix):
    """A fresh id for this process run."""
    return "%s-%d-%d" % (prefix, os.getpid(), next(_ids))


class Stack:
    """scripts/stack up in a temporary directory; env overrides the services'
    settings (e.g. RXD_OFFER_DEADLINE_MS)."""

    def __init__(self, services=None, **env):
        self.dir = tempfile.mkdtemp(prefix="rxd-stack-")
        self.env = dict(os.environ)
        self.env.update({k: str(v) for k, v in env.items()})
        self.env["RXD_STACK_DIR"] = self.dir
        self.env["RXD_BUILD_DIR"] = BUILD
        if services:
            self.env["RXD_STACK_SERVICES"] = " ".join(services)
        self.vars = {}
        self.children = {}  # instances this process started again

    def up(self):
        subprocess.run([os.path.join(ROOT, "scripts", "stack"), "up"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, timeout=300)
        with open(os.path.join(self.dir, "stack.env")) as f:
            for line in f:
                k, v = line.strip().replace("export ", "", 1).split("=", 1)
                self.vars[k] = v
        self.env.update(self.vars)
        return self

    def down(self):
        subprocess.run([os.path.join(ROOT, "scripts", "stack"), "down"], env=self.env,
                       stdout=subprocess.DEVNULL, timeout=120)
        if os.environ.get("RXD_KEEP_STACK"):
            print("stack kept in", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self, service):
        with open(os.path.join(self.dir, "logs", service + ".log")) as f:
            return f.read()

    # ---- processes of the stack ----

    def pids(self):
        out = {}
        with open(os.path.join(self.dir, "pids")) as f:
            for line in f:
                pid, name = line.split()
                if pid != "-":  # the Kafka cluster: see kafka()
                    out[name] = int(pid)
        return out

    def kill(self, service, sig=9):
        """Sends sig to a service instance and waits until it is gone."""
        pid = self.pids()[service]
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        child = self.children.pop(service, None)
        if child is not None:  # started by this process: reap it
            child.wait(timeout=20)
            return
        for _ in range(400):
            try:
                os.kill(pid, 0)
                time.sleep(0.05)
            except ProcessLookupError:
                return
        raise AssertionError("%s (%d) did not exit" % (service, pid))

    def start(self, service, wait_ready=True):
        """Starts a service instance again with the command and settings
        scripts/stack gave it (its run/<name>.sh)."""
        logf = open(os.path.join(self.dir, "logs", service + ".log"), "a")
        p = subprocess.Popen(["bash", os.path.join(self.dir, "run", service + ".sh")],
                             env=self.env, stdout=logf, stderr=logf)
        logf.close()
        with open(os.path.join(self.dir, "pids"), "a") as f:
            f.write("%d %s\n" % (p.pid, service))
        self.children[service] = p
        admin = self.vars.get("RXD_ADMIN_" + service.upper().replace("-", "_"))
        if wait_ready and admin:
            wait_until(lambda: http_status(admin + "/readyz") == 200, 60, service + " ready")
        return p

    def restart(self, service, sig=9, wait_ready=True):
        """Kills a service instance (SIGKILL by default) and starts it
        again with the same settings; returns once it is ready."""
        self.kill(service, sig)
        return self.start(service, wait_ready)

    @property
    def real_kafka(self):
        return self.vars.get("RXD_STACK_KAFKA") == "kafka"

    def kafka(self, *args, check=True):
        """scripts/kafka on this stack's cluster (real Kafka only): e.g.
        kafka("kill", 2), kafka("leader", "rx.approved", 0). Returns stdout."""
        p = subprocess.run([os.path.join(ROOT, "scripts", "kafka")] + [str(a) for a in args],
                           env=self.env, capture_output=True, text=True, timeout=180)
        if check and p.returncode != 0:
            raise AssertionError("scripts/kafka %s failed (%d): %s" % (args, p.returncode, p.stderr))
        return p.stdout.strip()

    # ---- tools ----

    def rxctl(self, *args, check=True, input=None, timeout=60):
        p = subprocess.run([RXCTL] + list(args), env=self.env, capture_output=True, text=True,
                           input=input, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("rxctl %s failed (%d): %s" % (args, p.returncode, p.stderr))
        return p

    def token(self, role, id, ttl=3600):
        return self.rxctl("token", "--role", role, "--id", id, "--ttl", str(ttl)).stdout.strip()

    def submit(self, rx):
        """Produces a prescription (a dict as in proto/rxdispatch.proto)."""
        return self.rxctl("submit", "-", input=json.dumps(rx))

    def produce_raw(self, topic, key, data):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(data)
        try:
            return self.rxctl("produce", topic, key, f.name)
        finally:
            os.unlink(f.name)

    def order_id(self, prescription_id, timeout=15):
        """Waits until the prescription has its order; returns the order id."""
        out = {}

        def found():
            p = self.rxctl("lookup", prescription_id, check=False)
            out["id"] = p.stdout.strip()
            return p.returncode == 0

        wait_until(found, timeout, "order of " + prescription_id)
        return out["id"]

    def order(self, order_id):
        return json.loads(self.rxctl("order", order_id).stdout)

    def wait_state(self, order_id, state, timeout=15):
        wait_until(lambda: self.order(order_id)["state"] == state, timeout,
                   "%s to reach %s (now %s)" % (order_id, state, self.order(order_id)["state"]))
        return self.order(order_id)

    def events(self, topic="order.events", order_id=None, idle_ms=1500):
        args = ["events", "--topic", topic, "--idle-ms", str(idle_ms)]
        if order_id:
            args += ["--order", order_id]
        out = self.rxctl(*args).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def handover_code(self, oid):
        """The order's handover code, as the patient got it on patient.notify."""
        found = {}

        def seen():
            for n in self.events("patient.notify", idle_ms=1000):
                if n.get("order_id") == oid and n.get("handover_code"):
                    found["code"] = n["handover_code"]
            return "code" in found

        wait_until(seen, 30, "the handover code of %s on patient.notify" % oid)
        return found["code"]

    # ---- HTTP ----

    def pharmacy_api(self, method, path, token=None, body=None, **kw):
        return http(method, self.vars["RXD_PHARMACY_API"] + path, token, body, **kw)

    def courier_api(self, method, path, token=None, body=None, **kw):
        return http(method, self.vars["RXD_COURIER_API"] + path, token, body, **kw)

    def register_pharmacy(self, pid, lat, lon, **fields):
        body = {"name": "Pharmacy " + pid, "lat": lat, "lon": lon, "open": True, "capacity": 10,
                "cold_chain": False, "insurance_designated": False}
        body.update(fields)
        code, out = self.pharmacy_api("PUT", "/v1/pharmacies/" + pid,
                                      self.token("operator", "op-test"), body)
        assert code == 200, (code, out)
        return self.token("pharmacy", pid)


def http(method, url, token=None, body=None, raw=None, headers=None, timeout=40):
    """Returns (status, parsed JSON body or text)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None and not (headers and "Content-Type" in headers):
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            code, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        code, text = e.code, e.read().decode(errors="replace")
    try:
        return code, json.loads(text)
    except ValueError:
        return code, text


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def wait_until(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def area():
    """A fresh point for one test: 2 degrees of latitude apart from every
    other test's, so radius searches never reach another test's places."""
    k = next(_areas)
    return (-60.0 + 2.0 * (k % 60), -170.0 + 4.0 * (k // 60))


def offset(point, north_m=0.0, east_m=0.0):
    """The point moved by metres north and east (good enough below 20 km)."""
    import math
    lat, lon = point
    return (lat + north_m / 111320.0, lon + east_m / (111320.0 * math.cos(math.radians(lat))))


def prescription(pid, point, **fields):
    rx = {"prescription_id": pid, "patient_ref": "pat-" + pid,
          "delivery": {"lat": point[0], "lon": point[1]},
          "delivery_address": "Test street 1, flat 2",
          "items": [{"drug_code": "PZN-100", "name": "Amoxicillin 500mg", "quantity": 1}],
          "approved_at_ms": int(time.time() * 1000)}
    rx.update(fields)
    return rx


class StackTest(unittest.TestCase):
    """One stack for all tests of a class; STACK_ENV sets its settings."""
    STACK_ENV = {}
    SERVICES = None

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(services=cls.SERVICES, **cls.STACK_ENV).up()

    @classmethod
    def tearDownClass(cls):
        cls.stack.down()

    def redis(self, *args):
        """redis-cli on the stack's Redis: its output, stripped."""
        return subprocess.run(["redis-cli", "-u", self.stack.vars["RXD_REDIS_URL"]] + list(args),
                              capture_output=True, text=True, check=True).stdout.strip()
