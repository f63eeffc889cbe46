"""Calls to the Choerodon platform API as admin: the devops smooth upgrade, the wiki home pages, the
OAuth client 'choerodon'. A failed call attaches the exchanges and fails the step (`_call`)."""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import yaml

from .. import i18n, mysql, waiters
from ..platform import PlatformClient, PlatformError, PlatformSession
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
