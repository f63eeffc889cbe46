"""ReleaseUpgrade: rendering the plan's values, and every decision of a step against fakes of helm and
Kubernetes (already upgraded, waited, values changed at target, hook Jobs, dry run, wrong chart,
pending, missing, found by chart, pinned, helm failure, rollout wait and its timeout)."""
import os
import re

import pytest

from c7n_upgrade.plan import load_plan
from c7n_upgrade.redact import Redactor
from c7n_upgrade.releases import Releases
from c7n_upgrade.report import StepFailed, StepLog
from c7n_upgrade.rollout import RolloutPolicy
from c7n_upgrade.stability import EarlierStepUnstable
from c7n_upgrade.upgrade import ReleaseUpgrade, render_values
from tests.unit.fakes import DOWN, UP, FakeAccess, FakeHelm, FakeKube, Pod, RecordingReporter, job, release

PLACEHOLDERS = {"namespace": "ns1", "mysql_service_host": "db.internal", "mysql_service_port": 3307,
                "mysql_user": "choerodon", "mysql_password": "pw-123456", "database": "notify_service",
                "kafka_brokers": "k0:9092,k1:9092", "zookeeper_nodes": "z0:2181", "gitlab_ssh_host": "git.example",
                "gateway_url": "http://gw.example", "minio_url": "http://minio.example", "front_url": "http://front"}


def test_notify_values_follow_the_guide():
    values = render_values(load_plan("0.8-to-0.9").step("notify-service").values, PLACEHOLDERS)
    assert values["preJob.preConfig.mysql.port"] == 3307  # a port stays an integer
    assert values["preJob.preConfig.mysql.database"] == "manager_service"
    assert values["preJob.preInitDB.mysql.database"] == "notify_service"
    assert values["env.open.SPRING_DATASOURCE_URL"] == (
        "jdbc:mysql://db.internal:3307/notify_service?useUnicode=true&characterEncoding=utf-8&useSSL=false")
    assert values["env.open.EUREKA_CLIENT_SERVICEURL_DEFAULTZONE"] == "http://register-server.ns1:8000/eureka/"
    assert values["env.open.SPRING_CLOUD_CONFIG_URI"] == "http://config-server.ns1:8010/"
    assert values["env.open.SPRING_KAFKA_BOOTSTRAP_SERVERS"] == "k0:9092,k1:9092"  # no \, needed in a file
    assert values["env.open.SPRING_CLOUD_CONFIG_ENABLED"] is True
    assert values["env.open.SPRING_DATASOURCE_PASSWORD"] == "pw-123456"


def test_devops_and_front_values():
    plan = load_plan("0.8-to-0.9")
    devops = render_values(plan.step("devops-service").values, PLACEHOLDERS)
    assert devops["env.open.AGENT_VERSION"] == "0.9.6"
    assert devops["env.open.SERVICES_GITLAB_SSHURL"] == "git.example"
    assert devops["env.open.SECURITY_IGNORED"] == "/ci,/webhook,/v2/api-docs,/agent/**,/ws/**,/webhook/**"
    front = render_values(plan.step("choerodon-front").values, PLACEHOLDERS)
    assert front == {"env.open.PRO_FILE_SERVER": "http://minio.example"}


# ---------------------------------------------------------------------------------------------
# the step's decisions, against fakes of helm and Kubernetes (no cluster, no MariaDB)

PLAN = load_plan("0.8-to-0.9")
IAM = PLAN.step("iam-service")          # upgrade, hooks [init-db], no values
NOTIFY = PLAN.step("notify-service")    # install, hooks [init-db, init-config], values with the password
FAST = RolloutPolicy(timeout=2.0, interval=0.001, poll_max=0.002, settle_observations=2, settle_seconds=0.0)


class World:
    """A ReleaseUpgrade of `step` over fake helm and Kubernetes, and what it recorded."""

    def __init__(self, step, listed, *, pods=None, health=None, jobs=(), values=None, pins=None,
                 dry_run=False, fail="", policy=FAST, said=None):
        self.helm = FakeHelm(listed, values=values, fail=fail)
        self.kube = FakeKube(pods=pods or {}, jobs={j.name: j for j in jobs})
        self.reporter = RecordingReporter()
        redactor = Redactor([PLACEHOLDERS["mysql_password"]])
        self.upgrade = ReleaseUpgrade(
            step=step, helm=self.helm, kube=self.kube, releases=Releases(self.helm, pins or {}, redactor),
            access=FakeAccess(self.kube, health, said), policy=policy, chart_repo="c7n",
            values=render_values(step.values or {}, {**PLACEHOLDERS, "database": step.database}),
            log=StepLog(self.reporter, redactor), dry_run=dry_run, total_steps=16)


