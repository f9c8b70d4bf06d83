"""The reference archive (docs/operations.md, "The archive"): rx-archive
consumes order.closed into a private PostgreSQL (Debian's server binaries,
initdb in a temporary directory on a free port) through a role that may only
INSERT and read order_id (all ON CONFLICT (order_id) DO NOTHING needs), with its password from RXD_ARCHIVE_PG_PASSWORD_FILE.
Orders driven to DELIVERED and CANCELLED each become one row with their
data; garbage on order.closed goes to the dead letter and the consumer goes
on; while PostgreSQL is stopped the archive is not ready and the order
waits, written once it is back; after a SIGKILL and a restart, and after a
replay of the whole topic in a fresh group, there is still exactly one row
per order."""
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, ROOT, free_port, http_status, offset, prescription, uid, wait_until  # noqa: E402
from test_courier import CourierTestBase  # noqa: E402

ARCHIVE = os.path.join(BUILD, "services", "rx-archive", "rx-archive")
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


class Postgres:
    """A throw-away PostgreSQL cluster; the server refuses to run as root,
    so as root it runs as the postgres user."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rxd-pg-")
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")

    def run(self, *cmd, **kw):
        return subprocess.run(self.as_user + list(cmd), check=True, capture_output=True,
                              text=True, timeout=120, **kw)

    def start(self):
        if os.path.exists(self.data):  # again, after stop(keep=True)
            return self.pg_ctl("start")
        pwfile = os.path.join(self.dir, "su")
        with open(pwfile, "w") as f:
            f.write("owner-secret\n")
        if self.as_user:
            shutil.chown(pwfile, "postgres", "postgres")
        self.run(os.path.join(PG_BIN[-1], "initdb"), "-D", self.data, "-U", "postgres",
                 "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile", pwfile)
        self.pg_ctl("start")

    def pg_ctl(self, action):
        self.run(os.path.join(PG_BIN[-1], "pg_ctl"), "-D", self.data, "-w", "-m", "fast", "-l",
                 os.path.join(self.dir, "log"), "-o",
                 "-p %d -k %s -c listen_addresses=127.0.0.1" % (self.port, self.dir), action)

    def psql(self, *args, sql=None):
        """As the owner, over the local socket; returns the unaligned output."""
        cmd = ["psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
               "-v", "ON_ERROR_STOP=1", "-At"] + list(args)
        if sql is not None:
            cmd += ["-c", sql]
        return self.run(*cmd).stdout.strip()

    def stop(self, keep=False):
        self.pg_ctl("stop")
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(PG_BIN, "PostgreSQL server binaries missing: scripts/install-deps")
class ArchiveTest(CourierTestBase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = Postgres()
        cls.pg.start()
        # the documented way: the owner applies the schema with psql
        shutil.copy(os.path.join(ROOT, "deploy", "postgres", "archive.sql"), cls.pg.dir)
        cls.pg.psql("-f", os.path.join(cls.pg.dir, "archive.sql"))
        cls.pg.psql("-f", os.path.join(cls.pg.dir, "archive.sql"))  # idempotent
        cls.pg.psql(sql="CREATE ROLE rx_archive LOGIN PASSWORD 'archive-secret'; "
                        "GRANT INSERT, SELECT (order_id) ON orders_closed TO rx_archive")
        cls.pwfile = os.path.join(cls.pg.dir, "archive-password")
        with open(cls.pwfile, "w") as f:
            f.write("archive-secret\n")
        os.chmod(cls.pwfile, 0o600)
        cls.proc = None

    @classmethod
    def tearDownClass(cls):
        cls.stop_archive(signal.SIGKILL)
        cls.pg.stop()
        super().tearDownClass()

    @classmethod
    def start_archive(cls, group="rx-archive"):
        cls.admin_port = free_port()
        env = dict(cls.stack.env)
        env.update({"RXD_ARCHIVE_PG": "postgresql://rx_archive@127.0.0.1:%d/postgres" % cls.pg.port,
                    "RXD_ARCHIVE_PG_PASSWORD_FILE": cls.pwfile, "RXD_ARCHIVE_GROUP": group,
                    "RXD_ADMIN_PORT": str(cls.admin_port)})
        cls.log = open(os.path.join(cls.pg.dir, "rx-archive.log"), "a")
        cls.proc = subprocess.Popen([ARCHIVE], env=env, stdout=cls.log, stderr=cls.log)
        wait_until(lambda: http_status("http://127.0.0.1:%d/readyz" % cls.admin_port) == 200, 60,
                   "rx-archive ready")

    @classmethod
    def stop_archive(cls, sig=signal.SIGTERM):
        if cls.proc and cls.proc.poll() is None:
            cls.proc.send_signal(sig)
            rc = cls.proc.wait(timeout=30)
            cls.log.close()
            return rc
        return None

    def rows(self, oids):
        out = self.pg.psql(sql="SELECT order_id, count(*) OVER (PARTITION BY order_id) FROM "
                               "orders_closed WHERE order_id IN (%s)"
                               % ",".join("'%s'" % o for o in oids))
        return [line.split("|") for line in out.splitlines()]

    def row(self, oid, cols):
        out = self.pg.psql(sql="SELECT %s FROM orders_closed WHERE order_id = '%s'"
                               % (", ".join(cols), oid))
        return dict(zip(cols, out.split("|")))

    def wait_rows(self, oids):
        wait_until(lambda: len(self.rows(oids)) == len(oids), 30, "rows of %s" % sorted(oids))
        self.assertEqual(sorted(self.rows(oids)), sorted([o, "1"] for o in oids))

    def cancelled_order(self):
        rx = prescription(uid("rx"), offset(self.pt, north_m=1500))
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        self.stack.wait_state(oid, "OFFERED")
        self.stack.rxctl("cancel", rx["prescription_id"], "--reason", "patient withdrew")
        self.stack.wait_state(oid, "CANCELLED")
        return oid, rx

    def test_one_row_per_closed_order_across_redelivery(self):
        self.start_archive()
        # garbage first: it must not hold the partition(s) behind it
        bad_key = uid("garbage")
        self.stack.produce_raw("order.closed", bad_key, b"\xff\xfe\x00not a protobuf")
        self.place()
        oid_d, cid = self.delivered_order()
        oid_c, rx_c = self.cancelled_order()
        self.wait_rows([oid_d, oid_c])

        d = self.row(oid_d, ["state", "pharmacy_id", "courier_id", "pickup_proof",
                             "handover_code_verified", "patient_ref", "jsonb_array_length(items)",
                             "timeline->0->>'seq'", "last_seq = jsonb_array_length(timeline)",
                             "state_times ? 'DELIVERED'", "closed_at > now() - interval '5 min'"])
        self.assertEqual(d, {"state": "DELIVERED", "pharmacy_id": self.ph, "courier_id": cid,
                             "pickup_proof": "position", "handover_code_verified": "t",
                             "patient_ref": d["patient_ref"], "jsonb_array_length(items)": "1",
                             "timeline->0->>'seq'": "1",
                             "last_seq = jsonb_array_length(timeline)": "t",
                             "state_times ? 'DELIVERED'": "t",
                             "closed_at > now() - interval '5 min'": "t"})
        self.assertTrue(d["patient_ref"].startswith("pat-rx-"), d)
        c = self.row(oid_c, ["state", "reason", "prescription_id", "patient_ref",
                             "delivery_address", "items->0->>'name'", "pharmacies_tried",
                             "round(delivery_lat::numeric, 5)"])
        self.assertEqual(c, {"state": "CANCELLED", "reason": "patient withdrew",
                             "prescription_id": rx_c["prescription_id"],
                             "patient_ref": rx_c["patient_ref"],
                             "delivery_address": rx_c["delivery_address"],
                             "items->0->>'name'": rx_c["items"][0]["name"],
                             "pharmacies_tried": '["%s"]' % self.ph,
                             "round(delivery_lat::numeric, 5)":
                                 "%.5f" % rx_c["delivery"]["lat"]})

        letters = [m for m in self.stack.events("rx.deadletter", idle_ms=800)
                   if m.get("key") == bad_key]
        self.assertEqual(len(letters), 1, letters)
        self.assertEqual(letters[0].get("source-topic"), "order.closed", letters[0])
        self.assertIn("OrderClosed", letters[0].get("error", ""), letters[0])

        # PostgreSQL away: not ready, the order waits (offset not stored) and
        # is written once it is back
        ready_url = "http://127.0.0.1:%d/readyz" % self.admin_port
        self.pg.stop(keep=True)
        oid_c2, _ = self.cancelled_order()
        wait_until(lambda: http_status(ready_url) == 503, 30, "rx-archive not ready without PG")
        self.pg.start()
        self.wait_rows([oid_d, oid_c, oid_c2])
        wait_until(lambda: http_status(ready_url) == 200, 30, "rx-archive ready again")

        # killed before its offsets may be committed: redelivered, no second row
        self.stop_archive(signal.SIGKILL)
        oid_c3, _ = self.cancelled_order()
        self.start_archive()
        self.wait_rows([oid_d, oid_c, oid_c2, oid_c3])
        self.assertEqual(self.stop_archive(), 0)  # SIGTERM: a clean exit

        # the whole topic again in a fresh group: every row is a duplicate
        self.start_archive(group=uid("archive-replay"))
        metrics_url = "http://127.0.0.1:%d/metrics" % self.admin_port

        def replayed():
            import urllib.request
            text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
            dup = [line for line in text.splitlines()
                   if line.startswith("rxd_archive_rows_duplicate_total")]
            return dup and float(dup[0].split()[-1]) >= 4

        wait_until(replayed, 30, "the replay to reach the archived orders")
        self.wait_rows([oid_d, oid_c, oid_c2, oid_c3])
        letters = [m for m in self.stack.events("rx.deadletter", idle_ms=800)
                   if m.get("key") == bad_key]
        self.assertEqual(len(letters), 2, "the replay dead-letters the garbage again")
        self.assertEqual(self.stop_archive(), 0)


if __name__ == "__main__":
    unittest.main()
