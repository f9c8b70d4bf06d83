"""Poison never stalls, and shutdown is bounded (issue 12 items 3 and 4).

Poison: rx.approved messages of 0 B, of the largest size a producer with
librdkafka's default limit can send, and just over the broker's limit, each
followed by a valid prescription with the same key (so the same partition:
the valid one is routed only if the consumer went past the bad one). The
dead letter of each is on rx.deadletter, cut to fit where it had to be, with
its original size and SHA-256 in headers (docs/kafka.md, "Dead letters").

The limits, worked out (docs/kafka.md):
- librdkafka's producer (rxctl's, rx-router's) refuses a message locally
  when key + value + headers + 36 bytes of record overhead exceed its
  message.max.bytes (default 1000000). The largest value rxctl can send
  with key K is 1000000 - 36 - len(K); its dead letter adds headers, so it
  can never be dead-lettered intact.
- Apache Kafka's broker refuses a record batch over message.max.bytes
  (default 1048588 in Kafka 4.1, which scripts/kafka runs) with
  MESSAGE_TOO_LARGE at produce time: the over-limit message never enters
  the topic, and rxctl (given a producer limit above it) reports the
  refusal. The embedded broker (librdkafka's mock cluster) has no limit:
  there the message is stored and consumed, and rx-router dead-letters it
  truncated.

Shutdown: with Redis stopped (SIGSTOP) prescriptions are held in flight in
rx-router; SIGTERM ends it within RXD_SHUTDOWN_TIMEOUT_MS plus the stated
bound (SERVICE_EXIT_BOUND_MS, docs/operations.md "Shutdown"), with exit code
0, and after a restart the held prescriptions are routed: their offsets were
not committed, nothing was lost."""
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import StackTest, area, http_status, offset, prescription, uid, wait_until  # noqa: E402

PRODUCER_MAX = 1000000  # librdkafka's message.max.bytes default
RECORD_OVERHEAD = 36  # librdkafka's worst case per record (KAFKA_RECORD_OVERHEAD)
BROKER_MAX = 1048588  # Apache Kafka's message.max.bytes default (a record batch)
DEADLETTER_SLACK = 1024  # common/deadletter.h
SHUTDOWN_TIMEOUT_MS = 2000
EXIT_BOUND_MS = 6000  # SERVICE_EXIT_BOUND_MS, common/service.h