def on(version, *names, **kw):
    return [Pod(n, version, **kw) for n in names]


def test_upgrade_runs_helm_with_the_kept_values():
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")], values={"iam-service": {"replicaCount": 2}})
    outcome = w.upgrade.apply()
    assert outcome.action == "upgraded"
    [argv] = w.helm.writes
    assert argv[:6] == ["helm", "upgrade", "iam-service", "c7n/iam-service", "--version", "0.9.0"]
    assert w.helm.written_values == [["replicaCount: 2\n"]]  # the current values, one file: no plan values
    assert (outcome.listed.chart_name, outcome.listed.chart_version) == ("iam-service", "0.9.0")
    assert not any(os.path.exists(a) for a in argv if a.endswith(".yaml")), "values file left behind"
    assert "values diff iam-service" in w.reporter.attachments and "helm iam-service" in w.reporter.attachments


def test_install_of_a_new_service_layers_the_plan_values_and_keeps_the_password_off_argv():
    w = World(NOTIFY, [])
    outcome = w.upgrade.apply()
    assert outcome.action == "installed"
    [argv] = w.helm.writes
    assert argv[1:4] == ["install", "notify-service", "c7n/notify-service"]
    current, extra = w.helm.written_values[0]
    assert current == "{}\n" and "SPRING_DATASOURCE_PASSWORD: pw-123456" in extra
    assert "pw-123456" not in " ".join(argv)
    diff = w.reporter.attachments["values diff notify-service"]
    assert "pw-123456" not in w.reporter.text() and re.search(r"password: <hidden [0-9a-f]{8}>", diff)
    assert "host: db.internal" in diff  # a plan key that fills in no secret is shown


def test_already_upgraded_needs_helm_at_target_and_every_pod_observed_there():
    pods = {"iam-service": on("0.9.0", "iam-1", "iam-2")}
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods=pods)
    outcome = w.upgrade.apply()
    assert outcome.action == "already-upgraded" and w.helm.writes == []
    assert outcome.rollout.done and [p.name for p in outcome.rollout.pods] == ["iam-1", "iam-2"]
    assert w.reporter.steps == ["iam-service already at 0.9.0: nothing to do"]


class Flapping(dict):
    """Health answers per pod: the listed ones in turn, then UP."""

    def __init__(self, **answers):
        super().__init__()
        self.answers = {name: list(seq) for name, seq in answers.items()}

    def get(self, name, default=None):
        seq = self.answers.get(name)
        return seq.pop(0) if seq else default


def test_already_upgraded_rests_on_the_settle_window_not_one_lucky_answer():
    """UP at the first look and DOWN at the next: not "already upgraded" (the pods are waited for)."""
    pods = {"iam-service": on("0.9.0", "iam-1")}
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods=pods, health=Flapping(**{"iam-1": [UP, DOWN]}))
    outcome = w.upgrade.apply()
    assert outcome.action == "waited" and w.helm.writes == []


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_rollout_verdict_after_already_upgraded_reuses_its_window(dry_run):
    """'Already upgraded' took a settle window; the step's rollout verdict rests on it, not on a second one."""
    pods = {"iam-service": on("0.9.0", "iam-1")}
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods=pods, dry_run=dry_run)
    outcome = w.upgrade.apply()
    assert outcome.action == "already-upgraded" and len(w.kube.asked) >= FAST.settle_observations
    looked = len(w.kube.asked)
    state = w.upgrade.observe_now() if dry_run else w.upgrade.wait()
    assert state is outcome.rollout and w.upgrade.observed is state and len(w.kube.asked) == looked
    assert "health iam-service" in w.reporter.attachments


@pytest.mark.parametrize("pods, health", [
    ({"iam-service": on("0.9.0", "iam-1") + on("0.8.0", "iam-old")}, {}),   # an old-version pod left
    ({"iam-service": on("0.9.0", "iam-1")}, {"iam-1": DOWN}),                # health DOWN
    ({"iam-service": on("0.9.0", "iam-1", ready=False)}, {}),               # not Ready
    ({}, {}),                                                               # no pod at all
])
def test_helm_at_target_without_the_pods_there_waits_without_a_second_helm_call(pods, health):
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods=pods, health=health)
    outcome = w.upgrade.apply()
    assert outcome.action == "waited" and w.helm.writes == []


