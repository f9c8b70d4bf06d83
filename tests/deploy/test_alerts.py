"""The alert rules (deploy/prometheus/alerts.yaml) pass their promtool rule
test (alerts_test.yaml: each rule fires on a failing series and stays quiet
on a healthy one), and every metric they and the Grafana dashboard name is
one the code exports. Exits 77 (skipped) only when promtool is not
installed (scripts/install-deps installs Debian's prometheus package)."""
import glob
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metric_names  # noqa: E402

PROM = os.path.join(metric_names.ROOT, "deploy", "prometheus")
SKIP = 77


def exported_in_source():
    """Names passed to metrics_counter/_gauge/_histogram in the C sources,
    with the registry's prefix."""
    import re
    names = set()
    for path in glob.glob(os.path.join(metric_names.ROOT, "common", "*.c")) + \
            glob.glob(os.path.join(metric_names.ROOT, "services", "*", "*.c")):
        with open(path) as f:
            for m in re.finditer(r'metrics_(?:counter|gauge|histogram)\(\s*[^,]+,\s*"([a-z_]+)"',
                                 f.read()):
                names.add("rxd_" + m.group(1))
    return names


class AlertRulesTest(unittest.TestCase):

    def test_rule_tests_pass(self):
        p = subprocess.run(["promtool", "test", "rules", "alerts_test.yaml"], cwd=PROM,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS", p.stdout)

    def test_rules_are_valid(self):
        p = subprocess.run(["promtool", "check", "rules", "alerts.yaml"], cwd=PROM,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_every_rule_is_tested(self):
        import re
        with open(os.path.join(PROM, "alerts.yaml")) as f:
            rules = set(re.findall(r"^\s*- alert: (\w+)", f.read(), re.M))
        with open(os.path.join(PROM, "alerts_test.yaml")) as f:
            tested = set(re.findall(r"^\s*alertname: (\w+)", f.read(), re.M))
        self.assertTrue(rules)
        self.assertEqual(rules - tested, set(), "rules without a promtool test")

    def test_metrics_named_are_exported(self):
        used = metric_names.names()
        self.assertIn("rxd_kafka_consumer_lag", used)
        exported = exported_in_source() | metric_names.EXPORTER | metric_names.BUILTIN
        self.assertEqual(used - exported, set(),
                         "alerts or dashboard name metrics no service exports")


if __name__ == "__main__":
    if not shutil.which("promtool"):
        print("SKIPPED: promtool not installed (Debian package prometheus; "
              "run scripts/install-deps as root)")
        sys.exit(SKIP)
    unittest.main()
