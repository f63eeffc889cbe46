"""The steps' operations against fakes: a failed platform call attaches its exchanges and fails the
step; the CRD and a database are created only when missing, verified when present, left alone in a
dry run."""
from __future__ import annotations

import pytest

from c7n_upgrade import operations
from c7n_upgrade.kube import KubeClient
from c7n_upgrade.plan import load_plan
from c7n_upgrade.platform import PlatformError
from c7n_upgrade.redact import Redactor
from c7n_upgrade.report import StepFailed, StepLog
from c7n_upgrade.settings import FrontOAuthClient, PlatformCredentials
from tests.unit.fakes import RecordingReporter

CRD = load_plan("0.8-to-0.9").crd
OAUTH = FrontOAuthClient(organization_id=1, redirect_uri="http://front.example", secret="front-secret-9")


def log_and_reporter():
    reporter = RecordingReporter()
    return StepLog(reporter, Redactor(["front-secret-9", "app-pw-7"])), reporter


class FakePlatformClient:
    def __init__(self, fail: str = ""):
        self.fail = fail
        self.calls = []

    def _answer(self, what, value):
        self.calls.append(what)
        if self.fail:
            raise PlatformError(self.fail)
        return value

    def devops_smooth_upgrade(self, version):
        return self._answer(f"smooth {version}", "2019-01-01 00:00:00")

    def update_wiki_home_page(self):
        return self._answer("wiki", 201)

    def ensure_client(self, org, body):
        return self._answer(f"client {org} {body['name']}", (body, True))


class FakeSession:
    credentials = PlatformCredentials("http://gw.example", "admin", "adm-pw")

    def __init__(self, client: FakePlatformClient):
        self._client = client
        self.logins = 0

    def client(self):
        self.logins += 1
        return self._client

    def exchanges(self) -> str:
        return "\n".join(f"GET {c} -> 200" for c in self._client.calls)


@pytest.mark.parametrize("call, what", [
    (lambda s, log: operations.wiki_home_page(s, log, dry_run=False), "wiki home page API"),
    (lambda s, log: operations.ensure_oauth_client(s, OAUTH, log, dry_run=False), "OAuth client"),
])
def test_a_failed_platform_call_attaches_the_exchanges_and_fails_the_step(call, what):
    log, reporter = log_and_reporter()
    session = FakeSession(FakePlatformClient(fail="HTTP 500 (expected 201): boom"))
    with pytest.raises(StepFailed, match=f"^{what}: HTTP 500"):
        call(session, log)
    assert reporter.attachments["platform API exchanges"].startswith("GET ")


def test_a_successful_platform_call_attaches_the_exchanges_too():
    log, reporter = log_and_reporter()
    session = FakeSession(FakePlatformClient())
    client = operations.ensure_oauth_client(session, OAUTH, log, dry_run=False)
    assert client["webServerRedirectUri"] == "http://front.example" and client["secret"] == "front-secret-9"
    assert "OAuth client 'choerodon' created" in reporter.lines
    assert "client 1 choerodon" in reporter.attachments["platform API exchanges"]
    assert "front-secret-9" not in reporter.text()


def test_platform_calls_in_a_dry_run_call_nothing():
    log, reporter = log_and_reporter()
    session = FakeSession(FakePlatformClient())
    assert operations.ensure_oauth_client(session, OAUTH, log, dry_run=True) is None
    operations.wiki_home_page(session, log, dry_run=True)
    assert session.logins == 0 and "dry run: would POST http://gw.example/wiki/v1/wiki/page" in reporter.lines


class FakeAdmin:
    """The MySQL admin's answers: which databases exist, which have the app user's grant, check-log rows."""

    def __init__(self, databases=(), granted=(), rows=()):
        self.databases, self.granted, self.rows = set(databases), set(granted), list(rows)

    def database_exists(self, db):
        return db in self.databases

    def has_all_privileges_on(self, user, db):
        return db in self.granted

    def latest_devops_check_log(self):
        return self.rows[-1] if self.rows else None


def test_the_smooth_upgrade_is_not_called_again_once_its_row_exists():
    log, reporter = log_and_reporter()
    session = FakeSession(FakePlatformClient())
    row = {"id": 7, "begin_check_date": "2019-01-01", "log": "[]"}
    assert operations.smooth_upgrade(session, FakeAdmin(rows=[row]), log, version="0.9", dry_run=False,
                                     wait_max=5, upgraded_now=False) == row
    assert session.logins == 0 and "devops_check_log row" in reporter.attachments