def test_values_changed_at_target_run_helm_again():
    """A release already at its chart version whose values lack the plan's: helm runs (a resumed run)."""
    w = World(NOTIFY, [release("notify-service", "notify-service", "0.9.0")], values={"notify-service": {}})
    outcome = w.upgrade.apply()
    assert outcome.action == "upgraded"
    assert [a[1] for a in w.helm.writes] == ["upgrade"]


def test_pods_up_at_target_without_the_plans_values_are_not_already_upgraded():
    """Helm at the target and the pods UP, but the release's values lack the plan's (helm run by hand
    without them): the service is not configured as the guide says; helm runs with them."""
    w = World(NOTIFY, [release("notify-service", "notify-service", "0.9.0")], values={"notify-service": {}},
              pods={"notify-service": on("0.9.0", "notify-1")})
    outcome = w.upgrade.apply()
    assert outcome.action == "upgraded" and [a[1] for a in w.helm.writes] == ["upgrade"]


def test_finished_hook_jobs_are_removed_before_helm():
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")],
              jobs=[job("iam-service-init-db", finished=True), job("other-init-db", finished=True)])
    w.upgrade.apply()
    assert w.kube.deleted == ["iam-service-init-db"]  # only this release's hook Jobs
    assert "hook jobs removed (iam-service)" in w.reporter.attachments
    assert "iam-service: removed finished hook Jobs iam-service-init-db" in w.reporter.lines


def test_a_running_hook_job_fails_the_step_before_helm():
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")], jobs=[job("iam-service-init-db", finished=False)])
    with pytest.raises(StepFailed, match="iam-service-init-db still running"):
        w.upgrade.apply()
    assert w.helm.writes == [] and w.kube.deleted == []


def test_dry_run_records_the_command_and_changes_nothing():
    w = World(NOTIFY, [], jobs=[job("notify-service-init-db", finished=True)], dry_run=True)
    outcome = w.upgrade.apply()
    assert outcome.action == "dry-run" and w.helm.writes == [] and w.kube.deleted == []
    assert outcome.command.startswith("helm install notify-service c7n/notify-service --version 0.9.0 -f ")
    assert w.reporter.attachments["helm command (dry run) notify-service"] == outcome.command
    assert "dry run: would remove finished hook Jobs notify-service-init-db" in w.reporter.lines


@pytest.mark.parametrize("listed, pins, why", [
    ([release("iam-service", "oauth-server", "0.8.0")], {}, "runs chart oauth-server, the plan expects iam-service"),
    ([release("iam-service", "iam-service", "0.8.0", status="pending-upgrade")], {}, "is pending-upgrade"),
    ([], {}, "iam-service \\(chart iam-service\\) is not installed in namespace ns"),
    ([release("iam-a", "iam-service", "0.8.0"), release("iam-b", "iam-service", "0.8.0")], {},
     "several releases use chart iam-service \\(iam-a, iam-b\\); pin one"),
    ([release("iam-service", "iam-service", "0.8.0")], {"iam-service": "iam"},
     "release iam \\(chart iam-service\\) is not installed"),  # pinned to a name helm does not list
])
def test_a_release_the_step_cannot_upgrade_fails_before_helm(listed, pins, why):
    w = World(IAM, listed, pins=pins, jobs=[job("iam-service-init-db", finished=True)])
    with pytest.raises(StepFailed, match=why):
        w.upgrade.apply()
    assert w.helm.writes == [] and w.kube.deleted == []


def test_a_pending_release_names_the_way_out():
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0", status="pending-install")])
    with pytest.raises(StepFailed) as info:
        w.upgrade.apply()
    assert "helm history iam-service" in str(info.value) and "helm rollback iam-service" in str(info.value)


@pytest.mark.parametrize("listed, expected", [
    ([release("iam", "iam-service", "0.8.0")], "iam"),                                    # renamed: found by chart
    ([release("iam-service", "iam-service", "0.8.0"), release("iam-2", "iam-service", "0.8.0")],
     "iam-service"),                                                                       # several: the default name
])
def test_the_release_is_found_by_its_chart(listed, expected):
    w = World(IAM, listed)
    assert w.upgrade.apply().release == expected
    assert w.helm.writes[0][2] == expected


