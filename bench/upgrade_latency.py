"""Benchmarks 3 and 4: detection latency and the suite's own time per step, from full sandbox upgrades.

Each round starts a fresh sandbox (driven by the real Helm 3) whose releases have `slow-start` faults
of random (seeded, known) length, runs `pytest suites/ --env D/env-bench.yaml --allow-upgrade-in-ci`
(helm.dialect: 3 stated) with its output read
line by line and time-stamped, and then reads three clocks, all wall-clock epoch on this machine:

* the sandbox's own log (D/logs/sandbox.log, the node's pod lines): when each new pod's service
  container started ("created", with its start delay), when the pod turned Ready (the node reported
  it, its readiness probe having passed) and when each old pod was deleted. The world is "done" for a release at T_ref = max(new pod Ready, last
  old pod deleted): from then on the wait's condition holds.
* the suite's progress lines (`[05/16] notify-service: 1/1 pods ready, on 0.9.0 1/1, health UP 1/1`),
  printed on every change of state: the first line showing the done state is the wait's *first
  observation* of it -> notice latency = that line's arrival - T_ref.
* the Allure stop time of the step `Wait for R: ...`: the wait *accepts* only after the done state
  held for 3 observations over >= the sandbox env's timeouts.settle, 1 s (docs/decisions.md, "settled"
  health) -> accept latency
  = stop - T_ref; the 1 s is a deliberate floor.

Own time per step = the step's wall time (its module's tests, first start to last stop, from the
Allure results) - the pods' own start time (the longest `created` -> `Ready` of its new pods in the
sandbox log) - the settle window. Upgrade overhead = (wall - sum of the configured start delays, "created
... start in X s") / wall, for the whole run.

    python bench/upgrade_latency.py [--rounds 2] [--seed 7] [--poll-max S] [--quick]
"""
from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from c7n_upgrade.plan import load_plan  # noqa: E402

PROGRESS = re.compile(r"\[(\d+)/\d+\] (\S+): (\d+)/(\d+) pods ready, on \S+ (\d+)/\d+, health UP (\d+)/\d+")
QUICK_MODULES = ["suites/upgrade/test_01_register_server.py", "suites/upgrade/test_02_config_server.py"]


def upgrade_round(work: Path, *, seed: int, quick: bool, poll_max: float | None = None,
                  keep: bool = False, label: str = "round"):
    """One sandbox, one upgrade. Returns (figures, sandbox-or-None); with keep the sandbox is left
    running for the caller, who must stop it."""
    plan = load_plan("0.8-to-0.9")
    rng = random.Random(seed)
    steps = [s for s in plan.steps if not quick or s.number <= len(QUICK_MODULES)]
    lo, hi = (0.2, 1.0) if quick else (0.5, 4.0)
    delays = {s.release: round(rng.uniform(lo, hi), 1) for s in steps}
    faults = [arg for r, d in delays.items() for arg in ("--fault", f"{r}=slow-start:{d}")]
    sandbox = common.BenchSandbox(work / f"{label}-sandbox", *faults)
    sandbox.start()
    try:
        env_file = sandbox.suite_env
        if poll_max is not None:
            env_file = sandbox.env_copy("env-pollmax", timeouts={"poll_max": poll_max})
        targets = QUICK_MODULES if quick else ["suites/"]
        common.say(f"{label}: upgrading {len(steps)} release(s) (slow-start {lo}-{hi}s each"
                   f"{', poll_max ' + str(poll_max) if poll_max else ''})")
        run = common.run_pytest(work, f"{label}-upgrade", *targets, "--env", str(env_file),
                                "--allow-upgrade-in-ci", sandbox=sandbox, timeout=600, stamp=True)
        common.check_passed(run, f"the upgrade ({label})")
        figures = measure(run, sandbox.log_file, steps, settle=sandbox.settle_s)
        figures["configured_slow_start_s"] = delays
        if poll_max is not None:
            figures["poll_max_s"] = poll_max
        if keep:
            return figures, sandbox
    except BaseException:
        sandbox.stop()
        raise
    sandbox.stop()
    return figures, None


def measure(run, log_file: Path, steps, *, settle: float) -> dict:
    releases = [s.release for s in steps]
    pods = common.pod_events(log_file, releases)
    if not pods:
        raise RuntimeError(f"no pod lines of the node in {log_file}: nothing to measure the upgrade against")
    started = run.started
    # the start delays of every pod the run created (new versions of the upgraded releases)
    new_pods = [p for p in pods.values() if p.created is not None and p.created >= started]
    sum_delays = sum(p.delay for p in new_pods)
    waits = common.allure_steps(run.alluredir, "Wait for ")
    # first progress line showing the done state, per release
    first_done: dict[str, float] = {}
    health = {s.release: bool(s.health_port) for s in steps}
    for t, text in run.lines:
        m = PROGRESS.search(text)
        if not m:
            continue
        release = m.group(2)
        ready, total, on_version, up = int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6))
        done = total >= 1 and ready == total and on_version == total and (up == total or not health.get(release))
        if done and release not in first_done:
            first_done[release] = t
    samples = []
    for step in steps:
        step_pods = [p for p in pods.values() if p.release == step.release]
        new = [p for p in step_pods if p.created is not None and p.created >= started and p.version == step.version]
        old = [p for p in step_pods if p.created is not None and p.created < started]
        if not new or any(p.ready is None for p in new):
            continue
        t_ref = max([p.ready for p in new] + [p.deleted for p in old if p.deleted is not None])
        wait = next((v for k, v in waits.items() if k.startswith(f"Wait for {step.release}:")), None)
        if wait is None:
            continue
        sample = {"release": step.release, "start_delay_s": common.r3(max(p.delay for p in new)),
                  "accept_s": common.r3(wait[1] - t_ref),
                  "wait_s": common.r3(wait[1] - wait[0])}
        if step.release in first_done:
            sample["notice_s"] = common.r3(first_done[step.release] - t_ref)
        samples.append(sample)
    per_step = own_time_per_step(run.alluredir, steps, pods, started, settle)
    return {"wall_s": common.r3(run.wall_s), "sum_delays_s": common.r3(sum_delays),
            "new_pods": len(new_pods), "peak_rss_mb": round(run.peak_rss_mb, 1), "settle_s": settle,
            "steps": len(steps), "samples": samples, "per_step": per_step}