def test_a_row_older_than_this_runs_devops_upgrade_does_not_stand_for_its_smooth_upgrade():
    """A row from an earlier version's smooth upgrade is there before this run moves devops-service to
    0.9: the API is called, and only a new row counts."""
    log, reporter = log_and_reporter()
    admin = FakeAdmin(rows=[{"id": 7, "begin_check_date": "2019-01-01", "log": "[]"}])
    client = FakePlatformClient()
    client.devops_smooth_upgrade = lambda version: admin.rows.append(
        {"id": 8, "begin_check_date": "2019-04-01", "log": "[]"}) or "ok"
    row = operations.smooth_upgrade(FakeSession(client), admin, log, version="0.9", dry_run=False, wait_max=5,
                                    upgraded_now=True)
    assert row["id"] == 8
    assert any("row 7 (2019-01-01) is from before devops-service 0.9" in line for line in reporter.lines)


def test_the_smooth_upgrade_fails_when_the_api_answers_but_writes_no_new_row():
    log, _ = log_and_reporter()
    admin = FakeAdmin(rows=[{"id": 7, "begin_check_date": "2019-01-01", "log": "[]"}])
    with pytest.raises(StepFailed, match="no new devops_check_log row appeared within 1s"):
        operations.smooth_upgrade(FakeSession(FakePlatformClient()), admin, log, version="0.9", dry_run=False,
                                  wait_max=1, upgraded_now=True)


class FakeApp:
    """The services' account: its login answer is given, the databases it was asked to USE are kept."""

    def __init__(self, login=True):
        self.user, self.password, self.login, self.used = "choerodon", "app-pw-7", login, []

    def can_use(self, database=None):
        self.used.append(database)
        return self.login


APP = FakeApp()


def test_a_database_that_exists_with_its_grant_is_not_created_again(monkeypatch):
    log, reporter = log_and_reporter()
    monkeypatch.setattr(operations.database.mysql, "ensure_app_database",
                        lambda *a, **k: pytest.fail("created although it exists"))
    assert operations.ensure_database(FakeAdmin({"notify_service"}, {"notify_service"}), APP, "notify_service",
                                      log, dry_run=False) == []
    assert "database notify_service exists and choerodon has all privileges: nothing to create" in reporter.lines


def test_a_missing_database_in_a_dry_run_shows_the_sql_and_runs_none(monkeypatch):
    log, reporter = log_and_reporter()
    monkeypatch.setattr(operations.database.mysql, "ensure_app_database",
                        lambda *a, **k: pytest.fail("SQL run in a dry run"))
    sql = operations.ensure_database(FakeAdmin(), APP, "notify_service", log, dry_run=True)
    assert sql[1] == "CREATE DATABASE IF NOT EXISTS `notify_service` DEFAULT CHARACTER SET utf8"
    assert "app-pw-7" not in reporter.text()


@pytest.mark.parametrize("admin, login, why", [
    (FakeAdmin(), True, "database notify_service does not exist"),
    (FakeAdmin({"notify_service"}), True, "lacks ALL PRIVILEGES on notify_service"),
    (FakeAdmin({"notify_service"}, {"notify_service"}), "Access denied", "cannot log in to notify_service"),
])
def test_verify_database_names_what_is_wrong(admin, login, why):
    log, _reporter = log_and_reporter()
    app = FakeApp(login)
    with pytest.raises(StepFailed, match=why):
        operations.verify_database(admin, app, "notify_service", log)
    assert app.used == ([] if login is True else ["notify_service"])  # the login is the last check


