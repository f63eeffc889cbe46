"""`python bench/run.py --quick` runs every benchmark in a tiny configuration; its last line is one
JSON object. These tests check that the figures are there, positive and consistent: they never
assert speed (the machine is shared and noisy; speed goals are ratios read by people)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.sandbox


def _close(a: float, b: float, tol: float = 0.01) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


@pytest.fixture(scope="module")
def figures():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("CI", None)
    proc = subprocess.run([sys.executable, "bench/run.py", "--quick", "--keep"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    yield last
    shutil.rmtree(last["work_dir"], ignore_errors=True)


def test_machine_and_mode(figures):
    assert figures["quick"] is True
    m = figures["machine"]
    assert m["nproc"] >= 1 and m["mem_total_mb"] > 0 and m["date"]


def test_post_upgrade_vs_guide(figures):
    """The proof's own time is its wall time less the env's settle window, against the guide's."""
    f = figures["post_upgrade_vs_guide"]
    assert f["guide_median_s"] > 0 and f["suite_median_s"] > f["own_median_s"] > 0
    assert len(f["guide_runs_s"]) == len(f["suite_runs_s"]) == f["runs"] >= 1
    assert f["settle_s"] == 1.0  # the sandbox env's timeouts.settle
    assert _close(f["own_median_s"], f["suite_median_s"] - f["settle_s"])
    assert _close(f["ratio"], f["guide_median_s"] / f["suite_median_s"])
    assert _close(f["own_ratio"], f["guide_median_s"] / f["own_median_s"])
    assert f["aim_own_ratio"] == 1.0 and f["aim_met"] == (f["own_ratio"] >= 1.0)
    assert "real Helm 3" in f["helm"] and "far more" in f["note"]


def test_the_runs_used_the_real_helm(figures):
    """Every helm call of the benchmark's runs was the real Helm 3's: each sandbox's env names its
    D/bin/helm, the thin wrapper around that real helm, which logs each call to helm-calls.jsonl."""
    import json
    import shlex

    import yaml

    sys.path.insert(0, str(ROOT))
    from bench.common import real_helm

    work = Path(figures["work_dir"])
    sandboxes = [p for p in work.iterdir() if p.name.endswith("sandbox")]
    assert len(sandboxes) >= 3  # the upgrade round's and one per scale point
    for sandbox in sandboxes:
        helm = yaml.safe_load((sandbox / "env-bench.yaml").read_text())["helm"]
        assert Path(helm["binary"]) == sandbox / "bin" / "helm" and helm["dialect"] == 3
        wrapped = shlex.quote(str(Path(real_helm()).resolve()))
        assert f"C7N_REAL_HELM={wrapped}" in (sandbox / "bin" / "helm").read_text(), sandbox
    upgraded = next(p for p in sandboxes if p.name.startswith("round"))
    calls = [json.loads(line)["argv"] for line in (upgraded / "helm-calls.jsonl").read_text().splitlines()]
    assert any(argv[:1] == ["upgrade"] for argv in calls), calls


def test_scale(figures):
    s = figures["scale"]
    assert len(s["n"]) >= 2 and s["n"] == sorted(s["n"])
    for n in map(str, s["n"]):
        assert s["suite_median_s"][n] > s["own_median_s"][n] > 0 and s["guide_median_s"][n] > 0
        assert _close(s["ratio_vs_guide"][n], s["guide_median_s"][n] / s["suite_median_s"][n])
        assert _close(s["own_ratio_vs_guide"][n], s["guide_median_s"][n] / s["own_median_s"][n])
    assert s["aim_own_ratio"] == {}  # the aims are at 16 and 256 releases; --quick proves 18 and 20
    lo, hi = str(s["n"][0]), str(s["n"][-1])
    assert _close(s["t_ratio"], s["suite_median_s"][hi] / s["suite_median_s"][lo])
    assert s["per_n"][hi]["releases"] > s["per_n"][lo]["releases"]


def test_detection_latency(figures):
    d = figures["detection_latency"]
    assert d["samples"] >= 1
    assert d["notice_p95_s"] >= d["notice_median_s"] > -0.2  # clocks: Ready is logged <= 0.15 s late
    assert d["accept_p95_s"] >= d["accept_median_s"] > 0
    assert d["accept_median_s"] >= d["notice_median_s"]     # accepting comes after noticing
    assert d["p95_s"] == d["notice_p95_s"]


def test_upgrade_overhead(figures):
    o = figures["upgrade_overhead"]
    assert o["wall_s"] > o["sum_delays_s"] > 0
    assert _close(o["overhead"], (o["wall_s"] - o["sum_delays_s"]) / o["wall_s"])
    assert 0 < o["overhead"] < 1


def test_own_time_per_step(figures):
    """Each step's own time is its wall less its pods' start delay and the settle window."""
    o = figures["own_time_per_step"]
    steps = [s for r in figures["rounds"] for s in r["per_step"]]
    assert o["steps"] == len(steps) == 2  # --quick upgrades two releases
    for step in steps:
        assert step["wall_s"] > step["pod_start_s"] >= step["configured_delay_s"] > 0
        assert _close(step["own_s"], step["wall_s"] - step["pod_start_s"] - 1.0)
    assert o["own_max_s"] >= o["own_p95_s"] >= o["own_median_s"]
    assert 0 < o["own_share_of_step_wall"] < 1
    assert o["aim_own_per_step_s"] == 0.5 and o["aim_met"] == (o["own_median_s"] <= 0.5)


def test_terminal_state_slot_measures_or_says_why_not(figures):
    """Each state of issue 18 is measured where this tree's sandbox has its fault, else absent with why."""
    from c7n_sandbox.faults import KINDS

    t = figures["terminal_state_to_verdict"]
    assert set(t["states"]) == {"image-missing", "crash-loop", "hook-fail", "unschedulable"}
    for kind, fig in t["states"].items():
        if kind not in KINDS:
            assert fig == {"measured": False, "absent": True, "reason": fig["reason"]}
            assert f"no `{kind}` fault" in fig["reason"]
        elif kind == "image-missing":  # the one --quick measures: the sandbox has it, so it is measured
            assert fig["measured"], fig["reason"]
            assert fig["state_to_verdict_s"] >= 0 and fig["step_timeout_s"] > 0
            assert _close(fig["ratio_to_step_timeout"], fig["state_to_verdict_s"] / fig["step_timeout_s"])
        else:
            assert fig == {"measured": False, "reason": "--quick measures image-missing only"}


def test_memory(figures):
    mem = figures["memory_peak_rss_mb"]
    assert mem["post_upgrade"] > 0 and mem["upgrade"] > 0
    assert all(v > 0 for v in mem.values())


def test_guide_script_is_generated():
    """bench/guide_checks.sh is what bench/guide.py makes of the real plan."""
    sys.path.insert(0, str(ROOT))
    from bench import guide
    from c7n_upgrade.plan import load_plan

    text = (ROOT / "bench" / "guide_checks.sh").read_text()
    assert text == guide.guide_script(load_plan("0.8-to-0.9"), "plans/0.8-to-0.9.yaml")
    assert text.count("| jq -r .status") == 14 and text.count("/eureka/apps") == 1
