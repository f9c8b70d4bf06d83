"""Observability end to end (issue 14 item 5): after a few orders, every
service's /metrics has the labelled request counters, histograms, outbox
gauges and consumer lag gauges; a gateway request gets an access log line
with its request id, which the reply echoes in X-Request-Id."""
import json
import os
import re
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, StackTest, area, offset, prescription, uid, wait_until  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "deploy"))
import metric_names  # noqa: E402

SERVICES = ("rx-router", "pharmacy-gw", "courier-gw", "dispatcher")


def scrape(admin):
    with urllib.request.urlopen(admin + "/metrics", timeout=10) as r:
        return r.read().decode()


def samples(text, name):
    """{labels string: value} of every sample of metric name."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^%s(\{.*\})? (\S+)$" % re.escape(name), line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def request(url, method="GET", token=None, body=None, request_id=None):
    """(status, X-Request-Id of the reply)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if request_id is not None:
        req.add_header("X-Request-Id", request_id)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            r.read()
            return r.status, r.headers.get("X-Request-Id")
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, e.headers.get("X-Request-Id")


class MetricsTest(StackTest):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.stack
        cls.pt = area()
        cls.ph = uid("ph")
        cls.op = s.token("operator", "op-metrics")
        cls.rid = "it-" + uid("req")
        body = {"name": "Pharmacy " + cls.ph, "lat": cls.pt[0], "lon": cls.pt[1], "open": True,
                "capacity": 10, "cold_chain": False, "insurance_designated": False}
        cls.put_status, cls.put_echo = request(
            s.vars["RXD_PHARMACY_API"] + "/v1/pharmacies/" + cls.ph, "PUT", cls.op, body,
            request_id=cls.rid)
        cls.orders = []
        for _ in range(3):
            pid = uid("rx")
            s.submit(prescription(pid, offset(cls.pt, north_m=500)))
            cls.orders.append(s.order_id(pid))
        for oid in cls.orders:
            s.wait_state(oid, "OFFERED")

    def admin(self, service):
        return self.stack.vars["RXD_ADMIN_" + service.upper().replace("-", "_")]

    def test_request_id_echoed_and_logged(self):
        self.assertEqual(self.put_status, 200)
        self.assertEqual(self.put_echo, self.rid)
        lines = [json.loads(line) for line in self.stack.log("pharmacy-gw").splitlines()
                 if line.startswith("{")]
        access = [ln for ln in lines if ln.get("event") == "http_access"
                  and ln.get("request_id") == self.rid]
        self.assertEqual(len(access), 1, access)
        a = access[0]
        self.assertEqual((a["method"], a["route"], a["status"], a["holder"]),
                         ("PUT", "v1/pharmacies/*", 200, "operator:op-metrics"))
        self.assertGreater(a["bytes"], 0)
        self.assertGreaterEqual(a["duration_ms"], 0)
        self.assertNotIn(self.op, self.stack.log("pharmacy-gw"))  # the holder, never the token
        # region and version on every line
        for ln in lines:
            self.assertIn("region", ln)
            self.assertIn("version", ln)

    def test_malformed_request_id_replaced(self):
        status, echo = request(self.stack.vars["RXD_PHARMACY_API"] + "/v1/nowhere",
                               request_id="bad id;<script>")
        self.assertEqual(status, 404)
        self.assertIsNotNone(echo)
        self.assertRegex(echo, r"^[A-Za-z0-9._:-]{1,64}$")
        self.assertNotEqual(echo, "bad id;<script>")
        status, echo2 = request(self.stack.vars["RXD_PHARMACY_API"] + "/v1/nowhere")
        self.assertNotEqual(echo, echo2)

    def test_gateway_metrics_by_route_and_class(self):
        request(self.stack.vars["RXD_PHARMACY_API"] + "/v1/nowhere")
        text = scrape(self.admin("pharmacy-gw"))
        reqs = samples(text, "rxd_http_requests_total")
        self.assertGreaterEqual(
            reqs.get('{method="PUT",route="v1/pharmacies/*",status="2xx"}', 0), 1, reqs)
        self.assertGreaterEqual(reqs.get('{method="-",route="unmatched",status="4xx"}', 0), 1)
        self.assertNotIn(self.ph, text)  # routes, never raw paths with ids
        buckets = samples(text, "rxd_http_request_duration_seconds_bucket")
        self.assertGreaterEqual(
            buckets.get('{method="PUT",route="v1/pharmacies/*",le="+Inf"}', 0), 1, buckets)
        self.assertIn("# TYPE rxd_http_request_duration_seconds histogram", text)
        redis = samples(text, "rxd_redis_call_duration_seconds_count")
        self.assertGreater(redis.get('{store="main"}', 0), 0, redis)
        self.assertIn('rxd_redis_errors_total{store="main",kind="timeout"}', text)
        self.assertIn("rxd_kafka_producer_queue_depth", text)

    def test_outbox_gauges_and_one_leader(self):
        def leaders():
            return sum(samples(scrape(self.admin(s)), "rxd_outbox_relay_leader").get("", 0)
                       for s in ("rx-router", "dispatcher"))
        wait_until(lambda: leaders() == 1, 15, "one outbox relay leader")
        text = scrape(self.admin("rx-router"))
        self.assertIn("", samples(text, "rxd_outbox_depth"))
        age = samples(text, "rxd_outbox_oldest_age_seconds")
        self.assertIn("", age)
        self.assertGreaterEqual(age[""], 0)

    def test_stage_histograms_from_the_relayed_events(self):
        """The relay leader counts each order's ROUTING -> OFFERED once its
        event is in Kafka; nothing is counted for a stage not reached."""
        key = '{from="ROUTING",to="OFFERED"}'

        def counted():
            return sum(samples(scrape(self.admin(s)), "rxd_order_stage_seconds_count").get(key, 0)
                       for s in ("rx-router", "dispatcher"))
        wait_until(lambda: counted() >= len(self.orders), 20, "the stage histogram")
        text = scrape(self.admin("rx-router")) + scrape(self.admin("dispatcher"))
        sums = samples(text, "rxd_order_stage_seconds_sum")
        self.assertGreaterEqual(sum(v for k, v in sums.items() if k == key), 0)
        self.assertNotIn('{from="OFFERED",to="ACCEPTED"}',
                         samples(text, "rxd_order_stage_seconds_count"))
        self.assertEqual(samples(text, "rxd_order_end_to_end_seconds_count"), {})

    def test_state_and_queue_gauges(self):
        """Orders per live state and the work queues, from Redis every 5 s:
        the three OFFERED orders wait for their accept deadline in `due`."""
        def offered():
            return samples(scrape(self.admin("dispatcher")), "rxd_orders").get('{state="OFFERED"}')
        wait_until(lambda: (offered() or 0) >= len(self.orders), 20, "the state gauges")
        text = scrape(self.admin("dispatcher"))
        self.assertGreaterEqual(samples(text, "rxd_orders_oldest_age_seconds")['{state="OFFERED"}'],
                                0)
        self.assertEqual(samples(text, "rxd_orders")['{state="PICKED_UP"}'], 0)
        depth = samples(text, "rxd_queue_depth")
        self.assertGreaterEqual(depth['{queue="due"}'], len(self.orders))
        self.assertEqual(set(depth), {'{queue="due"}', '{queue="dispatch"}', '{queue="cdue"}',
                                      '{queue="exceptions"}', '{queue="hold"}'})
        # accept deadlines lie ahead: nothing is overdue yet
        self.assertEqual(samples(text, "rxd_queue_overdue_seconds")['{queue="due"}'], 0)

    def test_consumer_lag_gauges(self):
        def lag():
            return samples(scrape(self.admin("rx-router")), "rxd_kafka_consumer_lag")
        wait_until(lambda: len(lag()) > 0, 20, "consumer lag gauges (statistics every 3 s)")
        for labels, value in lag().items():
            self.assertRegex(labels, r'^\{group="[^"]+",topic="[^"]+",partition="\d+"\}$')
            self.assertGreaterEqual(value, 0)

    def test_alerts_and_dashboard_metrics_are_exported(self):
        """Every rxd_ metric deploy/prometheus/alerts.yaml and
        deploy/grafana/rxdispatch.json name is on some service's /metrics."""
        def families():
            seen = set()
            for s in SERVICES:
                for line in scrape(self.admin(s)).splitlines():
                    if line.startswith("# TYPE "):
                        seen.add(line.split()[2])
            return seen
        wanted = {n for n in metric_names.names() if n.startswith("rxd_")}
        wait_until(lambda: not (wanted - families()), 20, "every metric the alerts name")
        self.assertFalse(wanted - families())


if __name__ == "__main__":
    unittest.main()
