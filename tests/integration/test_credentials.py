"""Credentials and keys end to end (issue 12, item 7), on private stacks.

- The whole path under the least-privilege Redis ACL user of
  deploy/redis/users.acl (scripts/stack with RXD_STACK_REDIS_ACL=1): every
  service connection logs in as rxdispatch, an order goes from prescription
  to delivery, and Redis denied nothing (its ACL LOG stays empty).
- A wrong password: the service is not ready and says why, its prescription
  waits in Kafka, and once the password file is fixed it is routed.
- TLS to Redis through a local stunnel sidecar (Debian's stunnel4):
  redis-server with only a TLS port (mutual TLS, certificates made here with
  openssl), the services reaching it through stunnel on loopback.
- Token key rotation: tokens of the old key work while both keys are set,
  new tokens carry the new key's id, and the old ones are refused once the
  old key is removed."""
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BUILD, ROOT, RXCTL, Stack, StackTest, area, free_port, http_status, offset,  # noqa: E402
                     prescription, uid, wait_until)
from test_courier import CourierTestBase  # noqa: E402

ACL_FILE = os.path.join(ROOT, "deploy", "redis", "users.acl")



def redis_cli(url, *args, check=True):
    """redis-cli as the stack's admin (the url holds the admin password)."""
    p = subprocess.run(["redis-cli", "--no-auth-warning", "-u", url] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError("redis-cli %s: %s" % (args, p.stderr))
    return (p.stdout + p.stderr).strip()


def acl_with_passwords(rxdispatch_pw, admin_pw):
    """deploy/redis/users.acl with the password hashes filled in, as an
    operator (or scripts/stack) does."""
    with open(ACL_FILE) as f:
        text = f.read()
    return (text.replace("@RXD_REDIS_PASSWORD_SHA256@",
                         hashlib.sha256(rxdispatch_pw.encode()).hexdigest())
            .replace("@RXD_ADMIN_PASSWORD_SHA256@", hashlib.sha256(admin_pw.encode()).hexdigest()))


class AclPathTest(CourierTestBase):
    """Every service logs in as the ACL user rxdispatch."""
    STACK_ENV = {"RXD_STACK_REDIS_ACL": "1"}

    @property
    def admin(self):
        return self.stack.vars["RXD_STACK_REDIS_ADMIN_URL"]

    def password_file(self):
        return self.stack.vars["RXD_REDIS_PASSWORD_FILE"]

    def redis(self, *args):  # the helpers of CourierTestBase read as the admin
        return redis_cli(self.admin, *args)

    def test_whole_path_under_the_acl_user(self):
        redis_cli(self.admin, "ACL", "LOG", "RESET")
        self.place()
        cid, tok = self.courier(300)
        oid = self.accepted_order()  # routed, offered, accepted
        self.ready(oid)
        self.assertEqual(self.assigned_to(oid), cid)
        code, out = self.act(oid, tok, "accept")
        self.assertEqual(code, 200, out)
        code, out = self.pickup(oid, cid, tok)
        self.assertEqual((code, out["state"]), (200, "PICKED_UP"), out)
        code, out = self.act(oid, tok, "deliver", {"handover_code": self.handover_code(oid)})
        self.assertEqual((code, out["state"]), (200, "DELIVERED"), out)
        wait_until(lambda: any(e["state"] == "DELIVERED"
                               for e in self.stack.events(order_id=oid, idle_ms=800)),
                   30, "DELIVERED relayed to order.events under the ACL user")
        # every client of the services is the ACL user, none the default user
        clients = redis_cli(self.admin, "CLIENT", "LIST").splitlines()
        users = {f.split("=", 1)[1] for c in clients for f in c.split() if f.startswith("user=")}
        self.assertEqual(users, {"rxdispatch", "rxd-admin"}, clients)
        self.assertGreaterEqual(sum("user=rxdispatch" in c for c in clients), 8, clients)
        # and Redis refused none of their commands, keys or channels
        self.assertEqual(redis_cli(self.admin, "ACL", "LOG"), "")
        # the default user is off: nothing without credentials
        port = self.stack.vars["RXD_REDIS_URL"].rsplit(":", 1)[1]
        out = subprocess.run(["redis-cli", "-p", port, "GET", "x"], capture_output=True,
                             text=True, timeout=10)
        self.assertIn("NOAUTH", out.stdout + out.stderr)

    def test_least_privilege(self):
        """The ACL user cannot read outside rxd:*, flush, or reconfigure."""
        with open(self.password_file()) as f:
            pw = f.read().strip()
        url = self.stack.vars["RXD_REDIS_URL"].replace("rxdispatch@", "rxdispatch:%s@" % pw)
        for cmd in (["GET", "other:key"], ["FLUSHALL"], ["CONFIG", "SET", "appendonly", "no"],
                    ["KEYS", "*"], ["ACL", "LIST"]):
            out = redis_cli(url, *cmd, check=False)
            self.assertIn("NOPERM", out, cmd)
        self.assertEqual(redis_cli(url, "PING"), "PONG")

    def test_password_never_on_a_command_line_or_in_a_log(self):
        with open(self.password_file()) as f:
            pw = f.read().strip()
        for name, pid in self.stack.pids().items():
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                self.assertNotIn(pw.encode(), f.read(), name)
            self.assertNotIn(pw, self.stack.log(name), name)

    def test_wrong_password_is_not_ready_then_routes_once_fixed(self):
        home = area()
        ph = uid("ph")
        self.stack.register_pharmacy(ph, *offset(home, east_m=500))
        path = self.password_file()
        with open(path) as f:
            right = f.read()
        admin = self.stack.vars["RXD_ADMIN_RX_ROUTER"]
        try:
            with open(path, "w") as f:
                f.write("wrong-password\n")
            self.stack.kill("rx-router")
            self.stack.start("rx-router", wait_ready=False)
            wait_until(lambda: "redis_auth_failed" in self.stack.log("rx-router").split(
                "redis_connected")[-1], 20, "rx-router to log the refused login")
            time.sleep(1)  # the admin port is up once the service runs
            code = http_status(admin + "/readyz")
            self.assertEqual(code, 503)
            try:
                urllib.request.urlopen(admin + "/readyz", timeout=5)
            except urllib.error.HTTPError as e:
                body = e.read().decode()
            self.assertIn("authentication failed as user rxdispatch", body)
            self.assertIn("WRONGPASS", body)
            last = [l for l in self.stack.log("rx-router").splitlines()
                    if "redis_auth_failed" in l][-1]
            self.assertIn("RXD_REDIS_PASSWORD_FILE", last)  # says what to do
            self.assertNotIn("wrong-password", self.stack.log("rx-router"))
            # rxctl with the same wrong password says so too
            p = self.stack.rxctl("lookup", uid("rx"), check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("authentication failed", p.stderr)
            # a prescription meanwhile waits in Kafka, unrouted
            rx = prescription(uid("rx"), home)
            self.stack.submit(rx)
            time.sleep(3)
            self.assertEqual(redis_cli(self.admin, "EXISTS",
                                       "rxd:{default}:rx:" + rx["prescription_id"]), "0")
            self.assertEqual(http_status(admin + "/readyz"), 503)
        finally:
            with open(path, "w") as f:
                f.write(right)
        # fixed: the file is read again on the next connect, no restart
        wait_until(lambda: http_status(admin + "/readyz") == 200, 30, "rx-router ready again")
        oid = self.stack.order_id(rx["prescription_id"], timeout=30)
        self.assertEqual(self.stack.wait_state(oid, "OFFERED", 30)["pharmacy_id"], ph)


class TlsSidecarTest(unittest.TestCase):
    """redis-server with a TLS port only; rx-router, pharmacy-gw and rxctl
    reach it through a client-side stunnel on loopback."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which("stunnel4") and not shutil.which("stunnel"):
            raise unittest.SkipTest("stunnel4 is not installed: run scripts/install-deps as root")
        cls.dir = tempfile.mkdtemp(prefix="rxd-tls-")
        cls.procs = []
        cls.stack = None
        try:
            cls.make_certs()
            cls.start_redis()
            cls.start_sidecar()
            # Kafka (and a redis the test does not use) from scripts/stack;
            # the services are started here, pointed at the sidecar
            cls.stack = Stack(services=["none"]).up()
            cls.start_services()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if cls.stack:
            cls.stack.down()
        if not os.environ.get("RXD_KEEP_STACK"):
            shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)

    @classmethod
    def openssl(cls, *args):
        subprocess.run(["openssl"] + list(args), cwd=cls.dir, check=True,
                       capture_output=True, timeout=60)

    @classmethod
    def make_certs(cls):
        """A CA, the server's certificate (localhost) and the sidecar's."""
        cls.openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=rxd-test-ca", "-keyout", "ca.key", "-out", "ca.pem")
        with open(cls.path("san.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        for name in ("server", "client"):
            cls.openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=" + ("localhost" if name == "server" else "rxd-sidecar"),
                        "-keyout", name + ".key", "-out", name + ".csr")
            cls.openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey",
                        "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
                        "-out", name + ".pem")

    @classmethod
    def spawn(cls, name, cmd, env=None):
        log = open(cls.path(name + ".log"), "a")
        p = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, cwd=cls.dir)
        log.close()
        cls.procs.append(p)
        return p

    @classmethod
    def start_redis(cls):
        cls.tls_port = free_port()
        cls.password = "tls-" + hashlib.sha256(os.urandom(16)).hexdigest()[:32]
        admin_pw = hashlib.sha256(os.urandom(16)).hexdigest()[:32]
        with open(cls.path("users.acl"), "w") as f:
            f.write(acl_with_passwords(cls.password, admin_pw))
        with open(cls.path("rxdispatch.pass"), "w") as f:
            f.write(cls.password + "\n")
        cls.spawn("redis", ["redis-server", "--port", "0", "--tls-port", str(cls.tls_port),
                            "--bind", "127.0.0.1", "--tls-cert-file", "server.pem",
                            "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.pem",
                            "--tls-auth-clients", "yes", "--aclfile", "users.acl",
                            "--save", "", "--appendonly", "no", "--dir", cls.dir])

    @classmethod
    def start_sidecar(cls):
        cls.local_port = free_port()
        with open(cls.path("stunnel.conf"), "w") as f:
            f.write("foreground = yes\npid =\n\n[redis]\nclient = yes\n"
                    "accept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
                    "CAfile = %s\nverifyChain = yes\ncheckHost = localhost\n"
                    "cert = %s\nkey = %s\n"
                    % (cls.local_port, cls.tls_port, cls.path("ca.pem"),
                       cls.path("client.pem"), cls.path("client.key")))
        cls.spawn("stunnel", [shutil.which("stunnel4") or "stunnel", cls.path("stunnel.conf")])
        url = "redis://rxdispatch:%s@127.0.0.1:%d" % (cls.password, cls.local_port)
        wait_until(lambda: redis_cli(url, "PING", check=False) == "PONG", 20,
                   "redis through the sidecar")

    @classmethod
    def start_services(cls):
        env = dict(cls.stack.env)
        env.update({"RXD_REDIS_URL": "redis://rxdispatch@127.0.0.1:%d" % cls.local_port,
                    "RXD_REDIS_PASSWORD_FILE": cls.path("rxdispatch.pass")})
        cls.stack.env.update(env)  # rxctl too goes through the sidecar
        for svc in ("rx-router", "pharmacy-gw"):
            admin = free_port()
            senv = dict(env, RXD_ADMIN_PORT=str(admin))
            if svc == "pharmacy-gw":
                http = free_port()
                senv["RXD_HTTP_PORT"] = str(http)
                cls.stack.vars["RXD_PHARMACY_API"] = "http://127.0.0.1:%d" % http
            cls.spawn(svc, [os.path.join(BUILD, "services", svc, svc)], senv)
            wait_until(lambda: http_status("http://127.0.0.1:%d/readyz" % admin) == 200, 60,
                       svc + " ready through the sidecar")

    def test_whole_path_through_the_tls_sidecar(self):
        home = area()
        ph = uid("ph")
        tok = self.stack.register_pharmacy(ph, *offset(home, east_m=700))
        rx = prescription(uid("rx"), home)
        self.stack.submit(rx)
        code, body = self.stack.pharmacy_api("GET", "/v1/pharmacies/%s/orders?wait=15" % ph, tok)
        self.assertEqual(code, 200, body)
        oid = self.stack.order_id(rx["prescription_id"])  # rxctl, through the sidecar
        self.assertEqual([o["order_id"] for o in body["orders"]], [oid])
        self.assertEqual(self.stack.wait_state(oid, "OFFERED")["pharmacy_id"], ph)
        # the only way in was TLS: redis has no plain port, and the sidecar
        # carried the services' connections
        with open(self.path("stunnel.log")) as f:
            self.assertGreaterEqual(f.read().count("accepted connection"), 3)
        plain = subprocess.run(["redis-cli", "-p", str(self.tls_port), "PING"],
                               capture_output=True, text=True, timeout=10)
        self.assertNotEqual(plain.stdout.strip(), "PONG")


OLD_SECRET = "0ld5ecret" + "a" * 23
NEW_SECRET = "n3w5ecret" + "b" * 23


class TokenRotationTest(StackTest):
    """RXD_TOKEN_SECRET from a plain secret (key 0) to the ring
    "1:NEW,0:OLD" and then "1:NEW", pharmacy-gw restarted at each step."""
    SERVICES = ["pharmacy-gw"]
    STACK_ENV = {"RXD_TOKEN_SECRET": OLD_SECRET}

    def set_secret(self, value):
        """The gateway (restarted) and rxctl take value as RXD_TOKEN_SECRET."""
        run = os.path.join(self.stack.dir, "run", "pharmacy-gw.sh")
        with open(run) as f:
            lines = [l for l in f.read().splitlines() if not l.startswith("export RXD_TOKEN_SECRET=")]
        lines.insert(1, "export RXD_TOKEN_SECRET=" + shlex.quote(value))
        with open(run, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.stack.env["RXD_TOKEN_SECRET"] = value
        self.stack.restart("pharmacy-gw", sig=15)

    def get(self, ph, tok):
        return self.stack.pharmacy_api("GET", "/v1/pharmacies/%s/orders?wait=0" % ph, tok)

    def test_rotation_keeps_old_tokens_until_the_old_key_goes(self):
        ph = uid("ph")
        old_tok = self.stack.register_pharmacy(ph, *area())
        self.assertTrue(old_tok.startswith("rxd1."), old_tok)
        self.assertEqual(self.get(ph, old_tok)[0], 200)
        try:
            self.set_secret("1:%s,0:%s" % (NEW_SECRET, OLD_SECRET))
            self.assertEqual(self.get(ph, old_tok)[0], 200)  # still valid
            new_tok = self.stack.token("pharmacy", ph)
            self.assertTrue(new_tok.startswith("rxd2.1."), new_tok)  # the current key signs
            self.assertEqual(self.get(ph, new_tok)[0], 200)

            self.set_secret("1:" + NEW_SECRET)
            code, body = self.get(ph, old_tok)
            self.assertEqual(code, 401, body)
            self.assertEqual(body["error"]["message"], "unknown key id")
            self.assertEqual(self.get(ph, new_tok)[0], 200)

            # a key the gateway does not hold is refused by name
            p = subprocess.run([RXCTL, "token", "--role", "pharmacy", "--id", ph],
                               env=dict(self.stack.env, RXD_TOKEN_SECRET="9:" + "c" * 32),
                               capture_output=True, text=True, timeout=30, check=True)
            code, body = self.get(ph, p.stdout.strip())
            self.assertEqual((code, body["error"]["message"]), (401, "unknown key id"))
            # a malformed ring is refused by rxctl with the reason
            p = subprocess.run([RXCTL, "token", "--role", "pharmacy", "--id", ph],
                               env=dict(self.stack.env, RXD_TOKEN_SECRET="1:short"),
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("16 or more characters", p.stderr)
        finally:
            self.set_secret(OLD_SECRET)


if __name__ == "__main__":
    unittest.main()
