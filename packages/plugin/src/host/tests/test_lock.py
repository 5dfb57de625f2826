"""lock: taken by one atomic rename; a live holder is waited for, a dead one broken and recorded,
one the helper cannot judge broken only on request; `hold` keeps it for a run on several hosts."""
import json
import os
import subprocess
import time
import unittest
from unittest import mock

from conveyor_host.lock import (
    Lock, LockHeld, boot_id, break_lock_command, describe_holder, holder_alive, process_start, read_holder,
    record_worker, releases_running, worker_file,
)
from conveyor_host.common import write_json
from tests.support import AppTestCase, captured, helper, stop


def holder_file(paths):
    with open(os.path.join(paths.lock, "holder.json")) as f:
        return json.load(f)


def raced_after_judging(paths, run_id, other):
    """holder_alive, after which another waiter takes the lock (the dead one moved away, the
    other's fresh one in its place) when the holder judged is run_id's."""
    real = holder_alive

    def judged_then_raced(holder):
        verdict = real(holder)
        if not other.held and holder and holder.get("run_id") == run_id:
            os.rename(paths.lock, paths.lock + ".gone")
            other.acquire(0)
        return verdict

    return judged_then_raced


class LockTest(AppTestCase):
    def write_holder(self, holder):
        self.write(os.path.join(self.paths.lock, "holder.json"), json.dumps(holder))

    def dead_pid(self):
        p = subprocess.Popen(["true"])
        p.wait()
        return p.pid

    def test_take_and_release(self):
        lock = Lock(self.paths, "anna", "deploy", "v2", "run-1")
        lock.acquire(0)
        self.assertTrue(lock.held)
        holder = holder_file(self.paths)
        self.assertEqual({k: holder[k] for k in ("who", "action", "tag", "run_id", "pid")},
                         {"who": "anna", "action": "deploy", "tag": "v2", "run_id": "run-1", "pid": os.getpid()})
        self.assertEqual(holder["pid_start"], process_start(os.getpid()))
        self.assertEqual(holder["boot"], boot_id())
        self.assertTrue(holder_alive(holder))
        lock.release()
        self.assertFalse(os.path.exists(self.paths.lock))
        self.assertEqual(os.listdir(self.paths.state_dir), [])  # no temp folder left behind
        self.assertEqual(self.history_lines(), [])

    def test_a_live_holder_is_waited_for_then_named(self):
        first = Lock(self.paths, "bob", "deploy", "v9", "run-b")
        first.acquire(0)
        started = time.monotonic()
        with self.assertRaises(LockHeld) as held:
            Lock(self.paths, "anna", "deploy", "v2", "run-a").acquire(0.5)
        self.assertGreaterEqual(time.monotonic() - started, 0.5)
        self.assertEqual(held.exception.holder["who"], "bob")
        self.assertEqual(holder_file(self.paths)["run_id"], "run-b")  # untouched
        first.release()

    def test_a_live_holder_in_another_process(self):
        sleeper = subprocess.Popen(["sleep", "30"])
        self.addCleanup(stop, sleeper)
        self.write_holder({"who": "bob", "action": "deploy", "pid": sleeper.pid,
                           "pid_start": process_start(sleeper.pid), "boot": boot_id(), "run_id": "x"})
        self.assertTrue(holder_alive(read_holder(self.paths)))
        with self.assertRaises(LockHeld):
            Lock(self.paths, "anna", "deploy").acquire(0.2)
        self.assertEqual(self.history_lines(), [])

    def test_a_dead_holder_is_broken_recorded_and_the_lock_taken(self):
        holder = {"who": "bob", "action": "deploy", "pid": self.dead_pid(), "pid_start": "1", "boot": boot_id(), "run_id": "x"}
        self.write_holder(holder)
        self.assertIs(holder_alive(holder), False)
        lock = Lock(self.paths, "anna", "rollback", "v1", "run-a")
        _, events, _ = captured(lock.acquire, 5)
        self.assertTrue(lock.held)
        self.assertEqual(holder_file(self.paths)["who"], "anna")
        entry = self.history_lines()[0]
        self.assertEqual({k: entry[k] for k in ("action", "result", "who", "reason")},
                         {"action": "lock-break", "result": "ok", "who": "anna (rollback)", "reason": "holder is dead"})
        self.assertEqual(entry["holder"]["who"], "bob")
        self.assertEqual(events[0]["event"], "lock-broken")
        self.assertIn("bob (deploy)", events[0]["holder"])
        lock.release()

    def test_a_holder_of_an_earlier_boot_is_dead_even_if_its_pid_lives(self):
        holder = {"who": "dan", "pid": os.getpid(), "pid_start": process_start(os.getpid()), "boot": "another-boot"}
        self.assertIs(holder_alive(holder), False)

    def test_a_reused_pid_is_not_the_holder(self):
        holder = {"who": "dan", "pid": os.getpid(), "pid_start": "0", "boot": boot_id()}
        self.assertIs(holder_alive(holder), False)

    def test_a_holder_of_an_older_conveyor_cannot_be_judged_and_is_not_broken(self):
        self.write(os.path.join(self.paths.lock, "holder"), "anna since 2026-11-26T10:00:00Z (deploy abc)\n")
        holder = read_holder(self.paths)
        self.assertEqual(holder, {"who": "anna since 2026-11-26T10:00:00Z (deploy abc)", "legacy": True})
        self.assertIsNone(holder_alive(holder))
        with self.assertRaises(LockHeld):
            Lock(self.paths, "anna", "deploy").acquire(0.2)
        self.assertTrue(os.path.exists(self.paths.lock))

    def test_the_environments_lock_of_this_run_lets_its_releases_go_on(self):
        env_lock = Lock(self.paths, "anna", "hold", "", "run-7")
        env_lock.acquire(0)
        release = Lock(self.paths, "anna", "deploy", "v2", "run-7-host", hold_id="run-7")
        release.acquire(0)
        self.assertFalse(release.held)  # not taken: the hold's, not the release's to give back
        release.release()
        self.assertEqual(holder_file(self.paths)["action"], "hold")
        with self.assertRaises(LockHeld):
            Lock(self.paths, "bob", "deploy", hold_id="run-8").acquire(0)
        env_lock.release()
        self.assertFalse(os.path.exists(self.paths.lock))

    def test_release_leaves_a_lock_someone_else_took_since(self):
        lock = Lock(self.paths, "anna", "deploy", "v2", "run-a")
        lock.acquire(0)
        self.write_holder({"who": "carol", "run_id": "run-c"})
        lock.release()
        self.assertEqual(holder_file(self.paths)["who"], "carol")

    def test_a_lock_taken_since_the_dead_one_was_judged_is_not_broken(self):
        # Another waiter broke the dead lock and took a fresh one between this waiter's judgement
        # and its break: the live lock survives, and this waiter goes on waiting for it.
        self.write_holder({"who": "dan", "action": "deploy", "pid": self.dead_pid(), "pid_start": "1", "boot": boot_id(), "run_id": "d"})
        other = Lock(self.paths, "bob", "deploy", "v9", "run-b")
        with mock.patch("conveyor_host.lock.holder_alive", raced_after_judging(self.paths, "d", other)):
            with self.assertRaises(LockHeld) as held:
                captured(Lock(self.paths, "anna", "deploy", "v2", "run-a").acquire, 0.3)
        self.assertTrue(other.held)
        self.assertEqual(held.exception.holder["run_id"], "run-b")
        self.assertEqual(holder_file(self.paths)["run_id"], "run-b")
        self.assertEqual(self.history_lines(), [])  # nothing was broken
        with self.assertRaises(LockHeld):
            Lock(self.paths, "carol", "deploy", "v3", "run-c").acquire(0)
        other.release()
        self.assertFalse(os.path.exists(self.paths.lock))

    def test_a_taker_meanwhile_gives_way_to_the_live_lock_going_back(self):
        # As above, and a third process takes the lock in the moment the live one is aside: it
        # sees a live lock moved aside, gives its own up, and the live one goes back.
        self.write_holder({"who": "dan", "action": "deploy", "pid": self.dead_pid(), "pid_start": "1", "boot": boot_id(), "run_id": "d"})
        other = Lock(self.paths, "bob", "deploy", "v9", "run-b")
        taker = Lock(self.paths, "carol", "deploy", "v3", "run-c")
        real_alive, real_rename = holder_alive, os.rename
        outcome = []

        def judged_then_raced(holder):
            verdict = real_alive(holder)
            if not other.held and holder and holder.get("run_id") == "d":
                real_rename(self.paths.lock, self.paths.lock + ".gone")
                other.acquire(0)
            return verdict

        def rename(src, dst, *args, **kwargs):
            real_rename(src, dst, *args, **kwargs)
            if src == self.paths.lock and ".gone" not in dst and ".released-" not in dst and not outcome:
                try:  # the lock is aside: the third process takes it now
                    taker.acquire(0)
                    outcome.append("taken")
                except LockHeld as held:
                    outcome.append(held.holder.get("run_id"))

        with mock.patch("conveyor_host.lock.holder_alive", judged_then_raced), mock.patch("os.rename", rename):
            with self.assertRaises(LockHeld):
                captured(Lock(self.paths, "anna", "deploy", "v2", "run-a").acquire, 0.3)
        self.assertEqual(outcome, ["run-b"])  # it gave way, naming the holder whose lock was aside
        self.assertFalse(taker.held)
        self.assertEqual(holder_file(self.paths)["run_id"], "run-b")
        self.assertEqual([n for n in os.listdir(self.paths.state_dir) if n != "lock.gone"], ["lock"])
        other.release()

    def test_a_live_lock_moved_aside_holds_a_dead_one_does_not(self):
        aside = os.path.join(self.paths.state_dir, "lock.breaking-1-2")
        self.write(os.path.join(aside, "holder.json"), json.dumps(
            {"who": "bob", "pid": os.getpid(), "pid_start": process_start(os.getpid()), "boot": boot_id(), "run_id": "run-b"}))
        with self.assertRaises(LockHeld) as held:
            Lock(self.paths, "anna", "deploy", "v2", "run-a").acquire(0.2)
        self.assertEqual(held.exception.holder["run_id"], "run-b")
        self.assertFalse(os.path.exists(self.paths.lock))
        self.write(os.path.join(aside, "holder.json"), json.dumps({"who": "bob", "pid": self.dead_pid(), "pid_start": "1", "boot": boot_id()}))
        lock = Lock(self.paths, "anna", "deploy", "v2", "run-a")
        lock.acquire(0)
        self.assertTrue(lock.held)
        lock.release()

    def test_describe_holder(self):
        self.assertEqual(describe_holder(None), "nobody")
        self.assertEqual(describe_holder({"who": "bob", "action": "deploy", "tag": "v9", "since": "T", "pid": 12, "run_id": "r"}),
                         "bob (deploy v9) since T pid 12 run r")
        self.assertEqual(describe_holder({"who": "bob", "action": "hold", "tag": ""}), "bob (hold)")
        self.assertEqual(describe_holder({}), "nobody")


