"""The steps' special work: databases, the CRD, GitLab SSH, platform API calls, XWiki, the front page.

Each function creates only what is missing and verifies what is present, records what it did on
the reporter, and raises StepFailed with a clear reason. Nothing here reads pytest config.
"""
from __future__ import annotations

import re

from . import i18n, probes, waiters
from .installation import Installation, StepFailed, tcp_reachable
from .plan import Step

XWIKI_INSTRUCTIONS = {
    "en": """The XWiki upgrade is manual (guide section 知识管理升级 / 升级XWiki). On the XWiki data volume:
  1. Download Choerodon-wiki-0.9.0-update.rar (file.choerodon.com.cn/choerodon-install/wiki/).
  2. In /data/data/xwiki.properties set  oidc.endpoint.userinfo={gw}/iam/v1/users/self
     and add on the next line           oidc.endpoint.logout={gw}/oauth/logout
  3. Copy the contents of repository-0.9.0-update/ into /data/data/extension/repository/.
  4. As admin: Administer > Content > Import, upload Choerodon-wiki-0.9.0-update.xar and import it with
     "add a new version to existing documents".
  5. Open /bin/view/ConfluenceTest, choose More > Delete, tick "Affect children" and confirm.
  6. Restart XWiki.
Then re-run the suite: it resumes at this step.""",
    "zh": """升级XWiki需手动完成（指南“知识管理升级”一节）。在XWiki的卷目录下：
  1. 下载升级包 Choerodon-wiki-0.9.0-update.rar。
  2. 编辑 /data/data/xwiki.properties：修改 oidc.endpoint.userinfo={gw}/iam/v1/users/self，
     并在下一行添加 oidc.endpoint.logout={gw}/oauth/logout。
  3. 将升级包中 repository-0.9.0-update 目录下的内容复制到 /data/data/extension/repository。
  4. 使用admin用户：设置--Content--导入，上传 Choerodon-wiki-0.9.0-update.xar，选择“给已有文档添加一个新的版本”并导入。
  5. 访问 /bin/view/ConfluenceTest，更多 > 删除，勾选 Affect children 并确认删除。
  6. 重启XWiki。
完成后重新运行本套件，将从此步骤继续。""",
}


def _t(inst: Installation, key: str, **kw) -> str:
    return i18n.title(inst.lang, key, **kw)


