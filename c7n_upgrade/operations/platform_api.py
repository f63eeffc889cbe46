"""Calls to the Choerodon platform API as admin: the devops smooth upgrade, the wiki home pages, the
OAuth client 'choerodon'. A failed call attaches the exchanges and fails the step (`_call`).
`platform_inputs` proves their inputs read-only, in pre-flight, before the first write."""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import yaml

from .. import i18n, mysql, waiters
from ..platform import PlatformClient, PlatformError, PlatformFailed, PlatformSession
from ..report import StepLog
from ..settings import FrontOAuthClient


@contextlib.contextmanager
def _call(session: PlatformSession, log: StepLog, what: str) -> Iterator[PlatformClient]:
    """The logged-in client; whatever happens, the exchanges go to the report; a PlatformError fails the step."""
    try:
        with log.failing_on(PlatformError, what=what):
            yield session.client()
    finally:
        exchanges = session.exchanges()
        if exchanges:
            log.attach("platform API exchanges", exchanges)


def _row_yaml(row: dict) -> str:
    row = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    return yaml.safe_dump(row, sort_keys=False, allow_unicode=True)


def smooth_upgrade(session: PlatformSession, admin: mysql.Mysql, log: StepLog, *, version: str,
                   dry_run: bool, wait_max: float, upgraded_now: bool) -> Optional[dict]:
    """Call devops' smooth-upgrade API as admin, then wait for its new devops_check_log row (the row).

    A row already there is this upgrade's (a resumed run: not called again) unless this run moved
    devops-service to `version` (`upgraded_now`): then it is an earlier version's smooth upgrade."""

    def latest_row():
        with log.failing_on(mysql.MysqlError):
            return admin.latest_devops_check_log()

    with log.step("smooth_upgrade", version=version):
        if dry_run:
            log.note(f"dry run: would GET {session.credentials.gateway_url}/devops/v1/upgrade?version={version}")
            return None
        before = latest_row()
        if before is not None and not upgraded_now:
            log.note(f"the smooth upgrade already ran (devops_check_log row {before.get('id')}, "
                     f"{before.get('begin_check_date')}): not called again. If that row is older than this "
                     f"upgrade, call it by hand: GET {session.credentials.gateway_url}/devops/v1/upgrade?version={version}")
            log.attach("devops_check_log row", _row_yaml(before), "yaml")
            return before
        if before is not None:
            log.note(f"devops_check_log row {before.get('id')} ({before.get('begin_check_date')}) is from before "
                     f"devops-service {version}: calling the smooth upgrade")

        def new_row():
            row = latest_row()
            return row if row is not None and (before is None or row.get("id") != before.get("id")) else None

        with _call(session, log, "smooth upgrade API") as client:
            answer = client.devops_smooth_upgrade(version)
        log.attach("smooth upgrade answer", str(answer))
        wait = min(60.0, wait_max)
        try:
            row = waiters.poll(new_row, timeout=wait, interval=0.5, max_interval=2.0)
        except waiters.WaitTimeout:
            raise log.failed(f"the smooth-upgrade API answered but no new devops_check_log row appeared "
                             f"within {wait:.0f}s") from None
        log.attach("devops_check_log row", _row_yaml(row), "yaml")
        return row


def wiki_home_page(session: PlatformSession, log: StepLog, *, dry_run: bool) -> None:
    """Ask wiki-service to rebuild the wiki home pages."""
    with log.step("wiki_home"):
        if dry_run:
            log.note(f"dry run: would POST {session.credentials.gateway_url}/wiki/v1/wiki/page")
            return
        with _call(session, log, "wiki home page API") as client:
            client.update_wiki_home_page()


def oauth_client_body(spec: FrontOAuthClient) -> dict:
    """The guide's JSON body for the OAuth client 'choerodon'."""
    return {
        "accessTokenValidity": 60, "additionalInformation": "",
        "authorizedGrantTypes": "implicit,client_credentials,authorization_code,refresh_token",
        "autoApprove": "default", "name": "choerodon", "objectVersionNumber": 0,
        "organizationId": spec.organization_id, "refreshTokenValidity": 60, "resourceIds": "default",
        "scope": "default", "secret": spec.secret, "webServerRedirectUri": spec.redirect_uri,
    }


def ensure_oauth_client(session: PlatformSession, spec: FrontOAuthClient, log: StepLog, *,
                        dry_run: bool) -> Optional[dict]:
    """Create the OAuth client 'choerodon' when missing; verify it when present."""
    body = oauth_client_body(spec)
    with log.step("oauth_client", name=body["name"]):
        if dry_run:
            log.note("dry run: would create or verify the OAuth client 'choerodon'")
            return None
        with _call(session, log, "OAuth client") as client:
            found, created = client.ensure_client(spec.organization_id, body)
        log.note(i18n.say(log.lang, "r_oauth_created" if created else "r_oauth_matches"))
        return found


def oauth_client_problems(session: PlatformSession, spec: FrontOAuthClient) -> list[str]:
    """Why the OAuth client 'choerodon' is not as the guide creates it ([] when it is)."""
    client = session.client()
    found = client.query_client(spec.organization_id, "choerodon")
    if not found:
        return ["OAuth client 'choerodon' not found"]
    return client.client_differences(found, oauth_client_body(spec))


#: a read-only call through each route the plan writes through (devops smooth upgrade, wiki home page):
#: the service's API docs, which its 0.8 version serves as well, behind the same gateway route and token
WRITE_ROUTES = {"devops-service (step 11's smooth upgrade)": "/devops/v2/choerodon/api-docs",
                "wiki-service (step 15's home page)": "/wiki/v2/choerodon/api-docs"}


def platform_inputs(client: PlatformClient, front: FrontOAuthClient, client_name: str = "choerodon",
                    notes: list | None = None) -> list[str]:
    """What the platform calls of the plan would trip on, found with read-only calls ([] when nothing):
    the organization the OAuth client goes in must exist (and a client of that name there must belong
    to it), and the gateway must not fail each route the plan writes through: `failed: true`, a server
    error or no answer stops the run here, not after 15 releases. A route that refuses the read-only
    call itself (401/403/404: the gateway may register no permission for the API docs) proves nothing
    either way: it goes to `notes`, with the URL to try by hand."""
    problems = []
    org = front.organization_id
    try:
        found = client.organization(org)
        if found is None:
            problems.append(f"organization {org} (platform.organization_id) does not exist: the OAuth client "
                            f"{client_name!r} would be created in no organization at step 16")
        else:
            existing = client.query_client(org, client_name)
            belongs = None if existing is None else existing.get("organizationId")
            if existing is not None and belongs is not None and str(belongs) != str(org):
                problems.append(f"the OAuth client {client_name!r} found for organization {org} belongs to "
                                f"organization {belongs}")
    except PlatformError as exc:
        problems.append(f"the organization and OAuth client calls (iam-service): {exc}")
    for what, path in WRITE_ROUTES.items():
        try:
            client.read(path)
        except PlatformFailed as exc:
            problems.append(f"{what}: {exc}")
        except PlatformError as exc:
            if exc.status in (401, 403, 404) and notes is not None:
                notes.append(f"{what}: not proven by a read-only call ({exc}); the step's own call is the proof")
            else:
                problems.append(f"{what}: {exc}")
    return problems