class BreakLockCommandTest(AppTestCase):
    def test_a_free_lock(self):
        code, events, _ = captured(break_lock_command, self.app, "carol")
        self.assertEqual(code, 0)
        self.assertEqual(events[-1], {"event": "result", "status": "ok", "broken": False, "message": "the lock is free"})

    def test_a_live_holder_is_never_broken(self):
        lock = Lock(self.paths, "bob", "deploy", "v9")
        lock.acquire(0)
        code, events, _ = captured(break_lock_command, self.app, "carol")
        self.assertEqual(code, 4)
        self.assertEqual(events[-1]["status"], "lock-held")
        self.assertIn(f"the holder is alive (pid {os.getpid()})", events[-1]["message"])
        self.assertTrue(os.path.exists(self.paths.lock))
        lock.release()

    def test_a_holder_it_cannot_judge_is_broken_on_request(self):
        self.write(os.path.join(self.paths.lock, "holder"), "anna\n")
        code, events, _ = captured(break_lock_command, self.app, "carol")
        self.assertEqual(code, 0)
        self.assertEqual(events[-1]["broken"], True)
        self.assertFalse(os.path.exists(self.paths.lock))
        self.assertEqual(self.history_lines()[-1]["reason"], "broken on request")
        self.assertEqual(self.history_lines()[-1]["who"], "carol")

    def test_a_lock_taken_since_the_judgement_is_judged_again_not_broken(self):
        self.write(os.path.join(self.paths.lock, "holder.json"),
                   json.dumps({"who": "dan", "pid": os.getpid(), "pid_start": "1", "boot": "another-boot", "run_id": "d"}))
        other = Lock(self.paths, "bob", "deploy", "v9", "run-b")
        with mock.patch("conveyor_host.lock.holder_alive", raced_after_judging(self.paths, "d", other)):
            code, events, _ = captured(break_lock_command, self.app, "carol")
        self.assertEqual((code, events[-1]["status"]), (4, "lock-held"))
        self.assertEqual(holder_file(self.paths)["run_id"], "run-b")
        self.assertEqual(self.history_lines(), [])
        other.release()

    def test_a_dead_holder_is_broken_and_recorded(self):
        self.write(os.path.join(self.paths.lock, "holder.json"),
                   json.dumps({"who": "dan", "pid": os.getpid(), "pid_start": "1", "boot": "another-boot"}))
        code, _, _ = captured(break_lock_command, self.app, "carol")
        self.assertEqual(code, 0)
        self.assertEqual(self.history_lines()[-1]["reason"], "holder is dead")


