"""Benchmark 6: the time from a terminal state appearing to the step's verdict (issue 18, point 1).

For each state (sandbox fault kinds `image-missing`, `crash-loop`, `hook-fail`, `unschedulable`): a
fresh sandbox driven by the real Helm 3 with `--fault RELEASE=KIND` (the plan's first release; for
`hook-fail` the first with a hook Job), then `pytest suites/upgrade -v` with its output read line by line and
time-stamped, while a watcher lists the pods and Jobs through the kube API every 0.1 s.
latency = arrival of the step's `FAILED` line - the first listing showing the state;
ratio = latency / the env's `timeouts.step` (what the step waited before the fail-fast rule).
A state whose fault this tree's sandbox lacks is printed as absent with the reason, never estimated.

    python bench/terminal_latency.py [--quick] [--keep]
"""
from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from c7n_upgrade.plan import load_plan  # noqa: E402

STATES = ("image-missing", "crash-loop", "hook-fail", "unschedulable")
AIM_S = 10.0  # issue 18: a terminal state called within 10 s of appearing (printed, never asserted)
UNSCHEDULABLE_GRACE_S = 5.0  # the bench's `timeouts.unschedulable`: the aim then applies beyond the grace
VERDICT = re.compile(r"suites/upgrade/test_(\d\d)_\S+::\S+ FAILED")
_PULL = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName"}


def _waiting_reasons(pod: dict) -> set:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {((s.get("state") or {}).get("waiting") or {}).get("reason") for s in statuses} - {None}


def _of_release(obj: dict, release: str) -> bool:
    meta = obj.get("metadata") or {}
    return (meta.get("labels") or {}).get("choerodon.io/release") == release or \
        meta.get("name", "").startswith(release + "-")


def shows(kind: str, release: str, pods: list, jobs: list) -> bool:
    """Whether one listing of the namespace shows `kind`'s state for `release` (pure: pods and Jobs as
    the API returns them)."""
    mine = [p for p in pods if _of_release(p, release)]
    if kind == "image-missing":
        return any(_waiting_reasons(p) & _PULL for p in mine)
    if kind == "crash-loop":
        return any("CrashLoopBackOff" in _waiting_reasons(p) for p in mine)
    if kind == "unschedulable":
        return any(c.get("type") == "PodScheduled" and c.get("status") == "False"
                   and c.get("reason") == "Unschedulable"
                   for p in mine for c in (p.get("status") or {}).get("conditions") or [])
    if kind == "hook-fail":
        failed_job = any(c.get("type") == "Failed" and c.get("status") == "True"
                         for j in jobs if _of_release(j, release) for c in (j.get("status") or {}).get("conditions") or [])
        return failed_job or any((p.get("status") or {}).get("phase") == "Failed" and
                                 "job-name" in ((p.get("metadata") or {}).get("labels") or {}) for p in mine)
    raise ValueError(f"unknown terminal state {kind!r}")


def first_verdict_after(lines: list, since: float, step: int):
    """Arrival time of the first `-v` line saying the step's test FAILED, at or after `since`."""
    for t, text in lines:
        m = VERDICT.search(text)
        if m and int(m.group(1)) == step and t >= since:
            return t
    return None


def absent_reason(kind: str) -> str | None:
    """Why `kind` cannot be measured in this tree, or None when the sandbox has that fault."""
    from c7n_sandbox.faults import KINDS

    if kind in KINDS:
        return None
    return (f"the sandbox of this tree has no `{kind}` fault (its faults: {', '.join(sorted(KINDS))}); "
            "not measured")


class Watcher:
    """Lists the namespace's pods and Jobs every 0.1 s through the sandbox's kubeconfig (its admin
    context: the real API server wants its CA and a token); keeps the first time a listing showed the
    state, how many listings it made and the last error, so a watcher that never saw the API says so."""

    def __init__(self, sandbox, namespace: str, kind: str, release: str):
        from kubernetes import client as kube_client, config as kube_config

        self.api = kube_config.new_client_from_config(config_file=str(sandbox.dir / "kubeconfig"), context="sandbox")
        self.core, self.batch = kube_client.CoreV1Api(self.api), kube_client.BatchV1Api(self.api)
        self.namespace, self.kind, self.release = namespace, kind, release
        self.seen, self.listings, self.error = None, 0, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _items(self, call) -> list:
        resp = call(self.namespace, _preload_content=False, _request_timeout=5)
        return json.loads(resp.data).get("items") or []

    def _run(self) -> None:
        while self.seen is None and not self._stop.wait(0.1):
            try:
                pods = self._items(self.core.list_namespaced_pod)
                jobs = self._items(self.batch.list_namespaced_job)
            except Exception as exc:  # noqa: BLE001 - kept for the reason, the next listing retries
                self.error = f"{type(exc).__name__}: {str(exc)[:200]}"
                continue
            self.listings += 1
            if shows(self.kind, self.release, pods, jobs):
                self.seen = time.time()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.api.close()  # its connection pool


