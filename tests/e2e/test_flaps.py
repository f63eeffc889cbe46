"""A release whose health flaps fails its own step, whatever the flap's period against the settle window
(issue 19): a flap faster than the window shows in the step's own wait, a slower one in Kubernetes'
history at a later step (Ready flips, failed probes), and the run names the step that flaps.

Each period runs the whole suite on a fresh sandbox (`--env sandbox`, its default settle window) with
config-server (step 2) flapping; its pods start UP, so a flap of P seconds first goes DOWN P seconds
after the pod started. The run must last that long after step 2: 30 s is about half of a sandbox run.
"""
from __future__ import annotations

import re

import pytest

from tests.e2e.harness import run_suite

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("period", [2, 5, 12, 30])
def test_a_flap_fails_the_step_that_flaps(tmp_path, period):
    run = run_suite(tmp_path, "suites/", "--env", "sandbox", "--sandbox-fault", f"config-server=flap:{period}",
                    "--allow-upgrade-in-ci")
    text = run.flat_output()
    assert run.exit_code == 1, text[-3000:]
    outcome = run.outcome()
    assert (outcome["outcome"], outcome["step"], outcome["release"]) == ("failed", 2, "config-server"), text[-3000:]
    line = next(s for s in outcome["steps"] if s["number"] == 2)
    # the cause is what Kubernetes or the health answers recorded of config-server's pod, not a timeout
    assert re.search(r"config-server-\S+ (went from Ready to not Ready|answered DOWN|: \d+ failed probe)"
                     r"|config-server is not stable|config-server became unstable", line["text"]), line
    steps = {s["number"]: s["status"] for s in outcome["steps"]}
    # a later step is done, blocked, or (the one whose wait saw config-server go) upgraded by helm, unobserved
    later = [status for n, status in steps.items() if n > 2]
    assert steps[1] == "done" and set(later) <= {"done", "blocked", "helm-only"} and later.count("helm-only") <= 1, steps
    assert "blocked" in steps.values(), "no later step was stopped"
    post = run.by_test("suites/post_upgrade/")
    assert post and not [k for k, v in post.items() if v == "passed"], post