class HoldTest(AppTestCase):
    """`hold` keeps the environment's lock while the caller's stdin stays open."""

    def test_held_while_stdin_is_open_and_released_when_it_closes(self):
        p = helper("hold", self.app, "run-9", "anna", "1", stdin=subprocess.PIPE)
        self.addCleanup(stop, p)
        line = p.stdout.readline()
        self.assertEqual(json.loads(line), {"event": "held", "run_id": "run-9"})
        holder = holder_file(self.paths)
        self.assertEqual((holder["action"], holder["run_id"], holder["who"], holder["pid"]), ("hold", "run-9", "anna", p.pid))
        with self.assertRaises(LockHeld):
            Lock(self.paths, "bob", "deploy").acquire(0)
        p.stdin.close()
        self.assertEqual(p.wait(10), 0)
        p.stdout.close()
        p.stderr.close()
        self.assertFalse(os.path.exists(self.paths.lock))

    def test_a_release_of_the_run_still_running_keeps_the_lock_until_its_process_ends(self):
        # The caller went away while the revert of its run (<run_id>-back) still ran here.
        os.makedirs(self.paths.runs, exist_ok=True)
        self.write(os.path.join(self.paths.runs, "run-9-back.log"), '{"event": "phase", "phase": "pull"}\n')
        worker = subprocess.Popen(["sleep", "30"])
        self.addCleanup(lambda: (worker.kill(), worker.wait()))
        record_worker(self.paths, "run-9-back", worker.pid)
        p = helper("hold", self.app, "run-9", "anna", "1", stdin=subprocess.PIPE)
        self.addCleanup(stop, p)
        p.stdout.readline()
        p.stdin.close()
        with self.assertRaises(subprocess.TimeoutExpired):
            p.wait(1.5)
        self.assertEqual(holder_file(self.paths)["run_id"], "run-9")
        worker.kill()
        worker.wait()
        self.assertEqual(p.wait(10), 0)
        p.stdout.close()
        p.stderr.close()
        self.assertFalse(os.path.exists(self.paths.lock))

    def test_a_release_running_longer_than_any_deadline_still_counts(self):
        os.makedirs(self.paths.runs, exist_ok=True)
        log = self.write(os.path.join(self.paths.runs, "run-9.log"), '{"event": "phase", "phase": "canary"}\n')
        two_hours_ago = time.time() - 7200
        os.utime(log, (two_hours_ago, two_hours_ago))
        record_worker(self.paths, "run-9", os.getpid())
        self.assertTrue(releases_running(self.paths, "run-9"))
        self.assertFalse(releases_running(self.paths, "run-10"))
        # A worker gone (or of an earlier boot) is not a release running.
        write_json(worker_file(self.paths, "run-9"), {"pid": os.getpid(), "pid_start": "0", "boot": boot_id()})
        self.assertFalse(releases_running(self.paths, "run-9"))

    def test_a_live_holder_refuses_the_hold(self):
        lock = Lock(self.paths, "bob", "deploy", "v9")
        lock.acquire(0)
        p = helper("hold", self.app, "run-9", "anna", "0", stdin=subprocess.PIPE)
        out, _ = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 4)
        self.assertEqual(json.loads(out.splitlines()[-1])["status"], "lock-held")
        lock.release()


if __name__ == "__main__":
    unittest.main()