ESTABLISHED = {"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]}
INSTALLING = {"conditions": [{"type": "NamesAccepted", "status": "True"},
                             {"type": "Established", "status": "False", "reason": "Installing",
                              "message": "the initial names have been accepted"}]}


class FakeCrds:
    """get_crd/create_crd over a dict; crd_matches is the real comparison. The CRD reads as
    `statuses` says, one per read (the last one stays): a real API server establishes it a moment later."""

    crd_matches = staticmethod(KubeClient.crd_matches)

    def __init__(self, crd=None, statuses=(ESTABLISHED,)):
        self.crd, self.created, self.statuses, self.reads = crd, [], list(statuses), 0

    def get_crd(self, name):
        if self.crd is not None:
            self.crd["status"] = self.statuses[min(self.reads, len(self.statuses) - 1)]
            self.reads += 1
        return self.crd

    def create_crd(self, body):
        self.created.append(body["name"])
        self.crd = KubeClient.crd_body(body, "v1beta1")
        return self.crd


def test_the_crd_is_created_when_missing_and_verified_when_present():
    log, reporter = log_and_reporter()
    kube = FakeCrds()
    operations.ensure_crd(kube, CRD, log, dry_run=False)
    assert kube.created == [CRD.name]
    operations.ensure_crd(kube, CRD, log, dry_run=False)
    assert kube.created == [CRD.name] and f"CRD {CRD.name} exists: verifying" in reporter.lines


def test_a_created_crd_is_verified_once_the_api_server_established_it():
    log, _ = log_and_reporter()
    kube = FakeCrds(statuses=(INSTALLING, INSTALLING, ESTABLISHED))
    assert operations.ensure_crd(kube, CRD, log, dry_run=False)["status"] == ESTABLISHED and kube.reads == 3


def test_a_crd_whose_names_are_refused_fails_at_once_and_one_never_established_fails_at_the_bound(monkeypatch):
    log, _ = log_and_reporter()
    refused = {"conditions": [{"type": "NamesAccepted", "status": "False", "reason": "NameConflict",
                               "message": "c7nhelmreleases is already in use"}]}
    with pytest.raises(StepFailed, match="condition NamesAccepted=False: NameConflict c7nhelmreleases is already"):
        operations.ensure_crd(FakeCrds(statuses=(refused,)), CRD, log, dry_run=False)
    monkeypatch.setattr("c7n_upgrade.operations.crd.ESTABLISH_TIMEOUT_S", 0.5)
    with pytest.raises(StepFailed, match="condition Established=False: Installing the initial names"):
        operations.ensure_crd(FakeCrds(statuses=(INSTALLING,)), CRD, log, dry_run=False)
    with pytest.raises(StepFailed, match=r"it is not Established after 0s \(no condition says why\)"):
        operations.ensure_crd(FakeCrds(statuses=({},)), CRD, log, dry_run=False)


def test_a_crd_that_differs_from_the_guide_fails_and_a_dry_run_creates_none():
    log, reporter = log_and_reporter()
    wrong = KubeClient.crd_body(CRD.model_copy(update={"scope": "Cluster"}), "v1beta1")
    with pytest.raises(StepFailed, match="spec.scope is 'Cluster', expected 'Namespaced'"):
        operations.ensure_crd(FakeCrds(wrong), CRD, log, dry_run=False)
    kube = FakeCrds()
    assert operations.ensure_crd(kube, CRD, log, dry_run=True) == {} and kube.created == []
    assert "CRD (dry run, not created)" in reporter.attachments


def _pod(name, image, created, deleting=False, phase="Running", labels=None):
    from c7n_upgrade.kube.pods import PodInfo
    return PodInfo(name=name, ip=None, phase=phase, ready=True, version="0.8.0", service=None,
                   release="iam-service", deleting=deleting, created=created, images=[image], labels=labels or {})


@pytest.mark.parametrize("pods", [
    # mid-rollout (pods come oldest first): the new template's pod, not the outgoing one
    [("old", "registry.cn-hangzhou.aliyuncs.com/choerodon/iam-service:0.8.0", "2026-12-05T20:38:24Z", False),
     ("new", "mirror.local:5000/choerodon/iam-service:0.8.0", "2026-12-05T20:38:35Z", False)],
    # a terminating pod, even the newer one, is not what runs
    [("kept", "mirror.local:5000/choerodon/iam-service:0.8.0", "2026-12-05T20:38:24Z", False),
     ("going", "registry.cn-hangzhou.aliyuncs.com/choerodon/iam-service:0.8.0", "2026-12-05T20:38:35Z", True)],
    # a newer hook Job's pod, still running (the dbtool's image), and a newer pod that ended are not the service's
    [("svc", "mirror.local:5000/choerodon/iam-service:0.8.0", "2026-12-05T20:38:24Z", False),
     ("init-db", "registry.cn-hangzhou.aliyuncs.com/choerodon/dbtool:0.6.4", "2026-12-05T20:38:35Z", False,
      "Running", {"job-name": "iam-service-init-db"}),
     ("evicted", "registry.cn-hangzhou.aliyuncs.com/choerodon/iam-service:0.8.0", "2026-12-05T20:38:36Z", False,
      "Failed")],
])
def test_the_target_image_is_the_repository_of_the_newest_running_pod(pods):
    from types import SimpleNamespace

    step = SimpleNamespace(release="iam-service", version="0.9.0")
    view = SimpleNamespace(exists=True, name="iam-service")
    running = {"iam-service": [_pod(*p) for p in pods]}
    images, unchecked = operations.target_images([step], {"iam-service": view}, running)
    assert [str(i) for i in images] == ["mirror.local:5000/choerodon/iam-service:0.9.0"] and unchecked == []