# ---- MySQL ----------------------------------------------------------------------------------
def ensure_database(inst: Installation, step: Step, *, dry_run: bool) -> list[str]:
    """The guide's CREATE USER / DATABASE / GRANT, only for what is missing; then verified."""
    from . import mysql

    m = inst.env.mysql
    admin = inst.mysql_admin
    db = step.database
    with inst.reporter.step(_t(inst, "database", database=db, user=m.user)):
        try:
            exists = admin.database_exists(db)
            granted = exists and admin.has_all_privileges_on(m.user, db)
        except mysql.MysqlError as exc:
            raise StepFailed(inst.redactor.redact(str(exc))) from None
        if exists and granted:
            inst.reporter.note(f"database {db} exists and {m.user} has all privileges: nothing to create")
            sql = []
        elif dry_run:
            sql = [f"CREATE USER IF NOT EXISTS '{m.user}'@'%' IDENTIFIED BY '******'",
                   f"CREATE DATABASE IF NOT EXISTS `{db}` DEFAULT CHARACTER SET utf8",
                   f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{m.user}'@'%'", "FLUSH PRIVILEGES"]
            inst.reporter.attach(f"SQL (dry run, not executed) {db}", "\n".join(s + ";" for s in sql), "sql")
            return sql
        else:
            try:
                sql = mysql.ensure_app_database(admin, db, m.user, m.password.get_secret_value())
            except mysql.MysqlError as exc:
                raise StepFailed(inst.redactor.redact(str(exc))) from None
            inst.reporter.attach(f"SQL {db}", inst.redactor.redact("\n".join(s + ";" for s in sql)), "sql")
        verify_database(inst, db)
        return sql


def verify_database(inst: Installation, db: str) -> None:
    from . import mysql

    m = inst.env.mysql
    admin = inst.mysql_admin
    try:
        if not admin.database_exists(db):
            raise StepFailed(f"database {db} does not exist")
        if not admin.has_all_privileges_on(m.user, db):
            raise StepFailed(f"user {m.user}@'%' lacks ALL PRIVILEGES on {db}")
        login = mysql.user_can_login(m.host, m.port, m.user, m.password.get_secret_value(), db)
    except mysql.MysqlError as exc:
        raise StepFailed(inst.redactor.redact(str(exc))) from None
    if login is not True:
        raise StepFailed(inst.redactor.redact(f"user {m.user} cannot log in to {db}: {login}"))


# ---- the CRD --------------------------------------------------------------------------------
def ensure_crd(inst: Installation, *, dry_run: bool) -> dict:
    spec = inst.plan.crd
    if spec is None:
        raise StepFailed("the plan has no CRD")
    body = spec.model_dump()
    with inst.reporter.step(_t(inst, "crd", name=spec.name)):
        crd = inst.kube.get_crd(spec.name)
        if crd is None:
            if dry_run:
                inst.reporter.attach("CRD (dry run, not created)", _yaml(body), "yaml")
                return {}
            crd = inst.kube.create_crd(body)
            inst.reporter.note(f"created CRD {spec.name}")
        else:
            inst.reporter.note(f"CRD {spec.name} exists: verifying")
        inst.reporter.attach(f"CRD {spec.name}", _yaml(crd), "yaml")
        problems = inst.kube.crd_matches(crd, body)
        if problems:
            raise StepFailed(f"CRD {spec.name} differs from the guide: {'; '.join(problems)}")
        return crd


def _yaml(data) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# ---- GitLab SSH -----------------------------------------------------------------------------
def check_gitlab_ssh(inst: Installation) -> str:
    g = inst.env.gitlab
    with inst.reporter.step(_t(inst, "gitlab_ssh", host=g.ssh_host, port=g.ssh_port)):
        import testinfra

        # testinfra's check (nc, or bash /dev/tcp) is the operator's own; then read the banner
        reachable = testinfra.get_host("local://").addr(g.ssh_host).port(g.ssh_port).is_reachable
        ok, banner = tcp_reachable(g.ssh_host, g.ssh_port, timeout=float(inst.env.timeouts.http))
        if not (reachable and ok):
            raise StepFailed(f"GitLab SSH is not reachable at {g.ssh_host}:{g.ssh_port} ({banner or 'refused'}); "
                             "the guide requires SSH to be enabled on GitLab before devops-service 0.9 "
                             "(设置Gitlab启用SSH协议)")
        inst.reporter.attach("GitLab SSH banner", banner or "(no banner)")
        if banner and not banner.startswith("SSH-"):
            raise StepFailed(f"{g.ssh_host}:{g.ssh_port} answers but is not SSH (banner {banner[:40]!r})")
        return banner


# ---- platform API ---------------------------------------------------------------------------
def smooth_upgrade(inst: Installation, *, version: str = "0.9", dry_run: bool) -> dict | None:
    """Call devops' smooth-upgrade API as admin, then wait for its devops_check_log row."""
    from .platform import PlatformError

    with inst.reporter.step(_t(inst, "smooth_upgrade", version=version)):
        if dry_run:
            inst.reporter.note(f"dry run: would GET {inst.env.gateway_url}/devops/v1/upgrade?version={version}")
            return None
        before = _latest_check_log(inst)
        if before is not None:
            # devops_check_log is written only by the smooth upgrade: it has run (a resumed run)
            inst.reporter.note(f"the smooth upgrade already ran (devops_check_log row {before.get('id')}, "
                               f"{before.get('begin_check_date')}): not called again")
            inst.reporter.attach("devops_check_log row", inst.redactor.redact(_yaml(_jsonable(before))), "yaml")
            return before
        try:
            answer = inst.platform().devops_smooth_upgrade(version)
        except PlatformError as exc:
            inst.attach_platform_exchanges("platform API exchanges")
            raise StepFailed(inst.redactor.redact(f"smooth upgrade API: {exc}")) from None
        inst.attach_platform_exchanges("platform API exchanges")
        inst.reporter.attach("smooth upgrade answer", str(answer))
        wait = min(60.0, float(inst.env.timeouts.step))
        try:
            row = waiters.poll(lambda: _latest_check_log(inst), timeout=wait, interval=0.5, max_interval=2.0)
        except waiters.WaitTimeout:
            raise StepFailed(f"the smooth-upgrade API answered but no devops_check_log row appeared "
                             f"within {wait:.0f}s") from None
        inst.reporter.attach("devops_check_log row", inst.redactor.redact(_yaml(_jsonable(row))), "yaml")
        return row


def _latest_check_log(inst: Installation):
    from . import mysql

    try:
        return inst.mysql_admin.latest_devops_check_log()
    except mysql.MysqlError as exc:
        raise StepFailed(inst.redactor.redact(str(exc))) from None


def _jsonable(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def wiki_home_page(inst: Installation, *, dry_run: bool) -> None:
    from .platform import PlatformError

    with inst.reporter.step(_t(inst, "wiki_home")):
        if dry_run:
            inst.reporter.note(f"dry run: would POST {inst.env.gateway_url}/wiki/v1/wiki/page")
            return
        try:
            inst.platform().update_wiki_home_page()
        except PlatformError as exc:
            inst.attach_platform_exchanges("platform API exchanges")
            raise StepFailed(inst.redactor.redact(f"wiki home page API: {exc}")) from None
        inst.attach_platform_exchanges("platform API exchanges")


def oauth_client_body(inst: Installation) -> dict:
    p = inst.env.platform
    return {
        "accessTokenValidity": 60, "additionalInformation": "",
        "authorizedGrantTypes": "implicit,client_credentials,authorization_code,refresh_token",
        "autoApprove": "default", "name": "choerodon", "objectVersionNumber": 0,
        "organizationId": p.organization_id, "refreshTokenValidity": 60, "resourceIds": "default",
        "scope": "default", "secret": p.front_client_secret.get_secret_value(),
        "webServerRedirectUri": inst.env.front_url,
    }


def ensure_oauth_client(inst: Installation, *, dry_run: bool) -> dict | None:
    from .platform import PlatformError

    body = oauth_client_body(inst)
    with inst.reporter.step(_t(inst, "oauth_client", name=body["name"])):
        if dry_run:
            inst.reporter.note("dry run: would create or verify the OAuth client 'choerodon'")
            return None
        try:
            client, created = inst.platform().ensure_client(inst.env.platform.organization_id, body)
        except PlatformError as exc:
            inst.attach_platform_exchanges("platform API exchanges")
            raise StepFailed(inst.redactor.redact(f"OAuth client: {exc}")) from None
        inst.attach_platform_exchanges("platform API exchanges")
        inst.reporter.note(f"OAuth client 'choerodon' {'created' if created else 'exists and matches'}")
        return client


# ---- front page -----------------------------------------------------------------------------
def check_front_page(inst: Installation, step: Step) -> None:
    with inst.reporter.step(_t(inst, "front")):
        service = inst.release_name(step)
        status, html = inst.service_get(service, step.service_port, "/")
        inst.reporter.attach("front page HTML", html[:20000], "html")
        problems = probes.check_front_html(status, html)
        if problems:
            raise StepFailed("front page: " + "; ".join(problems))


# ---- XWiki ----------------------------------------------------------------------------------
def _properties(text: str) -> dict[str, str]:
    props = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, _sep, value = _split_prop(line)
        props[key] = value
    return props


def _split_prop(line: str) -> tuple[str, str, str]:
    m = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)$", line)
    return (m.group(1), "=", m.group(2).strip()) if m else (line, "", "")


def xwiki_checkpoint(inst: Installation) -> None:
    """Verify the evidence of the manual XWiki steps 2–3; on failure, print the guide's instructions."""
    import testinfra

    x = inst.env.xwiki
    gw = inst.env.gateway_url.rstrip("/")
    problems = []
    with inst.reporter.step(_t(inst, "xwiki")):
        host = testinfra.get_host(x.host)
        props_file = host.file(f"{x.data_dir}/xwiki.properties")
        if not props_file.exists:
            problems.append(f"{x.data_dir}/xwiki.properties does not exist on {x.host}")
        else:
            props = _properties(props_file.content_string)
            inst.reporter.attach("xwiki.properties (oidc keys)",
                                 "\n".join(f"{k}={v}" for k, v in sorted(props.items()) if k.startswith("oidc.")))
            want = {"oidc.endpoint.userinfo": f"{gw}/iam/v1/users/self", "oidc.endpoint.logout": f"{gw}/oauth/logout"}
            for key, value in want.items():
                if props.get(key) != value:
                    problems.append(f"{key} is {props.get(key)!r}, expected {value!r}")
        repo = f"{x.data_dir}/extension/repository"
        expected = inst.plan.xwiki_update_extensions
        if x.update_package:
            listing = host.check_output("cd %s && find . -type f", x.update_package)
            expected = [line[2:] for line in listing.splitlines() if line.startswith("./")]
        missing = [name for name in expected if not host.file(f"{repo}/{name}").exists]
        if missing:
            problems.append(f"extension files of the 0.9.0 update missing in {repo}: {', '.join(missing)}")
        if problems:
            guide = XWIKI_INSTRUCTIONS.get(inst.lang, XWIKI_INSTRUCTIONS["en"]).format(gw=gw)
            inst.reporter.attach("what to do (the guide's XWiki steps)", guide)
            inst.reporter.progress(guide)
            raise StepFailed("XWiki manual steps not done: " + "; ".join(problems))