def own_time_per_step(alluredir: Path, steps, pods: dict, started: float, settle: float) -> list[dict]:
    """Per upgrade step: its wall time (first start to last stop of its module's tests, from the Allure
    results), the pods' own start time (the longest `created` -> `Ready` of the release's new pods in the
    sandbox log: the start delay plus the node's readiness probe), and the suite's own time = wall -
    that - the settle window (waited on purpose)."""
    results = [json.loads(p.read_text()) for p in Path(alluredir).glob("*-result.json")]
    out = []
    for step in steps:
        module = f"suites.upgrade.test_{step.number:02d}_"
        mine = [r for r in results if r.get("fullName", "").startswith(module) and r.get("stop")]
        new = [p for p in pods.values() if p.release == step.release and p.created is not None
               and p.created >= started and p.version == step.version and p.ready is not None]
        if not mine or not new:
            continue
        wall = (max(r["stop"] for r in mine) - min(r["start"] for r in mine)) / 1000.0
        start = max(p.ready - p.created for p in new)
        out.append({"release": step.release, "wall_s": common.r3(wall), "pod_start_s": common.r3(start),
                    "configured_delay_s": max(p.delay for p in new), "own_s": common.r3(wall - start - settle)})
    return out


def summarize(rounds: list[dict]) -> tuple[dict, dict]:
    samples = [s for r in rounds for s in r["samples"]]
    notice = [s["notice_s"] for s in samples if "notice_s" in s]
    accept = [s["accept_s"] for s in samples]
    latency = {
        "samples": len(accept),
        "notice_median_s": common.r3(common.median(notice)) if notice else None,
        "notice_p95_s": common.r3(common.percentile(notice, 95)) if notice else None,
        "accept_median_s": common.r3(common.median(accept)),
        "accept_p95_s": common.r3(common.percentile(accept, 95)),
        "settle_floor_s": rounds[0]["settle_s"],
        "target_p95_s": 0.5,
        "note": "notice = first progress line showing the done state - max(new pod Ready, old pod deleted) "
                "from the sandbox log; accept = end of the Allure wait step - the same, which includes the "
                "deliberate settle (3 observations over >= 1 s)",
    }
    latency["median_s"], latency["p95_s"] = latency["notice_median_s"], latency["notice_p95_s"]
    wall = sum(r["wall_s"] for r in rounds)
    delays = sum(r["sum_delays_s"] for r in rounds)
    overhead = {
        "rounds": len(rounds),
        "wall_s": common.r3(wall),
        "sum_delays_s": common.r3(delays),
        "overhead": common.r3((wall - delays) / wall),
        "per_round": [common.r3((r["wall_s"] - r["sum_delays_s"]) / r["wall_s"]) for r in rounds],
        "own_time_s": common.r3(wall - delays),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rounds),
    }
    return latency, overhead


AIM_OWN_PER_STEP_S = 0.5  # issue 18 (printed, never asserted)


def summarize_steps(rounds: list[dict]) -> dict:
    """The suite's own time per step (wall - the pods' own start - the settle window), against the step's
    wall time measured in the same run; and the same over the whole run (pre-flight, backup and proof
    included), per step."""
    steps = [s for r in rounds for s in r["per_step"]]
    own = [s["own_s"] for s in steps]
    walls = [s["wall_s"] for s in steps]
    whole = [(r["wall_s"] - sum(s["pod_start_s"] for s in r["per_step"]) - r["settle_s"] * len(r["per_step"]))
             / max(1, len(r["per_step"])) for r in rounds]
    median = common.median(own)
    return {
        "steps": len(own),
        "own_median_s": common.r3(median), "own_p95_s": common.r3(common.percentile(own, 95)),
        "own_max_s": common.r3(max(own)),
        "step_wall_median_s": common.r3(common.median(walls)),
        "own_share_of_step_wall": common.r3(sum(own) / sum(walls)),
        "whole_run_own_per_step_s": common.r3(common.median(whole)),
        "aim_own_per_step_s": AIM_OWN_PER_STEP_S, "aim_met": median <= AIM_OWN_PER_STEP_S,
        "note": "per step: its module's tests from first start to last stop (Allure) - the longest created->Ready "
                "of its new pods (sandbox log) - the env's settle window; whole_run: the run's wall "
                "(pre-flight, backup and the proof included) less the same, divided by the steps",
    }


def main(argv=None) -> int:
    def options(ap):
        ap.add_argument("--rounds", type=int, default=2)
        ap.add_argument("--seed", type=int, default=7)
        ap.add_argument("--poll-max", type=float, default=None, help="override the env's timeouts.poll_max")

    def measure(work, args):
        rounds = [upgrade_round(work, seed=args.seed + i, quick=args.quick, poll_max=args.poll_max,
                                label=f"round{i}")[0] for i in range(1 if args.quick else args.rounds)]
        latency, overhead = summarize(rounds)
        return {"detection_latency": latency, "upgrade_overhead": overhead,
                "own_time_per_step": summarize_steps(rounds), "rounds": rounds}

    return common.run_main(__doc__, argv, measure, options)


if __name__ == "__main__":
    sys.exit(main())
