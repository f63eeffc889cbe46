"""Benchmark 1: `pytest suites/post_upgrade` against the guide's own verification commands.

On an upgraded sandbox, alternately time the read-only proof (`pytest suites/post_upgrade --env
D/env.yaml`, a fresh process each time, start-up included) and bench/guide_checks.sh (the guide's
curl | jq commands verbatim, in sequence, with KUBECONFIG=D/kubeconfig). The suite checks far more
than the guide: per release the helm status and chart version and *every* pod's readiness, version
label and health; the Eureka VERSION of every app; databases and grants; the CRD; the front HTML;
the OAuth client; the smooth-upgrade log. The guide checks one pod's status word per service.

Both drive the sandbox the way users do: the real Helm 3, and the env states `helm.dialect: 3`. The
figure is the proof's own time: its wall time minus the settle window (`timeouts.settle`) over which
it looks at every pod on purpose.

    python bench/post_upgrade_vs_guide.py [--runs 5] [--quick]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, guide  # noqa: E402
from c7n_upgrade.plan import load_plan  # noqa: E402

AIM_AT_16 = 1.0    # issue 18: the proof's own time at least as fast as the guide's look at 16 releases
NOTE = ("the suite checks far more than the guide: helm status and chart version per release, every pod "
        "Ready/on the target version/health UP, Eureka VERSION of every app, databases and grants, the CRD, "
        "the front HTML, the OAuth client and the smooth-upgrade log; the guide reads one pod's status word "
        "per service")


def write_guide(plan, path: Path) -> Path:
    path.write_text(guide.guide_script(plan))
    path.chmod(0o755)
    return path


def compare(sandbox: common.BenchSandbox, work: Path, *, runs: int, env_file: Path | None = None,
            targets: tuple = ("suites/post_upgrade",), k: str | None = None, plan=None,
            warmup: bool = True, label: str = "post") -> dict:
    """Median wall time of the suite's post-upgrade proof and of the guide's commands, interleaved; the
    proof's own time is its wall time minus the settle window it waits on purpose."""
    env_file = env_file or sandbox.suite_env
    plan = plan or load_plan("0.8-to-0.9")
    script = write_guide(plan, work / f"{label}-guide_checks.sh")
    kubeconfig = sandbox.dir / "kubeconfig"
    args = [*targets, "--env", str(env_file)] + (["-k", k] if k else [])
    settle = sandbox.settle_s
    suite_t, guide_t, rss = [], [], []
    for i in range(runs + (1 if warmup else 0)):
        s = common.run_pytest(work, f"{label}-suite-{i}", *args, sandbox=sandbox, timeout=600)
        common.check_passed(s, "the post-upgrade suite")
        g = common.run_guide(script, kubeconfig, work, f"{label}-guide-{i}", timeout=900)
        common.check_passed(g, "the guide's commands")
        ups = g.output().count("UP")
        expected = sum(1 for st in plan.steps if st.check not in ("eureka", "front") and st.health_port)
        if ups < expected:
            raise RuntimeError(f"the guide's commands saw UP {ups} times, expected >= {expected}: {g.output_path}")
        if warmup and i == 0:
            continue
        suite_t.append(s.wall_s)
        guide_t.append(g.wall_s)
        rss.append(s.peak_rss_mb)
    suite_med, guide_med = common.median(suite_t), common.median(guide_t)
    own_med = common.median([t - settle for t in suite_t])
    return {
        "releases": len(plan.steps), "runs": runs, "helm": "real Helm 3 (helm.dialect: 3 stated)",
        "guide_median_s": common.r3(guide_med), "suite_median_s": common.r3(suite_med),
        "settle_s": settle, "own_median_s": common.r3(own_med),
        "ratio": common.r3(guide_med / suite_med), "own_ratio": common.r3(guide_med / own_med),
        "guide_runs_s": [common.r3(x) for x in guide_t], "suite_runs_s": [common.r3(x) for x in suite_t],
        "suite_peak_rss_mb": round(max(rss), 1),
    }


def with_aim(figures: dict, aim: float) -> dict:
    """The aim is printed beside the figure (guide / the proof's own time), never asserted."""
    return dict(figures, aim_own_ratio=aim, aim_met=figures["own_ratio"] >= aim)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="upgrade two releases and compare on those (smoke)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args(argv)
    from bench.upgrade_latency import upgrade_round

    work = Path(tempfile.mkdtemp(prefix="c7n-bench-"))
    try:
        _, sandbox = upgrade_round(work, seed=1, quick=args.quick, keep=True, label="upgrade")
        try:
            figures = run_compare(sandbox, work, quick=args.quick, runs=2 if args.quick else args.runs)
        finally:
            sandbox.stop()
        common.emit({"machine": common.machine(), "quick": args.quick, "post_upgrade_vs_guide": figures})
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def run_compare(sandbox, work: Path, *, quick: bool, runs: int) -> dict:
    from bench.upgrade_latency import QUICK_MODULES

    plan = load_plan("0.8-to-0.9")
    if quick:  # only the releases the quick upgrade moved
        sub = plan.model_copy(update={"steps": plan.steps[:len(QUICK_MODULES)]})
        k = " or ".join(f"[{s.release}]" for s in sub.steps)
        figures = compare(sandbox, work, runs=runs, targets=("suites/post_upgrade/test_01_releases.py",),
                          k=k.replace("[", "").replace("]", ""), plan=sub, warmup=False)
    else:
        figures = compare(sandbox, work, runs=runs, plan=plan)
    return dict(with_aim(figures, AIM_AT_16), note=NOTE)


if __name__ == "__main__":
    sys.exit(main())