def test_values_are_read_once_until_a_refresh_and_a_step_reads_them_afresh():
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")], values={"iam-service": {"replicaCount": 2}})
    releases = w.upgrade.releases
    first = releases.values("iam-service")
    first["replicaCount"] = 5  # a caller's change stays its own
    assert releases.values("iam-service") == {"replicaCount": 2} and w.helm.values_read == ["iam-service"]
    w.helm.values["iam-service"] = {"replicaCount": 3}  # changed outside the suite since pre-flight
    w.upgrade.apply()
    assert w.helm.values_read == ["iam-service", "iam-service"]
    assert w.helm.written_values == [["replicaCount: 3\n"]]


def test_a_pinned_name_is_used_as_is():
    w = World(IAM, [release("c7n-iam", "iam-service", "0.8.0"), release("iam-2", "iam-service", "0.8.0")],
              pins={"iam-service": "c7n-iam"})
    assert w.upgrade.apply().release == "c7n-iam"


def test_helm_failure_fails_the_step_with_helms_error_and_its_output_attached():
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")], fail='UPGRADE FAILED: "iam-service" has no deployed releases')
    with pytest.raises(StepFailed, match='helm failed for iam-service: Error: UPGRADE FAILED'):
        w.upgrade.apply()
    assert "(exit 1," in w.reporter.attachments["helm iam-service"]
    assert w.upgrade.outcome is None
    assert w.helm.lists == 3  # the run's listing, the release before the call and again after it failed


def test_plan_values_without_the_env_to_fill_them_fail_the_step():
    w = World(NOTIFY, [])
    w.upgrade.values = None
    with pytest.raises(StepFailed, match="no 'mysql' section"):
        w.upgrade.apply()
    assert w.helm.writes == []


def test_wait_returns_the_settled_rollout():
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods={"iam-service": on("0.9.0", "iam-1")})
    state = w.upgrade.wait()
    assert state.done and state.health_bodies == {"iam-1": '{"status":"UP"}'}
    assert "health iam-service" in w.reporter.attachments


def test_wait_that_times_out_fails_the_step_with_the_diagnostics():
    policy = RolloutPolicy(timeout=0.05, interval=0.01, poll_max=0.01)
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], policy=policy,
              pods={"iam-service": on("0.9.0", "iam-1") + on("0.8.0", "iam-old")}, health={"iam-1": DOWN})
    with pytest.raises(StepFailed, match=r"iam-service not rolled out to 0.9.0 after 0s: .*old-version pod\(s\) left"):
        w.upgrade.wait()
    names = set(w.reporter.attachments)
    assert {"pods iam-service", "log tail iam-1", "recent events", "last health bodies iam-service"} <= names


def _config_server_went_down(w):
    """The run upgraded config-server at step 2 and saw it Ready; now its pod is not Ready."""
    watch = w.upgrade.stability
    watch.follow("config-server", "0.9.0", 2)
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-05T10:00:00Z"}
    watch.look("config-server", "0.9.0", [Pod("cs-1", "0.9.0", conditions=[ready])], {})
    w.kube.pods["config-server"] = [Pod("cs-1", "0.9.0", ready=False, conditions=[dict(ready, status="False")])]


def test_a_step_whose_ready_pods_went_with_an_earlier_release_fails_as_that_releases_step():
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-05T10:05:00Z"}
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")],
              pods={"iam-service": [Pod("iam-1", "0.9.0", conditions=[ready])]})
    _config_server_went_down(w)
    w.upgrade.stability.look("iam-service", "0.9.0", [Pod("iam-1", "0.9.0", conditions=[
        dict(ready, lastTransitionTime="2026-12-05T10:04:00Z")])], {})  # Ready before, then not, then again
    with pytest.raises(EarlierStepUnstable) as exc:
        w.upgrade.wait()
    assert (exc.value.earlier_step, exc.value.release) == (2, "config-server")
    assert "pod cs-1 went from Ready to not Ready" in str(exc.value)


def test_a_step_whose_pods_never_became_ready_stays_the_cause_and_names_the_earlier_instability():
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], policy=RolloutPolicy(
        timeout=0.05, interval=0.01, poll_max=0.01), pods={"iam-service": on("0.9.0", "iam-1", ready=False)})
    _config_server_went_down(w)
    with pytest.raises(StepFailed) as exc:
        w.upgrade.wait()
    assert not isinstance(exc.value, EarlierStepUnstable)
    assert str(exc.value).startswith("iam-service not rolled out to 0.9.0")
    assert "; meanwhile config-server became unstable after its step" in str(exc.value)


# ---------------------------------------------------------------------------------------------
# "upgraded" means the new software runs: image pins, image tags, what the service says


