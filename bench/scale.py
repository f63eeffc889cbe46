"""Benchmark 2: post-upgrade wall time against the number of releases N (16, 64, 256).

For each N: a plan = plans/0.8-to-0.9.yaml + N-16 synthetic Spring Boot releases (`synth-017`...,
written into the bench's temp dir); `sandbox up --plan PLAN --preinstall-target 'synth-*'` installs
the synthetic releases straight at their target version (bench only) and the 16 real ones at 0.8;
the 16 real ones are then upgraded by the suite (`pytest suites/` with a copy of the env naming
the real plan), so the whole post-upgrade proof can pass. Then `pytest suites/post_upgrade --env
D/env.yaml` (the env names the synthetic plan, so the proof is parametrized by all N releases)
and the guide's commands generated for the same N releases are timed, interleaved.

    python bench/scale.py [--n 16 64 256] [--runs 3] [--quick]

--quick: N = 18 and 20, no upgrade; only the synthetic releases are proved (`-k synth`).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.post_upgrade_vs_guide import compare  # noqa: E402
from c7n_upgrade.plan import load_plan  # noqa: E402

QUICK_N = (18, 20)


def one_n(work: Path, n: int, *, runs: int, quick: bool) -> dict:
    plan_path = common.synthetic_plan(n, work)
    plan = load_plan(plan_path)
    sandbox = common.BenchSandbox(work / f"n{n}-sandbox", "--plan", str(plan_path),
                             "--preinstall-target", f"{common.SYNTH_PREFIX}*")
    common.say(f"N={n}: starting the sandbox")
    sandbox.start(timeout=600)
    try:
        figures = {"sandbox_ready_s": common.r3(sandbox.ready_s)}
        if quick:
            synth = plan.model_copy(update={"steps": [s for s in plan.steps
                                                      if s.release.startswith(common.SYNTH_PREFIX)]})
            figures.update(compare(sandbox, work, runs=runs, targets=("suites/post_upgrade/test_01_releases.py",),
                                   k="synth", plan=synth, warmup=False, label=f"n{n}"))
        else:
            common.say(f"N={n}: upgrading the 16 real releases")
            base_env = sandbox.env_copy("env-base-plan", plan="0.8-to-0.9")
            up = common.run_pytest(work, f"n{n}-upgrade", "suites/", "--env", str(base_env),
                                   "--allow-upgrade-in-ci", timeout=900)
            common.check_passed(up, f"the upgrade at N={n}")
            figures["upgrade_wall_s"] = common.r3(up.wall_s)
            figures["upgrade_peak_rss_mb"] = round(up.peak_rss_mb, 1)
            figures.update(compare(sandbox, work, runs=runs, plan=plan, label=f"n{n}"))
        return figures
    finally:
        sandbox.stop()


def summarize(per_n: dict) -> dict:
    ns = sorted(per_n)
    lo, hi = ns[0], ns[-1]
    return {
        "n": ns,
        "suite_median_s": {str(n): per_n[n]["suite_median_s"] for n in ns},
        "guide_median_s": {str(n): per_n[n]["guide_median_s"] for n in ns},
        "ratio_vs_guide": {str(n): per_n[n]["ratio"] for n in ns},
        "suite_peak_rss_mb": {str(n): per_n[n]["suite_peak_rss_mb"] for n in ns},
        "t_ratio": common.r3(per_n[hi]["suite_median_s"] / per_n[lo]["suite_median_s"]),
        "t_ratio_of": f"t({hi})/t({lo})",
        "target_t_ratio": 2.0,
        "target_ratio_vs_guide_at_max_n": 10.0,
        "per_n": {str(n): per_n[n] for n in ns},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="c7n-bench-"))
    try:
        ns = QUICK_N if args.quick else args.n
        per_n = {n: one_n(work, n, runs=2 if args.quick else args.runs, quick=args.quick) for n in ns}
        common.emit({"machine": common.machine(), "quick": args.quick,
                     "scale": summarize(per_n)})
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
