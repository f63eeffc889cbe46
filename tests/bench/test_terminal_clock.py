"""bench/terminal_latency.py's clock: which kube API listing shows a terminal state, and which output
line is the step's verdict (pods and Jobs as the API returns them; no sandbox)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.terminal_latency import first_verdict_after, shows  # noqa: E402


def pod(name, release="iam-service", waiting=None, conditions=(), phase="Pending", labels=None):
    status = {"phase": phase, "conditions": list(conditions)}
    if waiting:
        status["containerStatuses"] = [{"name": "app", "state": {"waiting": {"reason": waiting}}}]
    return {"metadata": {"name": name, "labels": {"choerodon.io/release": release, **(labels or {})}},
            "status": status}


UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}


@pytest.mark.parametrize("kind, pods, jobs", [
    ("image-missing", [pod("iam-service-1", waiting="ErrImagePull")], []),
    ("image-missing", [pod("iam-service-1", waiting="ImagePullBackOff")], []),
    ("crash-loop", [pod("iam-service-1", waiting="CrashLoopBackOff", phase="Running")], []),
    ("unschedulable", [pod("iam-service-1", conditions=[UNSCHEDULABLE])], []),
    ("hook-fail", [], [{"metadata": {"name": "iam-service-init-db"},
                        "status": {"conditions": [{"type": "Failed", "status": "True"}]}}]),
    ("hook-fail", [pod("iam-service-init-db-x1", phase="Failed", labels={"job-name": "iam-service-init-db"})], []),
])
def test_a_listing_showing_the_state(kind, pods, jobs):
    assert shows(kind, "iam-service", pods, jobs)
    assert not shows(kind, "manager-service", pods, jobs)  # another release's state says nothing


@pytest.mark.parametrize("kind", ["image-missing", "crash-loop", "unschedulable", "hook-fail"])
def test_a_slow_start_or_a_running_pod_shows_no_terminal_state(kind):
    pods = [pod("iam-service-1", waiting="ContainerCreating"), pod("iam-service-2", phase="Running"),
            pod("iam-service-3", conditions=[{"type": "PodScheduled", "status": "True"}])]
    jobs = [{"metadata": {"name": "iam-service-init-db"}, "status": {"conditions": [{"type": "Complete",
                                                                                     "status": "True"}]}}]
    assert not shows(kind, "iam-service", pods, jobs)


def test_the_verdict_is_the_steps_failed_line_after_the_state():
    lines = [(10.0, "suites/upgrade/test_03_manager_service.py::test_upgrade FAILED [ 20%]"),
             (11.0, "suites/upgrade/test_04_iam_service.py::test_upgrade PASSED [ 25%]"),
             (12.0, "suites/upgrade/test_04_iam_service.py::test_rollout FAILED [ 30%]"),
             (13.0, "suites/upgrade/test_04_iam_service.py::test_other FAILED [ 35%]")]
    assert first_verdict_after(lines, 9.0, 4) == 12.0
    assert first_verdict_after(lines, 12.5, 4) == 13.0
    assert first_verdict_after(lines, 9.0, 5) is None
