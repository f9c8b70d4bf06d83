"""rxctl replay-dlq against the whole stack: dead letters go back, unchanged,
to their source topic (filtered by their error), a dry run sends nothing,
and a replayed message that is still invalid comes back to the dead-letter
topic through rx-router."""
import json
import unittest

from harness import StackTest, area, prescription, uid, wait_until


class ReplayDeadLetters(StackTest):
    SERVICES = ["rx-router"]

    def letters(self, key):
        return [d for d in self.stack.events("rx.deadletter", idle_ms=800) if d.get("key") == key]

    def replay(self, *flags):
        out = self.stack.rxctl("replay-dlq", "--idle-ms", "1500", *flags).stdout.splitlines()
        lines = [json.loads(line) for line in out]
        first = {}
        for d in lines[:-1]:  # the letters there were when the replay started
            first.setdefault(d["key"], d)
        return first, lines[-1]

    def test_replay_by_error(self):
        bad = prescription(uid("bad"), area(), items=[{"drug_code": "PZN-1", "quantity": 0}])
        key = bad["prescription_id"]
        self.stack.rxctl("submit", "-", "--no-validate", "1", input=json.dumps(bad))
        junk = uid("junk")
        self.stack.produce_raw("rx.cancelled", junk, b"\xff\xff not protobuf")
        wait_until(lambda: len(self.letters(key)) == 1 and len(self.letters(junk)) == 1, 30,
                   "both dead letters")

        seen, summary = self.replay("--match", "quantity", "--dry-run", "1")
        self.assertEqual(seen[key]["action"], "would replay")
        self.assertEqual(seen[key]["source_topic"], "rx.approved")
        self.assertTrue(seen[junk]["action"].startswith("skipped"), seen[junk])
        self.assertEqual(summary["replayed"], 0)
        self.assertTrue(summary["dry_run"])

        seen, summary = self.replay("--match", "quantity")
        self.assertEqual(seen[key]["action"], "replayed")
        self.assertGreaterEqual(summary["replayed"], 1)
        self.assertEqual(summary["failed"], 0)
        # rx-router read it again from rx.approved and rejected it again
        wait_until(lambda: len(self.letters(key)) == 2, 30, "the replayed dead letter")
        again = self.letters(key)
        self.assertEqual(again[0]["error"], again[1]["error"])
        # a replay reads its own re-rejected letters but does not send them
        # again (that would loop): only the letters older than the command
        seen, summary = self.replay("--match", "quantity")
        self.assertEqual(summary["replayed"], 2)
        wait_until(lambda: len(self.letters(key)) == 4, 30, "two more dead letters")
        seen, summary = self.replay("--match", "quantity", "--dry-run", "1")
        self.assertEqual(summary["read"], 5)
        self.assertEqual(len(self.letters(junk)), 1)  # filtered out: not replayed
        self.assertNotEqual(self.stack.rxctl("lookup", key, check=False).returncode, 0)


if __name__ == "__main__":
    unittest.main()
