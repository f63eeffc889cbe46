"""Benchmark 2: post-upgrade wall time against the number of releases N (16, 64, 256).

For each N: a plan = plans/0.8-to-0.9.yaml + N-16 synthetic Spring Boot releases (`synth-017`...,
written into the bench's temp dir); `sandbox up --plan PLAN --preinstall-target 'synth-*'` installs
the synthetic releases straight at their target version (bench only) and the 16 real ones at 0.8;
the 16 real ones are then upgraded by the suite (`pytest suites/` with a copy of the env naming
the real plan), so the whole post-upgrade proof can pass. Then `pytest suites/post_upgrade --env
D/env.yaml` (the env names the synthetic plan, so the proof is parametrized by all N releases)
and the guide's commands generated for the same N releases are timed, interleaved.

Every sandbox is driven by the real Helm 3 (bench/common.BenchSandbox); the figure is guide / the
proof's own time (wall minus the settle window), with the aims of issue 18 beside it: >= 1.0x at 16
releases, >= 10x at 256.

    python bench/scale.py [--n 16 256] [--runs 3] [--quick]

--quick: N = 18 and 20, no upgrade; only the synthetic releases are proved (`-k synth`).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.post_upgrade_vs_guide import AIM_AT_16, compare, with_aim  # noqa: E402
from c7n_upgrade.plan import load_plan  # noqa: E402

QUICK_N = (18, 20)
AIMS = {16: AIM_AT_16, 256: 10.0}  # issue 18: guide / the proof's own time (printed, never asserted)


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
                                   "--allow-upgrade-in-ci", sandbox=sandbox, timeout=900)
            common.check_passed(up, f"the upgrade at N={n}")
            figures["upgrade_wall_s"] = common.r3(up.wall_s)
            figures["upgrade_peak_rss_mb"] = round(up.peak_rss_mb, 1)
            figures.update(compare(sandbox, work, runs=runs, plan=plan, label=f"n{n}"))
        return with_aim(figures, AIMS[n]) if n in AIMS else figures
    finally:
        sandbox.stop()


def summarize(per_n: dict) -> dict:
    ns = sorted(per_n)
    lo, hi = ns[0], ns[-1]
    return {
        "n": ns,
        "suite_median_s": {str(n): per_n[n]["suite_median_s"] for n in ns},
        "own_median_s": {str(n): per_n[n]["own_median_s"] for n in ns},
        "guide_median_s": {str(n): per_n[n]["guide_median_s"] for n in ns},
        "ratio_vs_guide": {str(n): per_n[n]["ratio"] for n in ns},
        "own_ratio_vs_guide": {str(n): per_n[n]["own_ratio"] for n in ns},
        "aim_own_ratio": {str(n): AIMS[n] for n in ns if n in AIMS},
        "aim_met": {str(n): per_n[n]["own_ratio"] >= AIMS[n] for n in ns if n in AIMS},
        "suite_peak_rss_mb": {str(n): per_n[n]["suite_peak_rss_mb"] for n in ns},
        "t_ratio": common.r3(per_n[hi]["suite_median_s"] / per_n[lo]["suite_median_s"]),
        "t_ratio_of": f"t({hi})/t({lo})",
        "per_n": {str(n): per_n[n] for n in ns},
    }


def main(argv=None) -> int:
    def options(ap):
        ap.add_argument("--n", type=int, nargs="+", default=[16, 256])
        ap.add_argument("--runs", type=int, default=3)

    def measure(work, args):
        ns = QUICK_N if args.quick else args.n
        return {"scale": summarize({n: one_n(work, n, runs=1 if args.quick else args.runs, quick=args.quick)
                                    for n in ns})}

    return common.run_main(__doc__, argv, measure, options)


if __name__ == "__main__":
    sys.exit(main())
