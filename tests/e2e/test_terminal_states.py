"""Fast verdicts (issue 18): a step whose pods Kubernetes already calls broken fails at that look, far
inside the step timeout, naming the state, the pod and its log lines: an image that cannot be pulled,
a container that crash-loops, a hook Job that failed (helm fails), a pod no node takes.

One sandbox carries the faults at steps 1 to 4 (both on the real control plane: one with the real Helm 2
and Tiller, one with the real Helm 3); each test runs the suite, which stops at its fault, then
clears it (and deletes the stuck pods, as an operator does after pushing the image or fixing the config,
so the kubelet's back-off does not delay the next run), so the next run resumes one fault further. The
tests run in file order, each on the state the one before left. The step timeout is 60 s: each verdict
states when it was called, and that is a few seconds.
"""
from __future__ import annotations

import re
import subprocess

import pytest

from c7n_upgrade.plan import load_plan
from tests.e2e.harness import ObservedSandbox, assert_blocked_after, released, run_suite

pytestmark = pytest.mark.slow
PLAN = load_plan("0.8-to-0.9")
STEP_TIMEOUT = 60
FAULTS = [
    "register-server=image-missing",   # step 1
    "config-server=crash-loop",        # step 2
    "manager-service=hook-fail",       # step 3
    "iam-service=unschedulable",       # step 4 (Unschedulable for timeouts.unschedulable: 3 s)
]


@pytest.fixture(scope="module", params=["real-helm2", "real"])
def chain(request, tmp_path_factory):
    """The chain's sandbox on the real control plane (the node), with the real Helm 2 and with the real Helm 3."""
    base = tmp_path_factory.mktemp(f"terminal-{request.param}")
    args = [a for f in FAULTS for a in ("--fault", f)]
    args += ["--helm", "2" if request.param == "real-helm2" else "3"]
    with ObservedSandbox(base / "sandbox", *args) as sb:
        env = sb.env_with("env-terminal", timeouts={"step": STEP_TIMEOUT, "http": 3, "poll_max": 0.5,
                                                     "unschedulable": 3})
        yield sb, env, base


def _run(chain):
    sb, env, base = chain
    return run_suite(base, "suites/", "--env", str(env), "--allow-upgrade-in-ci", runs=base / "runs")


def _run_to(chain, step: int):
    """A run that gets past the step before (its rollout passes now) and stops at `step`: (run, its
    output as one line)."""
    run = _run(chain)
    if step > 1:
        before = PLAN.steps[step - 2].release
        assert run.outcomes()[f"suites/upgrade/test_{step - 1:02d}_{before.replace('-', '_')}.py::test_rollout"] \
            == "passed", run.flat_output()[-3000:]
    return run, _stopped_at(run, chain[0], step)


def _stopped_at(run, sb, step: int) -> str:
    """The run ended FAILED at `step`, the later steps blocked, its last helm write the step's; its
    output as one line."""
    name = PLAN.steps[step - 1].release
    flat = run.flat_output()
    assert run.exit_code == 1, flat[-3000:]
    assert f"Outcome: FAILED at step {step} ({name})" in flat, flat[-3000:]
    assert_blocked_after(run, step)
    assert [released(a) for a in sb.writes()][-1] == name
    return flat


def _seen_after(flat: str, release: str) -> int:
    """When the run called the verdict, as its reason says ("… (seen after N s; waiting would not heal it)")."""
    found = re.search(rf"{release} cannot roll out to 0\.9\.0 \(seen after (\d+)s; waiting would not heal it\)", flat)
    assert found, flat[-3000:]
    return int(found.group(1))


def _unstick(sb, release: str) -> None:
    """Clear the release's fault and delete its pods that are not Ready: their replacements start clean."""
    sb.fault("--clear", release)
    _, pods = sb.api(f"/api/v1/namespaces/{PLAN.namespace}/pods?labelSelector=choerodon.io/release%3D{release}")
    for pod in pods["items"]:
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])):
            sb.api(f"/api/v1/namespaces/{PLAN.namespace}/pods/{pod['metadata']['name']}", "DELETE")


