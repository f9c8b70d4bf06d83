#!/usr/bin/env python3
"""Static check of the deployment descriptions: deploy/compose.yaml and
deploy/k8s/*.yaml parse, and every rxdispatch service in them has probes,
resource limits, a drain period above its shutdown timeout, and every
setting it needs.

The settings a service needs are read from the code, not from a list kept
here: every config_str / config_int / service_int call in the files the
service is built from whose default cannot work in a container (no default:
required; a 127.0.0.1 address; port 0 = a random port the probes cannot
know). docs/configuration.md must document each of them. What a container
gets is the image's ENV (deploy/Containerfile) plus the compose environment,
or the ConfigMap, Secret and env of the Deployment."""
import glob
import os
import re
import shlex
import unittest

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
SERVICES = ["rx-router", "dispatcher", "pharmacy-gw", "courier-gw", "operator-api", "web"]
GATEWAYS = ["pharmacy-gw", "courier-gw", "operator-api", "web"]
CONSUMERS = {"rx-router": ("ROUTER_GROUP", "TOPIC_APPROVED"),
             "dispatcher": ("DISPATCHER_GROUP", "TOPIC_EVENTS")}
SETTING_CALL = re.compile(
    r'\b(?:config_str|config_int|service_int)\(\s*[^,()]+,\s*"([A-Z0-9_]+)"\s*,\s*([^;]*?)\)')


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def service_sources(svc):
    """The C files a service reads its settings in: its own, the service
    frame (service.c, kafka.c) and gateway.c for a gateway, worker.c for a
    Kafka worker."""
    own = glob.glob(os.path.join(ROOT, "services", svc, "*.c"))
    files = own + [os.path.join(ROOT, "common", f) for f in ("service.c", "kafka.c")]
    for header, frame in (("gateway.h", "gateway.c"), ("worker.h", "worker.c")):
        if any('#include "%s"' % header in read(f) for f in own):
            files.append(os.path.join(ROOT, "common", frame))
    return files


def topic_defaults():
    """{TOPIC_X: '"name"'} from service_topic()'s table in common/service.c."""
    return {"TOPIC_" + k: '"%s"' % v
            for k, v in re.findall(r'\{"([A-Z]+)",\s*"([a-z.]+)"\}', read("common/service.c"))}


def worker_table_settings(text, topics):
    """The settings a Kafka worker's table (common/worker.h) names: its
    consumer group setting with its default, and the topics it consumes
    and produces, which worker_main reads for it."""
    out = {}
    for name, default in re.findall(
            r'\.group_setting\s*=\s*"([A-Z0-9_]+)",\s*\.group_default\s*=\s*("[^"]*")', text):
        out[name] = default
    for field in re.findall(r'\.(?:consumes|produces)\s*=\s*\{([^}]*)\}', text):
        for which in re.findall(r'"([A-Z]+)"', field):
            out["TOPIC_" + which] = topics["TOPIC_" + which]
    return out


def settings_read(svc):
    """{NAME: default expression} of every setting the service reads."""
    out = {}
    topics = topic_defaults()
    for f in service_sources(svc):
        text = read(f)
        for name, default in SETTING_CALL.findall(text):
            out.setdefault(name, default.strip())
        for which in re.findall(r'\bservice_topic\(\s*[^,()]+,\s*"([A-Z]+)"\)', text):
            out.setdefault("TOPIC_" + which, topics["TOPIC_" + which])
        for name, default in worker_table_settings(text, topics).items():
            out.setdefault(name, default)
    return out


def needed_in_container(svc):
    """RXD_* settings without a default that works in a container."""
    need = set()
    for name, default in settings_read(svc).items():
        if default == "NULL" or "127.0.0.1" in default or (name.endswith("_PORT") and
                                                          default == "0"):
            need.add("RXD_" + name)
    return need


def code_default(svc, name):
    d = settings_read(svc).get(name)
    return d.strip('"') if d else None


