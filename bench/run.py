"""Run every benchmark; the last line of stdout is one JSON object with all the figures.

    python bench/run.py            # full: ~10 min on 2 cores
    python bench/run.py --quick    # smoke: every benchmark in a tiny configuration, ~30 s

Every sandbox is driven by the real Helm 3 (scripts/install-test-tool.sh helm, on demand) and the env
states helm.dialect: 3, as users run it. Full mode:
1. upgrade round 0 (16 releases, random slow-starts) -> kept; the proof vs the guide on it (1);
2. upgrade round 1 (another seed) -> more latency samples (3), own time per step and overhead (4);
3. upgrade round 2 with the env's timeouts.poll_max = --fast-poll-max (an experiment for the
   latency finding; reported apart, never mixed into the headline figures);
4. scale (2) at N = 256 (--n); N = 16 is the figure of step 1 (same plan, same checks);
5. memory (5): the peak RSS of every pytest process above;
6. terminal state to verdict, per state: measured where the sandbox has the fault, else absent.
A summary of the headline figures, each beside its aim, goes to stderr.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, scale, terminal_latency, upgrade_latency  # noqa: E402
from bench.post_upgrade_vs_guide import run_compare  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per side in benchmark 1")
    ap.add_argument("--scale-runs", type=int, default=3)
    ap.add_argument("--n", type=int, nargs="+", default=[256], help="scale points besides 16")
    ap.add_argument("--rounds", type=int, default=2, help="upgrade rounds for latency/overhead")
    ap.add_argument("--fast-poll-max", type=float, default=0.3,
                    help="poll_max of the extra experiment round (0 to skip it)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, Allure results)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="c7n-bench-"))
    quick = args.quick
    out: dict = {"machine": common.machine(), "quick": quick}
    try:
        rounds = []
        fig, sandbox = upgrade_latency.upgrade_round(work, seed=args.seed, quick=quick, keep=True, label="round0")
        rounds.append(fig)
        try:
            common.say("benchmark 1: post-upgrade suite vs the guide's commands")
            post = run_compare(sandbox, work, quick=quick, runs=1 if quick else args.runs)
        finally:
            sandbox.stop()
        out["post_upgrade_vs_guide"] = post
        for i in range(1, 1 if quick else args.rounds):
            fig, _ = upgrade_latency.upgrade_round(work, seed=args.seed + i, quick=quick, label=f"round{i}")
            rounds.append(fig)
        latency, overhead = upgrade_latency.summarize(rounds)
        out["detection_latency"], out["upgrade_overhead"] = latency, overhead
        out["own_time_per_step"] = upgrade_latency.summarize_steps(rounds)
        if not quick and args.fast_poll_max > 0:
            fig, _ = upgrade_latency.upgrade_round(work, seed=args.seed, quick=False, label="round-fastpoll",
                                                   poll_max=args.fast_poll_max)
            lat2, ov2 = upgrade_latency.summarize([fig])
            out["experiment_poll_max"] = {"poll_max_s": args.fast_poll_max, "detection_latency": lat2,
                                          "upgrade_overhead": ov2}
        common.say("benchmark 2: scale")
        if quick:
            per_n = {n: scale.one_n(work, n, runs=1, quick=True) for n in scale.QUICK_N}
        else:
            per_n = {16: dict(post, reused="benchmark 1 (same plan and checks)")}
            per_n.update({n: scale.one_n(work, n, runs=args.scale_runs, quick=False) for n in args.n})
        out["scale"] = scale.summarize(per_n)
        memory = {"post_upgrade": post["suite_peak_rss_mb"],
                  "upgrade": max(r["peak_rss_mb"] for r in rounds)}
        for n, fig in per_n.items():
            memory[f"post_upgrade_n{n}"] = fig["suite_peak_rss_mb"]
            if "upgrade_peak_rss_mb" in fig:
                memory[f"upgrade_n{n}"] = fig["upgrade_peak_rss_mb"]
        out["memory_peak_rss_mb"] = memory
        common.say("benchmark 6: terminal state to verdict")
        out["terminal_state_to_verdict"] = terminal_latency.terminal_state_to_verdict(work, quick=quick)
        out["rounds"] = rounds
        out["total_s"] = common.r3(time.perf_counter() - t0)
        if args.keep:
            out["work_dir"] = str(work)
        headline(out)
        common.emit(out)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def headline(out: dict) -> None:
    """The figures of issue 18, each beside its aim (never asserted), to stderr."""
    post, steps, scale_ = out["post_upgrade_vs_guide"], out["own_time_per_step"], out["scale"]
    common.say(f"proof own time ({post['releases']} releases): guide {post['guide_median_s']} s / own "
               f"{post['own_median_s']} s (wall {post['suite_median_s']} s - settle {post['settle_s']} s) = "
               f"{post['own_ratio']}x; aim >= {post['aim_own_ratio']}x: {'met' if post['aim_met'] else 'missed'}")
    for n, met in scale_.get("aim_met", {}).items():
        if int(n) == post["releases"]:
            continue  # benchmark 1's figure, said above
        common.say(f"proof own time ({n} releases): {scale_['own_ratio_vs_guide'][n]}x the guide; aim >= "
                   f"{scale_['aim_own_ratio'][n]}x: {'met' if met else 'missed'}")
    common.say(f"own time per step: median {steps['own_median_s']} s, p95 {steps['own_p95_s']} s "
               f"({steps['own_share_of_step_wall']} of the steps' wall); aim <= {steps['aim_own_per_step_s']} s: "
               f"{'met' if steps['aim_met'] else 'missed'}")
    for kind, fig in out["terminal_state_to_verdict"]["states"].items():
        common.say(f"terminal state {kind}: " + (f"{fig['state_to_verdict_s']} s to the verdict "
                                                 f"({fig['ratio_to_step_timeout']} of the step timeout)"
                                                 if fig.get("measured") else f"absent: {fig['reason']}"))


if __name__ == "__main__":
    sys.exit(main())