def test_an_image_that_cannot_be_pulled_fails_step_1_at_the_second_failed_pull(chain):
    sb, _, _ = chain
    run, flat = _run_to(chain, 1)
    assert re.search(r"pod register-server-\S+, container \S+ is ErrImagePull: rpc error: code = NotFound desc = "
                     r"failed to pull and unpack image \"[^\"]+go-register-server:0\.9\.0\": .*: not found; the image "
                     r"\S+go-register-server:0\.9\.0 cannot be pulled: is it in your registry", flat), flat[-3000:]
    _seen_after(flat, "register-server")  # the terminal rule called it, not the timeout
    assert "Back-off pulling image" in run.all_text()  # the kubelet's events, in the step's diagnostics
    assert [released(a) for a in sb.writes()] == ["register-server"]
    _unstick(sb, "register-server")


def test_a_crash_loop_fails_step_2_at_the_third_restart_with_the_last_runs_log(chain):
    sb, _, _ = chain
    _, flat = _run_to(chain, 2)
    assert re.search(r"pod config-server-\S+, container \S+ is CrashLoopBackOff after 3 restarts: back-off \d+s "
                     r"restarting failed container=", flat), flat[-3000:]
    lines = flat[flat.index("its last log lines: "):]
    assert "Application run failed" in lines and "BeanCreationException" in lines, lines[:1000]
    _seen_after(flat, "config-server")
    assert [released(a) for a in sb.writes()] == ["register-server", "config-server"]
    _unstick(sb, "config-server")


def test_a_failed_hook_job_fails_step_3_with_helm_naming_the_job_and_its_pods_log(chain):
    sb, _, _ = chain
    run, flat = _run_to(chain, 3)
    # the real Helm 3.17 words it "1 error occurred:" and a list; Tiller (Helm 2) names no hook phase
    assert re.search(r"helm failed for manager-service: Error: UPGRADE FAILED: (pre-upgrade hooks failed: "
                     r"1 error occurred: \* job manager-service-init-db failed: BackoffLimitExceeded|"
                     r"Job failed: BackoffLimitExceeded)", flat), flat[-3000:]
    assert re.search(r"hook Job manager-service-init-db failed \(2 pod\(s\) failed; tools-init-db: terminated Error\), "
                     r"its last log lines: .*Access denied for user 'choerodon'", flat), flat[-3000:]
    # helm's own answer ended the step: no rollout was waited for
    assert "[03/16] manager-service:" not in run.output
    (upgrade,) = [r for r in run.allure_results() if r["fullName"].endswith("test_03_manager_service#test_upgrade")]
    assert upgrade["status"] == "failed"
    sb.fault("--clear", "manager-service")
    if sb.env_data()["helm"]["dialect"] == 2:
        # Tiller leaves a release whose pre-upgrade hook failed PENDING_UPGRADE (Helm 3 records it failed):
        # the next run's pre-flight would stop on it, saying to roll back first, as the operator does here
        _, records = sb.api("/api/v1/namespaces/kube-system/configmaps?labelSelector=NAME%3Dmanager-service")
        assert sorted(c["metadata"]["labels"]["STATUS"] for c in records["items"]) == ["DEPLOYED", "PENDING_UPGRADE"]
        back = subprocess.run([str(sb.dir / "bin" / "helm"), "rollback", "manager-service", "1"],
                              capture_output=True, text=True, timeout=120)
        assert back.returncode == 0, back.stderr


def test_an_unschedulable_pod_fails_step_4_after_the_envs_grace(chain):
    sb, _, _ = chain
    run, flat = _run_to(chain, 4)
    assert "removed finished hook Jobs manager-service-init-db" in run.output  # the failed one, before helm
    # the real scheduler adds its preemption verdict
    assert re.search(r"pod iam-service-\S+ is Unschedulable: 0/1 nodes are available: 1 Insufficient memory\.( "
                     r"no new claims to deallocate, preemption: 0/1 nodes are available: 1 Preemption is not helpful for "
                     r"scheduling\.)?; "
                     r"no node can take it", flat), flat[-3000:]
    assert _seen_after(flat, "iam-service") >= 3  # the env's grace was waited out; then the rule, not the timeout
    assert [released(a) for a in sb.writes()].count("manager-service") == 2