def image_env():
    """ENV of the runtime stage of deploy/Containerfile."""
    text = read("deploy/Containerfile").replace("\\\n", " ")
    runtime = text[text.index("AS runtime\n"):]
    env = {}
    for line in runtime.splitlines():
        if line.startswith("ENV "):
            for kv in shlex.split(line[4:]):
                k, v = kv.split("=", 1)
                env[k] = v
    return env


def ms(value):
    """'30s' / '1m30s' / 45 (seconds) -> milliseconds."""
    if isinstance(value, (int, float)):
        return value * 1000
    total = 0
    for num, unit in re.findall(r"(\d+)(ms|s|m|h)", value):
        total += int(num) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}[unit]
    return total


class Compose(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = yaml.safe_load(read("deploy/compose.yaml"))
        cls.svcs = cls.doc["services"]

    def env(self, name):
        env = dict(image_env())
        env.update({k: str(v) for k, v in (self.svcs[name].get("environment") or {}).items()})
        return env

    def test_every_service_twice_with_its_command(self):
        for svc in SERVICES:
            s = self.svcs[svc]
            self.assertEqual(s["command"][0], svc)
            self.assertGreaterEqual(s["deploy"]["replicas"], 2, svc)
            self.assertEqual(s["image"].split(":")[0], "rxdispatch", svc)

    def test_every_container_has_limits(self):
        for name, s in self.svcs.items():
            limits = s.get("deploy", {}).get("resources", {}).get("limits", {})
            self.assertIn("memory", limits, name)
            if name != "kafka-init":
                self.assertIn("cpus", limits, name)

    def test_every_long_running_container_has_a_health_check(self):
        for name, s in self.svcs.items():
            if s.get("restart") == "no":
                continue
            hc = s.get("healthcheck")
            self.assertTrue(hc and hc.get("test") and not hc.get("disable"), name)

    def test_services_probe_readyz_and_drain_in_time(self):
        for svc in SERVICES:
            s = self.svcs[svc]
            self.assertEqual(s["healthcheck"]["test"][-2:], ["probe", "/readyz"], svc)
            shutdown = int(self.env(svc).get("RXD_SHUTDOWN_TIMEOUT_MS",
                                             code_default(svc, "SHUTDOWN_TIMEOUT_MS")))
            self.assertGreater(ms(s["stop_grace_period"]), shutdown, svc)

    def test_services_get_every_setting_they_need(self):
        for svc in SERVICES:
            env = self.env(svc)
            for var in needed_in_container(svc):
                self.assertTrue(env.get(var), "%s lacks %s" % (svc, var))
            self.assertNotIn("127.0.0.1", env["RXD_ADMIN_ADDR"] + env.get("RXD_HTTP_ADDR", ""))
            for host in env["RXD_KAFKA_BROKERS"].split(","):
                self.assertIn(host.split(":")[0], self.svcs, svc)
            self.assertIn(env["RXD_REDIS_URL"].split("//")[1].split(":")[0], self.svcs, svc)

    def test_kafka_is_three_kraft_brokers(self):
        brokers = [n for n, s in self.svcs.items()
                   if "KAFKA_NODE_ID" in (s.get("environment") or {})]
        self.assertEqual(len(brokers), 3)
        for b in brokers:
            env = self.svcs[b]["environment"]
            self.assertIn("controller", env["KAFKA_PROCESS_ROLES"])
            self.assertEqual(len(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")), 3)
            self.assertEqual(env["KAFKA_MIN_INSYNC_REPLICAS"], "2")
            self.assertEqual(env["KAFKA_DEFAULT_REPLICATION_FACTOR"], "3")
            self.assertTrue(self.svcs[b]["image"].startswith("apache/kafka:"))

    def test_kraft_cluster_id_is_a_base64_uuid(self):
        # kafka-storage.sh format accepts only the URL-safe base64 of 16
        # bytes without padding (22 characters); anything else fails there
        import base64
        for b in [n for n, s in self.svcs.items() if "KAFKA_NODE_ID" in (s.get("environment") or {})]:
            cid = self.svcs[b]["environment"]["CLUSTER_ID"]
            self.assertRegex(cid, r"^[A-Za-z0-9_-]{22}$", b)
            self.assertEqual(len(base64.urlsafe_b64decode(cid + "==")), 16, b)

    def test_topics_job_makes_every_topic_the_services_use(self):
        init = self.svcs["kafka-init"]
        script = init["command"][-1]
        env = init["environment"]
        self.assertEqual(env["REPLICATION_FACTOR"], "3")
        self.assertEqual(env["MIN_INSYNC_REPLICAS"], "2")
        for topic in topics_used():
            self.assertIn(topic, script)
        self.assertIn("--replication-factor", script)
        self.assertIn("min.insync.replicas", script)

    def test_redis_has_aof_a_replica_and_sentinels(self):
        primary = self.svcs["redis-primary"]["command"]
        self.assertEqual(primary[primary.index("--appendonly") + 1], "yes")
        replica = self.svcs["redis-replica"]["command"]
        self.assertIn("--replicaof", replica)
        self.assertEqual(replica[replica.index("--appendonly") + 1], "yes")
        sentinels = [n for n, s in self.svcs.items() if "--sentinel" in str(s.get("command"))]
        self.assertGreaterEqual(len(sentinels), 3)

    def test_proxy_fronts_both_gateways_and_follows_the_redis_primary(self):
        cfg = read("deploy/compose/haproxy.cfg")
        for gw in GATEWAYS:
            self.assertRegex(cfg, r"server-template \S+ \d+ %s:8080 check port 9090" % gw)
        self.assertIn("role:master", cfg)
        vol = self.svcs["haproxy"]["volumes"][0]
        self.assertTrue(vol.startswith("./compose/haproxy.cfg:"))


def topics_used():
    """Default names of the topics the services read and write (from the
    code's RXD_TOPIC_* defaults)."""
    topics = set()
    for svc in SERVICES:
        for name, default in settings_read(svc).items():
            if name.startswith("TOPIC_"):
                topics.add(default.strip('"'))
    return topics


class Kubernetes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = []
        for f in sorted(glob.glob(os.path.join(DEPLOY, "k8s", "*.yaml"))):
            with open(f) as fh:
                for d in yaml.safe_load_all(fh):
                    if d:
                        d["_file"] = os.path.basename(f)
                        cls.docs.append(d)

    def of(self, kind):
        return {d["metadata"]["name"]: d for d in self.docs if d["kind"] == kind}

    def secret_keys(self, name):
        """The keys of Secret name: generated by the kustomization from a
        file outside git, whose .example lists them."""
        kust = yaml.safe_load(read("deploy/k8s/kustomization.yaml"))
        for gen in kust.get("secretGenerator", []):
            if gen["name"] == name:
                keys = set()
                for env in gen["envs"]:
                    for line in read(os.path.join("deploy", "k8s", env + ".example")).splitlines():
                        if line.strip() and not line.startswith("#"):
                            keys.add(line.split("=", 1)[0])
                return keys
        self.fail("no Secret %s generated by deploy/k8s/kustomization.yaml" % name)

    def test_no_rate_limit_per_client_address(self):
        """Many holders share one address (a chain's ERP, carrier NAT): the
        gateways limit per token, the ingress must not per IP."""
        for name, ing in self.of("Ingress").items():
            notes = ing["metadata"].get("annotations", {})
            self.assertFalse([k for k in notes if "limit-rp" in k or "limit-connections" in k],
                             name)

    def test_no_secret_value_in_the_kustomization(self):
        """kubectl apply -k must not reset a secret: the Secret is
        generated from a file git ignores, not written in a manifest."""
        self.assertNotIn("rxdispatch", self.of("Secret"))
        self.assertIn("deploy/k8s/secrets.env", read(".gitignore").split())
        self.assertEqual(self.secret_keys("rxdispatch"),
                         {"RXD_TOKEN_SECRET", "RXD_REDIS_PASSWORD", "RXD_KAFKA_SASL_PASSWORD"})

    def container(self, svc):
        dep = self.of("Deployment")[svc]
        return dep["spec"]["template"]["spec"]["containers"][0]

    def env(self, svc):
        env = dict(image_env())
        c = self.container(svc)
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                env.update(self.of("ConfigMap")[src["configMapRef"]["name"]]["data"])
            if "secretRef" in src:
                # filled from the secret store at deploy time: the key counts
                env.update({k: "<from secret>" for k in self.secret_keys(src["secretRef"]["name"])})
        for e in c.get("env", []):
            env[e["name"]] = e.get("value", "<from ref>")
        return env

    def test_kustomization_lists_every_file(self):
        kust = yaml.safe_load(read("deploy/k8s/kustomization.yaml"))
        files = {os.path.basename(f) for f in glob.glob(os.path.join(DEPLOY, "k8s", "*.yaml"))}
        self.assertEqual(set(kust["resources"]), files - {"kustomization.yaml"})

    def test_every_service_has_a_deployment_running_it(self):
        for svc in SERVICES:
            c = self.container(svc)
            self.assertEqual(c["args"], [svc])
            self.assertEqual(c["image"], "rxdispatch")

    def test_probes_on_the_admin_port(self):
        for svc in SERVICES:
            c = self.container(svc)
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            self.assertEqual(ports["admin"], int(self.env(svc)["RXD_ADMIN_PORT"]), svc)
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = c[probe]["httpGet"]
                self.assertEqual((get["path"], get["port"]), (path, "admin"), svc)

    def test_requests_and_limits(self):
        for d in self.docs:
            if d["kind"] not in ("Deployment", "Job"):
                continue
            for c in d["spec"]["template"]["spec"]["containers"]:
                for part in ("requests", "limits"):
                    for res in ("cpu", "memory"):
                        self.assertIn(res, c["resources"][part], (d["_file"], part))

    def test_settings_each_service_needs(self):
        for svc in SERVICES:
            env = self.env(svc)
            for var in needed_in_container(svc):
                self.assertTrue(env.get(var), "%s lacks %s" % (svc, var))
            self.assertEqual(env["RXD_ADMIN_ADDR"], "0.0.0.0")
            if svc in GATEWAYS:
                self.assertEqual(env["RXD_HTTP_ADDR"], "0.0.0.0")
                ports = {p["name"]: p["containerPort"] for p in self.container(svc)["ports"]}
                self.assertEqual(ports["http"], int(env["RXD_HTTP_PORT"]))

    def test_drain_fits_the_grace_period(self):
        for svc in SERVICES:
            spec = self.of("Deployment")[svc]["spec"]["template"]["spec"]
            shutdown = int(self.env(svc).get("RXD_SHUTDOWN_TIMEOUT_MS",
                                             code_default(svc, "SHUTDOWN_TIMEOUT_MS")))
            self.assertGreater(spec["terminationGracePeriodSeconds"] * 1000, shutdown, svc)

    def test_a_disruption_budget_per_service(self):
        pdbs = self.of("PodDisruptionBudget")
        for svc in SERVICES:
            labels = self.of("Deployment")[svc]["spec"]["template"]["metadata"]["labels"]
            sel = pdbs[svc]["spec"]["selector"]["matchLabels"]
            self.assertTrue(set(sel.items()) <= set(labels.items()), svc)
            self.assertTrue(pdbs[svc]["spec"].get("minAvailable") or
                            pdbs[svc]["spec"].get("maxUnavailable"), svc)

    def test_gateways_scale_on_cpu(self):
        hpas = self.of("HorizontalPodAutoscaler")
        for gw in GATEWAYS:
            spec = hpas[gw]["spec"]
            self.assertEqual(spec["scaleTargetRef"]["name"], gw)
            self.assertEqual(spec["metrics"][0]["resource"]["name"], "cpu")
            self.assertGreaterEqual(spec["minReplicas"], 2)
            gets = self.of("Service")[gw]["spec"]["ports"][0]["targetPort"]
            self.assertEqual(gets, "http")

    def test_consumers_scale_on_lag_up_to_the_partitions(self):
        job = self.of("Job")["rxdispatch-kafka-topics"]
        jenv = {e["name"]: e.get("value") for e in
                job["spec"]["template"]["spec"]["containers"][0]["env"]}
        self.assertEqual((jenv["REPLICATION_FACTOR"], jenv["MIN_INSYNC_REPLICAS"]), ("3", "2"))
        script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
        for topic in topics_used():
            self.assertIn(topic, script)
        for svc, (group_setting, topic_setting) in CONSUMERS.items():
            so = self.of("ScaledObject")[svc]
            self.assertEqual(so["spec"]["scaleTargetRef"]["name"], svc)
            self.assertEqual(so["spec"]["maxReplicaCount"], int(jenv["PARTITIONS"]), svc)
            trig = so["spec"]["triggers"][0]
            self.assertEqual(trig["type"], "kafka")
            meta = trig["metadata"]
            env = self.env(svc)
            self.assertEqual(meta["consumerGroup"],
                             env.get("RXD_" + group_setting, code_default(svc, group_setting)))
            self.assertEqual(meta["topic"],
                             env.get("RXD_" + topic_setting, code_default(svc, topic_setting)))
            self.assertEqual(meta["bootstrapServers"], env["RXD_KAFKA_BROKERS"])

    def pod_labels(self, name):
        kind = "Job" if name == "rxdispatch-kafka-topics" else "Deployment"
        return self.of(kind)[name]["spec"]["template"]["metadata"]["labels"]

    @staticmethod
    def selects(selector, labels):
        """A Kubernetes label selector (matchLabels, matchExpressions In)
        against a pod's labels."""
        if not selector:
            return True
        if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
            return False
        for e in selector.get("matchExpressions", []):
            assert e["operator"] == "In", e
            if labels.get(e["key"]) not in e["values"]:
                return False
        return True

    def test_only_the_services_reach_redis_and_kafka(self):
        policies = self.of("NetworkPolicy")
        redis_port = int(self.env("rx-router")["RXD_REDIS_URL"].rsplit(":", 1)[1])
        kafka_port = int(self.env("rx-router")["RXD_KAFKA_BROKERS"].split(",")[0].rsplit(":", 1)[1])
        ns = "rxdispatch"
        for store, port, extra in (("redis", redis_port, set()),
                                   ("kafka", kafka_port, {"rxdispatch-kafka-topics"})):
            mine = [p for p in policies.values()
                    if self.selects(p["spec"]["podSelector"], {"app.kubernetes.io/name": store})]
            self.assertEqual(len(mine), 1, store)
            spec = mine[0]["spec"]
            self.assertEqual(spec["policyTypes"], ["Ingress"], store)
            admitted = set()
            for rule in spec["ingress"]:
                # a rule without from (or an empty peer) admits every pod
                self.assertTrue(rule.get("from"), (store, rule))
                for peer in rule["from"]:
                    self.assertTrue(peer.get("podSelector") or peer.get("namespaceSelector"))
                    self.assertNotIn("ipBlock", peer, store)
                    nsel = peer.get("namespaceSelector")
                    if nsel and not self.selects(nsel, {"kubernetes.io/metadata.name": ns}):
                        continue  # another namespace's pods (KEDA), not ours
                    for name in SERVICES + ["rxdispatch-kafka-topics"]:
                        if self.selects(peer.get("podSelector"), self.pod_labels(name)):
                            self.assertIn(port, [p["port"] for p in rule["ports"]], (store, name))
                            admitted.add(name)
            # every service and nothing else of ours (the Job only to Kafka)
            self.assertEqual(admitted, set(SERVICES) | extra, store)

    def test_the_token_secret_is_a_secret_not_a_config(self):
        self.assertIn("RXD_TOKEN_SECRET", self.secret_keys("rxdispatch"))
        self.assertNotIn("RXD_TOKEN_SECRET", self.of("ConfigMap")["rxdispatch"]["data"])


class Derivation(unittest.TestCase):
    """The derived needs are what the services really require, and the docs
    describe each of them."""

    def test_needs_found_in_the_code(self):
        every = {"RXD_KAFKA_BROKERS", "RXD_REDIS_URL", "RXD_ADMIN_ADDR", "RXD_ADMIN_PORT"}
        for svc in SERVICES:
            need = needed_in_container(svc)
            self.assertTrue(every <= need, (svc, need))
            if svc in GATEWAYS:
                self.assertTrue({"RXD_TOKEN_SECRET", "RXD_HTTP_ADDR"} <= need, (svc, need))
            else:
                self.assertNotIn("RXD_TOKEN_SECRET", need)

    def test_documented(self):
        doc = read("docs/configuration.md")
        for svc in SERVICES:
            for var in needed_in_container(svc):
                self.assertIn("`%s`" % var, doc)

    def test_consumer_settings_found(self):
        for svc, names in CONSUMERS.items():
            for name in names:
                self.assertTrue(code_default(svc, name), (svc, name))


class PodmanKafka(unittest.TestCase):
    """deploy/podman-up --kafka real runs the topology of compose.yaml and
    k8s/: the same partition count, every topic, RF 3, min ISR 2, topic
    auto-creation off (tests/deploy/test_containers.py --kafka real runs it)."""

    @classmethod
    def setUpClass(cls):
        cls.up = read("deploy/podman-up")
        cls.node = read("deploy/podman/kafka-node")

    def test_partitions_as_in_compose_and_k8s(self):
        m = re.search(r"^KAFKA_PARTITIONS=\$\{RXD_PODMAN_KAFKA_PARTITIONS:-(\d+)\}", self.up, re.M)
        self.assertTrue(m, "podman-up's default partition count")
        compose = yaml.safe_load(read("deploy/compose.yaml"))
        self.assertEqual(compose["services"]["kafka-init"]["environment"]["PARTITIONS"], m.group(1))
        job = yaml.safe_load(read("deploy/k8s/kafka-topics.yaml"))
        env = {e["name"]: e.get("value")
               for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        self.assertEqual(env["PARTITIONS"], m.group(1))

    def test_every_topic_replicated(self):
        for topic in topics_used():
            self.assertIn(":-%s}" % topic, self.up)
        self.assertIn("--replication-factor 3 --config min.insync.replicas=2", self.up)

    def test_broker_settings(self):
        for line in ("process.roles=broker,controller", "auto.create.topics.enable=false",
                     "default.replication.factor=3", "min.insync.replicas=2",
                     "offsets.topic.replication.factor=3",
                     "unclean.leader.election.enable=false"):
            self.assertRegex(self.node, r"(?m)^%s$" % re.escape(line))
        self.assertIn("-Xmx512m", self.up)


class RedisAcl(unittest.TestCase):
    """The services' Redis user may run every command the state machine's
    scripts call: Redis checks a command run from a script against the
    caller's ACL, so a command missing from users.acl fails only under the
    ACL, at run time (as ZSCORE and SRANDMEMBER once did)."""

    def test_every_command_the_library_calls_is_allowed(self):
        called = set()
        for path in glob.glob(os.path.join(ROOT, "common", "lua", "*.lua")):
            called |= set(re.findall(r"redis\.call\('([A-Z]+)'", open(path).read()))
        self.assertGreater(len(called), 20)
        acl = open(os.path.join(DEPLOY, "redis", "users.acl")).read()
        [user] = [line for line in acl.splitlines() if line.startswith("user rxdispatch ")]
        allowed = {w[1:].upper() for w in user.split() if w.startswith("+")}
        self.assertEqual(sorted(called - allowed), [],
                         "add these to the rxdispatch user in deploy/redis/users.acl "
                         "and to the ACL table of docs/operations.md")


if __name__ == "__main__":
    unittest.main()
