"""`python bench/run.py --quick` runs every benchmark in a tiny configuration; its last line is one
JSON object. These tests check that the figures are there, positive and consistent: they never
assert speed (the machine is shared and noisy; speed goals are ratios read by people)."""
from __future__ import annotations

import json
import os
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
    proc = subprocess.run([sys.executable, "bench/run.py", "--quick"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    return json.loads(last)


def test_machine_and_mode(figures):
    assert figures["quick"] is True
    m = figures["machine"]
    assert m["nproc"] >= 1 and m["mem_total_mb"] > 0 and m["date"]


def test_post_upgrade_vs_guide(figures):
    f = figures["post_upgrade_vs_guide"]
    assert f["guide_median_s"] > 0 and f["suite_median_s"] > 0
    assert len(f["guide_runs_s"]) == len(f["suite_runs_s"]) == f["runs"] >= 1
    assert _close(f["ratio"], f["guide_median_s"] / f["suite_median_s"])
    assert f["met"] == (f["ratio"] >= f["target"])
    assert "far more" in f["note"]


def test_scale(figures):
    s = figures["scale"]
    assert len(s["n"]) >= 2 and s["n"] == sorted(s["n"])
    for n in map(str, s["n"]):
        assert s["suite_median_s"][n] > 0 and s["guide_median_s"][n] > 0
        assert _close(s["ratio_vs_guide"][n], s["guide_median_s"][n] / s["suite_median_s"][n])
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