def produce(stack, topic, key, data, *flags):
    """rxctl produce with extra flags; the result, whatever it is."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return stack.rxctl("produce", *flags, topic, key, f.name, check=False)


def poison(n):
    """n bytes that are no PrescriptionApproved: a first byte 0 is field
    number 0, which protobuf never accepts; the rest random, so the hash
    says something."""
    return b"" if n == 0 else b"\x00" + os.urandom(n - 1)


class PoisonTest(StackTest):
    SERVICES = ["rx-router", "pharmacy-gw"]

    def setUp(self):
        self.home = area()
        self.ph = uid("ph")
        self.stack.register_pharmacy(self.ph, *offset(self.home, east_m=200))
        self.point = offset(self.home, north_m=300)

    def routed_behind(self, key):
        """The valid prescription with this key (sent after the poison) gets
        an offer from the pharmacy: the partition moved on."""
        self.stack.submit(prescription(key, self.point))
        order = self.stack.wait_state(self.stack.order_id(key, timeout=30), "OFFERED", timeout=30)
        self.assertEqual(order["pharmacy_id"], self.ph)

    def letter(self, key):
        found = {}

        def got():
            found["l"] = [d for d in self.stack.events("rx.deadletter", idle_ms=800)
                          if d.get("key") == key]
            return bool(found["l"])

        wait_until(got, 60, "the dead letter of " + key)
        self.assertEqual(len(found["l"]), 1, found["l"])
        return found["l"][0]

    def assert_letter(self, dl, data, truncated):
        self.assertEqual(dl.get("source-topic"), "rx.approved", dl)
        self.assertEqual(dl.get("original-size"), str(len(data)), dl)
        self.assertEqual(dl.get("original-sha256"), hashlib.sha256(data).hexdigest(), dl)
        self.assertEqual(dl.get("truncated"), "1" if truncated else "0", dl)
        self.assertTrue(dl.get("error"), dl)
        self.assertTrue(dl.get("source-offset", "").isdigit(), dl)
        if truncated:
            # a prefix cut to fit under the producer's limit with the headers
            self.assertLess(dl["value_bytes"], len(data), dl)
            self.assertLessEqual(dl["value_bytes"], PRODUCER_MAX - DEADLETTER_SLACK, dl)
            self.assertGreater(dl["value_bytes"], PRODUCER_MAX // 2, dl)
            self.assertIn("MSG_SIZE_TOO_LARGE", dl.get("truncated-because", ""), dl)
        else:
            self.assertEqual(dl["value_bytes"], len(data), dl)
            self.assertNotIn("truncated-because", dl)

    def test_empty_message(self):
        key = uid("rx")
        self.stack.produce_raw("rx.approved", key, b"")
        self.routed_behind(key)
        dl = self.letter(key)
        self.assert_letter(dl, b"", truncated=False)
        self.assertIn("prescription_id", dl["error"])

    def test_largest_message_a_producer_sends(self):
        key = uid("rx")
        data = poison(PRODUCER_MAX - RECORD_OVERHEAD - len(key))
        # the boundary: one byte more and the producer refuses it locally
        p = produce(self.stack, "rx.approved", key, data + b"x")
        self.assertNotEqual(p.returncode, 0, "rxctl sent %d bytes" % (len(data) + 1))
        self.stack.produce_raw("rx.approved", key, data)
        self.routed_behind(key)
        dl = self.letter(key)
        self.assert_letter(dl, data, truncated=True)
        self.assertIn("not a decodable", dl["error"])
        self.assertEqual(http_status(self.stack.vars["RXD_ADMIN_RX_ROUTER"] + "/readyz"), 200)
        # a prefix is no message: replay-dlq never sends it back
        out = self.stack.rxctl("replay-dlq", "--dry-run", "1", "--idle-ms", "800").stdout
        mine = [json.loads(line) for line in out.splitlines() if '"key":"%s"' % key in line]
        self.assertEqual([m["action"] for m in mine],
                         ["skipped: truncated, the original is not in the letter"], out)

    def test_just_over_the_broker_limit(self):
        key = uid("rx")
        data = poison(BROKER_MAX + 1)
        p = produce(self.stack, "rx.approved", key, data, "--kafka-message-max-bytes",
                    str(2 * BROKER_MAX))
        if self.stack.real_kafka:
            # Kafka refuses it at produce time: it never enters rx.approved
            self.assertNotEqual(p.returncode, 0, "the broker took %d bytes" % len(data))
            self.assertIn("too large", p.stderr.lower(), p.stderr)
            self.routed_behind(key)
            self.assertEqual([d for d in self.stack.events("rx.deadletter", idle_ms=800)
                              if d.get("key") == key], [])
            return
        # the embedded broker has no limit: the message is consumed
        self.assertEqual(p.returncode, 0, p.stderr)
        self.routed_behind(key)
        dl = self.letter(key)
        self.assert_letter(dl, data, truncated=True)


class BrokerRefusalTest(StackTest):
    """The broker, not the producer, refuses the letter: rx-router's producer
    may send 2 MB, the broker takes a record batch of at most 1048588 bytes.
    A message that fits the broker (sent by a producer allowed 2 MB) no
    longer fits with the letter's headers: the broker answers
    MSG_SIZE_TOO_LARGE, the form cut to the producer's limit would keep it
    all, so the letter goes cut to 64 KiB. Real Kafka only: the embedded
    broker enforces no limit."""
    SERVICES = ["rx-router", "pharmacy-gw"]
    STACK_ENV = {"RXD_KAFKA_MESSAGE_MAX_BYTES": 2 * PRODUCER_MAX}

    @classmethod
    def setUpClass(cls):
        if os.environ.get("RXD_STACK_KAFKA") != "kafka":
            raise unittest.SkipTest("the embedded broker enforces no message size limit")
        super().setUpClass()

    setUp = PoisonTest.setUp
    routed_behind = PoisonTest.routed_behind
    letter = PoisonTest.letter

    def test_refused_by_the_broker(self):
        key = uid("rx")
        # a record batch: 61 bytes of header, then the record (about 11 bytes
        # of varints, the key, the value): this fits, with 8 bytes to spare
        data = poison(BROKER_MAX - 61 - 11 - len(key) - 8)
        p = produce(self.stack, "rx.approved", key, data)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.routed_behind(key)
        dl = self.letter(key)
        self.assertEqual(dl.get("truncated"), "1", dl)
        self.assertEqual(dl["value_bytes"], 65536, dl)
        self.assertEqual(dl.get("original-size"), str(len(data)), dl)
        self.assertEqual(dl.get("original-sha256"), hashlib.sha256(data).hexdigest(), dl)
        self.assertIn("MSG_SIZE_TOO_LARGE", dl.get("truncated-because", ""), dl)
        # the refusal did not cost rx-router its producer (no fatal error)
        self.assertEqual(http_status(self.stack.vars["RXD_ADMIN_RX_ROUTER"] + "/readyz"), 200)
        self.assertNotIn("kafka_fatal", self.stack.log("rx-router"))


class ShutdownTest(StackTest):
    SERVICES = ["rx-router", "pharmacy-gw"]
    STACK_ENV = {"RXD_SHUTDOWN_TIMEOUT_MS": SHUTDOWN_TIMEOUT_MS}

    def consumed(self):
        url = self.stack.vars["RXD_ADMIN_RX_ROUTER"] + "/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("rxd_router_messages_total "):
                    return float(line.split()[1])
        return 0.0

    def kafka_signal(self, sig):
        """Stops (SIGSTOP) or continues the whole Kafka: every node of the
        real cluster, or the embedded broker."""
        if self.stack.real_kafka:
            self.stack.kafka("stop" if sig == signal.SIGSTOP else "cont", 1, 2, 3)
        else:
            os.kill(self.stack.pids()["devbroker"], sig)

    def held_shutdown(self, kafka_too):
        """Holds three prescriptions in rx-router (Redis stopped), stops
        Kafka too if asked, sends SIGTERM; checks the exit, then that the
        three are routed after a restart."""
        home = area()
        ph = uid("ph")
        self.stack.register_pharmacy(ph, *offset(home, east_m=200))
        point = offset(home, north_m=300)
        # an instance of this process, for its exit code
        self.stack.kill("rx-router", sig=signal.SIGTERM)
        router = self.stack.start("rx-router")
        redis = self.stack.pids()["redis"]
        keys = [uid("rx") for _ in range(3)]
        os.kill(redis, signal.SIGSTOP)
        try:
            for k in keys:
                self.stack.submit(prescription(k, point))
            wait_until(lambda: self.consumed() >= len(keys), 30, "rx-router to hold the messages")
            if kafka_too:
                self.kafka_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                router.send_signal(signal.SIGTERM)
                code = router.wait(timeout=60)
                took_ms = (time.monotonic() - started) * 1000
            finally:
                if kafka_too:
                    self.kafka_signal(signal.SIGCONT)
        finally:
            os.kill(redis, signal.SIGCONT)
        self.stack.children.pop("rx-router", None)
        forced = '"shutdown_forced"' in self.stack.log("rx-router")
        print("\nshutdown with %d messages held%s took %.0f ms (timeout %d ms + bound %d ms)%s"
              % (len(keys), " and Kafka stopped" if kafka_too else "", took_ms,
                 SHUTDOWN_TIMEOUT_MS, EXIT_BOUND_MS, ", forced by the watchdog" if forced else ""),
              file=sys.stderr)
        self.assertEqual(code, 0)
        self.assertLess(took_ms, SHUTDOWN_TIMEOUT_MS + EXIT_BOUND_MS)
        drained = [json.loads(line) for line in self.stack.log("rx-router").splitlines()
                   if '"shutdown_drained"' in line][-1]
        self.assertGreaterEqual(drained["in_flight"], 1, drained)  # it really held work
        self.assertGreaterEqual(took_ms, SHUTDOWN_TIMEOUT_MS)  # ... and waited for it
        # nothing lost: the held prescriptions are consumed again and routed
        self.stack.start("rx-router")
        for k in keys:
            order = self.stack.wait_state(self.stack.order_id(k, timeout=90), "OFFERED",
                                          timeout=30)
            self.assertEqual(order["pharmacy_id"], ph)

    def test_sigterm_with_messages_held(self):
        self.held_shutdown(kafka_too=False)

    def test_sigterm_with_messages_held_and_kafka_stopped(self):
        """The group cannot answer the close: the handle is destroyed
        without it, the offsets of the held messages were never stored."""
        self.held_shutdown(kafka_too=True)


if __name__ == "__main__":
    unittest.main()
