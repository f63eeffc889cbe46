"""Terminal states: what waiting will not heal fails the step at the next look, naming the pod, its state
and message, and the crashed container's last log lines; a pod that runs but is DOWN still waits."""
from __future__ import annotations

import pytest

from c7n_upgrade import rollout, terminal
from c7n_upgrade.kube import ContainerState
from c7n_upgrade.report import StepFailed
from c7n_upgrade.rollout import RolloutPolicy
from c7n_upgrade.terminal import TerminalWatch
from tests.unit.fakes import DOWN, UP, FakeClock, Pod
from tests.unit.test_upgrade import IAM, World, release

IMAGE = "registry.example/choerodon/iam-service:0.9.0"


def pod(name="iam-1", reason="", state="waiting", restarts=0, message="", conditions=(), deleting=False):
    containers = [ContainerState("iam-service", state, reason, message, None, restarts, IMAGE)]
    return Pod(name, "0.9.0", ready=False, deleting=deleting, containers=containers, conditions=list(conditions),
               restart_count=restarts)


def state_of(*pods):
    return rollout.observe(list(pods), lambda p: DOWN, "iam-service", "0.9.0", 8031)


def test_an_image_that_cannot_be_pulled_is_terminal_once_the_second_pull_has_failed():
    clock = FakeClock()
    watch = TerminalWatch(clock)
    stuck = pod(reason="ErrImagePull", message='failed to pull "…:0.9.0": not found')
    assert watch.check(state_of(stuck)) is None  # one failed pull: a registry blip may heal
    clock.sleep(5)
    assert watch.check(state_of(pod(reason="ImagePullBackOff", message="Back-off pulling image"))) is None
    clock.sleep(6)
    assert watch.check(state_of(pod(reason="ImagePullBackOff"))) is None  # the retry is still pulling
    clock.sleep(2)
    found = watch.check(state_of(pod(reason="ErrImagePull", message="not found")))  # the retry failed
    assert found.reason == "ErrImagePull" and found.pod == "iam-1"
    assert found.describe() == ("pod iam-1, container iam-service is ErrImagePull: not found; the "
                                f"image {IMAGE} cannot be pulled: is it in your registry, and can the nodes reach it?")


def test_a_pull_failing_for_the_whole_grace_is_terminal_even_when_the_looks_miss_the_retries():
    clock = FakeClock()
    watch = TerminalWatch(clock)
    for _ in range(int(terminal.IMAGE_PULL_GRACE) // 10):
        assert watch.check(state_of(pod(reason="ImagePullBackOff"))) is None
        clock.sleep(10)
    assert watch.check(state_of(pod(reason="ImagePullBackOff"))).reason == "ImagePullBackOff"


def test_an_old_pod_crashing_while_the_new_one_starts_is_not_the_new_versions_state():
    old = Pod("iam-old", "0.8.0", ready=False, restart_count=7,
              containers=[ContainerState("iam-service", "waiting", "CrashLoopBackOff", "", None, 7, "x:0.8.0")])
    assert TerminalWatch(FakeClock()).check(state_of(old, pod("iam-new", reason="ContainerCreating"))) is None


def test_a_pull_that_heals_starts_the_count_again():
    clock = FakeClock()
    watch = TerminalWatch(clock)
    watch.check(state_of(pod(reason="ErrImagePull")))
    watch.check(state_of(pod(reason="ImagePullBackOff")))
    clock.sleep(terminal.IMAGE_PULL_GRACE - 1)
    assert watch.check(state_of(pod(state="running"))) is None  # pulled after all
    clock.sleep(5)
    assert watch.check(state_of(pod(reason="ErrImagePull"))) is None  # a new first failure, not the second


def test_crash_loop_is_terminal_at_the_third_restart_not_before():
    watch = TerminalWatch(FakeClock())
    assert watch.check(state_of(pod(reason="CrashLoopBackOff", restarts=2))) is None
    found = watch.check(state_of(pod(reason="CrashLoopBackOff", restarts=3, message="back-off 40s restarting")))
    assert found.reason == "CrashLoopBackOff" and found.restarts == 3
    assert "is CrashLoopBackOff after 3 restarts: back-off 40s restarting" in found.describe()


def test_unschedulable_is_terminal_after_its_grace_and_an_old_pod_going_away_is_ignored():
    clock = FakeClock()
    watch = TerminalWatch(clock)
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory."}
    pending = pod(state="waiting", reason="ContainerCreating", conditions=[cond])
    assert watch.check(state_of(pending)) is None
    clock.sleep(terminal.UNSCHEDULABLE_GRACE)
    assert "0/3 nodes are available" in watch.check(state_of(pending)).describe()
    assert TerminalWatch(FakeClock()).check(state_of(pod(reason="InvalidImageName", deleting=True))) is None


def test_the_unschedulable_grace_is_the_envs_and_the_step_waits_with_it():
    clock = FakeClock()
    watch = TerminalWatch(clock, unschedulable_grace=5)
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient memory."}
    pending = Pod("iam-1", "0.9.0", ready=False, phase="Pending", conditions=[cond])
    assert watch.check(state_of(pending)) is None
    clock.sleep(4.9)
    assert watch.check(state_of(pending)) is None
    clock.sleep(0.1)
    assert watch.check(state_of(pending)).reason == "Unschedulable"
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods={"iam-service": [pending]},
              policy=RolloutPolicy(timeout=600, interval=0.001, poll_max=0.002, unschedulable_grace=0.05))
    with pytest.raises(StepFailed, match=r"pod iam-1 is Unschedulable: 0/1 nodes are available: 1 Insufficient "
                                         r"memory\.; no node can take it"):
        w.upgrade.wait()