def measure_state(work: Path, kind: str) -> dict:
    plan = load_plan("0.8-to-0.9")
    step = next(s for s in plan.steps if s.hooks) if kind == "hook-fail" else plan.steps[0]
    sandbox = common.BenchSandbox(work / f"terminal-{kind}-sandbox", "--fault", f"{step.release}={kind}")
    sandbox.start()
    try:
        timeouts = yaml.safe_load(sandbox.env_file.read_text())["timeouts"]
        timeout = float(timeouts["step"])
        env = sandbox.suite_env
        grace = None
        if kind == "unschedulable":  # the rule waits out its grace on purpose (180 s by default): a short one
            grace = UNSCHEDULABLE_GRACE_S  # shows the rule's own latency beyond it
            env = sandbox.env_copy("env-bench-grace", timeouts={"unschedulable": grace})
        common.say(f"terminal state {kind} on {step.release} (step {step.number}, step timeout {timeout:.0f} s"
                   + (f", grace {grace:.0f} s)" if grace is not None else ")"))
        with Watcher(sandbox, plan.namespace, kind, step.release) as watch:
            # the upgrade phase alone: a pre-flight check (e.g. the images asked of their registry) must not
            # stop the run before the step shows the state
            run = common.run_pytest(work, f"terminal-{kind}", "suites/upgrade", "--env", str(env),
                                    "--allow-upgrade-in-ci", sandbox=sandbox, timeout=timeout * 3 + 300,
                                    stamp=True, verbose=True)
        figures = {"release": step.release, "step": step.number, "step_timeout_s": timeout, "aim_s": AIM_S}
        if grace is not None:
            figures["grace_s"] = grace
        if watch.seen is None and watch.listings == 0:
            return dict(figures, measured=False, reason=f"the watcher could not list the namespace ({watch.error})")
        if watch.seen is None:
            return dict(figures, measured=False, reason=f"no pod or Job of {step.release} showed {kind}'s state "
                                                        f"in {watch.listings} listings")
        verdict = first_verdict_after(run.lines, watch.seen, step.number)
        if verdict is None:
            return dict(figures, measured=False, reason=f"no FAILED line for step {step.number} after the state "
                                                        f"appeared (exit {run.exit_code}, see {run.output_path})")
        latency = verdict - watch.seen
        beyond = latency - (grace or 0.0)  # what the suite adds to the rule's own wait
        return dict(figures, measured=True, state_to_verdict_s=common.r3(latency),
                    ratio_to_step_timeout=common.r3(latency / timeout), aim_met=beyond <= AIM_S,
                    **({"beyond_grace_s": common.r3(beyond)} if grace is not None else {}))
    finally:
        sandbox.stop()


def terminal_state_to_verdict(work: Path, *, quick: bool) -> dict:
    """The slot of issue 18's figure: per state, measured, or absent with the reason."""
    out = {}
    for kind in STATES:
        reason = absent_reason(kind)
        if reason is not None:
            out[kind] = {"measured": False, "absent": True, "reason": reason}
        elif quick and kind != STATES[0]:
            out[kind] = {"measured": False, "reason": f"--quick measures {STATES[0]} only"}
        else:
            out[kind] = measure_state(work, kind)
    return {"states": out, "aim_s": AIM_S,
            "note": "latency = the step's FAILED line - the first kube API listing showing the state; "
                    "ratio = latency / timeouts.step"}


def main(argv=None) -> int:
    return common.run_main(__doc__, argv, lambda work, args: {
        "terminal_state_to_verdict": terminal_state_to_verdict(work, quick=args.quick)})


if __name__ == "__main__":
    sys.exit(main())