@pytest.mark.parametrize("dry_run", [False, True])
def test_values_pinning_the_old_image_fail_the_step_before_any_helm_call(dry_run):
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")], dry_run=dry_run,
              values={"iam-service": {"image": {"tag": "0.8.0", "repository": "registry/iam-service"}}})
    with pytest.raises(StepFailed) as exc:
        w.upgrade.apply()
    message = str(exc.value)
    assert "iam-service's values pin image.tag: 0.8.0" in message
    assert "helm upgrade iam-service c7n/iam-service --version 0.8.0 -f v.yaml" in message
    assert w.helm.writes == [] and not any("dry run" in k for k in w.reporter.attachments)


def test_a_pin_on_the_target_version_is_no_pin():
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")], values={"iam-service": {"image": {"tag": "0.9.0"}}})
    assert w.upgrade.apply().action == "upgraded"


def test_pods_labelled_new_but_running_the_old_image_are_not_already_upgraded():
    pods = {"iam-service": on("0.9.0", "iam-1", image="registry/iam-service:0.8.0")}
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods=pods)
    assert w.upgrade.apply().action == "waited"
    with pytest.raises(StepFailed, match=r"pod\(s\) running an image not tagged 0.9.0: iam-1 \(registry/iam-service:0.8.0\)"):
        w.upgrade.wait()


def test_a_service_saying_it_runs_another_version_fails_its_wait():
    pods = {"iam-service": on("0.9.0", "iam-1", image="registry/iam-service:0.9.0")}
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods=pods, said={"iam-1": "0.8.0"})
    assert w.upgrade.apply().action == "waited"  # not "already upgraded": the service says 0.8.0
    with pytest.raises(StepFailed, match="iam-service is not running 0.9.0: iam-1 says 0.8.0 at /info"):
        w.upgrade.wait()
    assert "pods iam-service" in w.reporter.attachments  # the diagnostics


def test_a_service_saying_nothing_or_the_target_passes():
    pods = {"iam-service": on("0.9.0", "iam-1", "iam-2", image="registry/iam-service:0.9.0")}
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods=pods, said={"iam-1": "0.9.0"})
    assert w.upgrade.apply().action == "already-upgraded"


# ---------------------------------------------------------------------------------------------
# the dry run's read-only verdict (observe_now): what runs now, as a rollout would end


def test_a_dry_run_observes_a_release_at_target_settled():
    pods = {"iam-service": on("0.9.0", "iam-1", image="registry/iam-service:0.9.0")}
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods=pods, dry_run=True)
    state = w.upgrade.observe_now()
    assert state.done and w.upgrade.observed is state
    assert len(w.kube.asked) >= FAST.settle_observations  # observed more than once: settled


def test_a_dry_run_fails_a_release_whose_service_says_another_version():
    pods = {"iam-service": on("0.9.0", "iam-1", image="registry/iam-service:0.9.0")}
    w = World(IAM, [release("iam-service", "iam-service", "0.9.0")], pods=pods, said={"iam-1": "0.8.0"},
              dry_run=True)
    with pytest.raises(StepFailed, match="iam-service is not running 0.9.0: iam-1 says 0.8.0 at /info"):
        w.upgrade.observe_now()
    assert "pods iam-service" in w.reporter.attachments and w.upgrade.observed is None


def test_a_dry_run_fails_a_release_not_up_before_its_upgrade():
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")], pods={"iam-service": on("0.8.0", "iam-1")},
              health={"iam-1": DOWN}, dry_run=True)
    with pytest.raises(StepFailed, match=r"iam-service at 0.8.0 is not healthy now: .*health UP on 0/1"):
        w.upgrade.observe_now()


def test_a_dry_run_fails_a_release_that_flaps_before_its_upgrade():
    """UP at the first look, DOWN at the next: the installed release is not 'Ready and UP now'."""
    w = World(IAM, [release("iam-service", "iam-service", "0.8.0")], pods={"iam-service": on("0.8.0", "iam-1")},
              health=Flapping(**{"iam-1": [UP, DOWN]}), dry_run=True)
    with pytest.raises(StepFailed, match=r"iam-service at 0.8.0 is not healthy now: .*health UP on 0/1"):
        w.upgrade.observe_now()


def test_a_dry_run_has_nothing_to_observe_before_an_install():
    w = World(NOTIFY, [], dry_run=True)
    assert w.upgrade.observe_now() is None and w.kube.asked == []