def test_running_but_down_and_a_slow_start_are_not_terminal():
    watch = TerminalWatch(FakeClock())
    assert watch.check(state_of(pod(state="running"), pod("iam-2", reason="ContainerCreating"))) is None


def test_the_wait_stops_at_the_first_terminal_look_not_at_its_timeout():
    clock = FakeClock()
    looks = []

    def observe():
        looks.append(clock.now)
        return state_of(pod(reason="CrashLoopBackOff", restarts=3))

    with pytest.raises(rollout.RolloutTerminal) as err:
        rollout.wait(observe, RolloutPolicy(timeout=600, poll_max=0.5), terminal=TerminalWatch(clock).check,
                     clock=clock, sleep=clock.sleep)
    assert len(looks) == 1 and err.value.terminal.reason == "CrashLoopBackOff" and err.value.last.total == 1


def test_the_step_fails_naming_the_state_and_the_crashed_containers_last_lines():
    crashing = pod(reason="CrashLoopBackOff", restarts=4, message="back-off 1m20s restarting failed container")
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods={"iam-service": [crashing]},
              policy=RolloutPolicy(timeout=600, interval=0.001, poll_max=0.002))
    with pytest.raises(StepFailed) as err:
        w.upgrade.wait()
    message = str(err.value)
    assert message.startswith("iam-service cannot roll out to 0.9.0 (seen after 0s; waiting would not heal it): pod "
                              "iam-1, container iam-service is CrashLoopBackOff after 4 restarts")
    assert message.endswith("its last log lines: previous log of iam-1 | its last line")
    assert "pods iam-service" in w.reporter.attachments  # the diagnostics, as on a timeout


def test_a_ready_pod_beside_nothing_terminal_still_settles():
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")],
              pods={"iam-service": [Pod("iam-1", "0.9.0")]}, health={"iam-1": UP})
    assert w.upgrade.wait().done


def test_a_failed_hook_job_is_named_with_its_pods_state_and_last_lines():
    from c7n_upgrade.kube import JobInfo

    failed = JobInfo("iam-service-init-db", active=0, succeeded=0, failed=6, finished=True, condition="Failed")
    hook_pod = Pod("iam-service-init-db-7x2", "", ready=False, phase="Failed", release="iam-service-init-db",
                   waiting=["tools: terminated Error"])
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")], jobs=[failed], pods={"hook": [hook_pod]})
    assert w.upgrade._failed_hooks("iam-service") == (
        "; hook Job iam-service-init-db failed (6 pod(s) failed; tools: terminated Error), its last log lines: "
        "log of iam-service-init-db-7x2 | its last line")


def test_a_release_helm_marks_failed_fails_the_step_at_once():
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")])
    listed = w.helm.list_releases

    def failed(only=None):  # the step's own release, as helm lists it after the call: failed
        return [r.__class__(**{**r.__dict__, "status": "failed"}) if only else r for r in listed(only)]

    w.helm.list_releases = failed
    with pytest.raises(StepFailed, match=r"^helm marked iam-service failed after its upgrade \(helm status iam-service\)$"):
        w.upgrade.apply()
