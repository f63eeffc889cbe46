"""The XWiki checkpoint: the evidence of the guide's manual steps 2-3 (properties keys, extension files),
read with testinfra; when it is missing, the guide's instructions for the operator."""
from __future__ import annotations

import re
import threading
from typing import Callable, TypeVar

from ..report import StepLog
from ..settings import XwikiSite

XWIKI_INSTRUCTIONS = {
    "en": """The XWiki upgrade is manual (guide section 知识管理升级 / 升级XWiki). On XWiki's host {host}, data dir {data}:
  1. Download Choerodon-wiki-0.9.0-update.rar (file.choerodon.com.cn/choerodon-install/wiki/).
  2. In {data}/xwiki.properties set  oidc.endpoint.userinfo={gw}/iam/v1/users/self
     and add on the next line           oidc.endpoint.logout={gw}/oauth/logout
  3. Copy the contents of repository-0.9.0-update/ into {data}/extension/repository/.
  4. As admin: Administer > Content > Import, upload Choerodon-wiki-0.9.0-update.xar and import it with
     "add a new version to existing documents".
  5. Open /bin/view/ConfluenceTest, choose More > Delete, tick "Affect children" and confirm.
  6. Restart XWiki.
Then re-run the suite: it resumes at this step.""",
    "zh": """升级XWiki需手动完成（指南“知识管理升级”一节）。在XWiki所在主机 {host} 的数据目录 {data} 下：
  1. 下载升级包 Choerodon-wiki-0.9.0-update.rar。
  2. 编辑 {data}/xwiki.properties：修改 oidc.endpoint.userinfo={gw}/iam/v1/users/self，
     并在下一行添加 oidc.endpoint.logout={gw}/oauth/logout。
  3. 将升级包中 repository-0.9.0-update 目录下的内容复制到 {data}/extension/repository。
  4. 使用admin用户：设置--Content--导入，上传 Choerodon-wiki-0.9.0-update.xar，选择“给已有文档添加一个新的版本”并导入。
  5. 访问 /bin/view/ConfluenceTest，更多 > 删除，勾选 Affect children 并确认删除。
  6. 重启XWiki。
完成后重新运行本套件，将从此步骤继续。""",
}


def _properties(text: str) -> dict[str, str]:
    """A Java properties file's `key=value` (or `key: value`) lines; comments skipped."""
    props = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        m = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)$", line)
        key, value = (m.group(1), m.group(2).strip()) if m else (line, "")
        props[key] = value
    return props


T = TypeVar("T")


def _within(seconds: float, site: XwikiSite, read: Callable[[], T]) -> T:
    """`read()` (testinfra's reads of the XWiki host), given up after `seconds`: testinfra's backends
    bound a connection at most, not a command that hangs (an NFS mount, a stuck ssh session)."""
    box: dict = {}

    def work():
        try:
            box["value"] = read()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=work, name="xwiki-read", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"XWiki's host {site.host} did not answer reading {site.data_dir} "
                           f"within {seconds:.0f}s (timeouts.step)")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _read_evidence(site: XwikiSite, expected_files: list[str]) -> tuple[str | None, list[str], list[str]]:
    """xwiki.properties' text (None when missing), the expected extension files and the missing ones."""
    import testinfra

    host = testinfra.get_host(site.host)
    props_file = host.file(f"{site.data_dir}/xwiki.properties")
    props_text = props_file.content_string if props_file.exists else None
    expected = list(expected_files)
    if site.update_package:
        listing = host.check_output("cd %s && find . -type f", site.update_package)
        expected = [line[2:] for line in listing.splitlines() if line.startswith("./")]
    repo = f"{site.data_dir}/extension/repository"
    return props_text, expected, [name for name in expected if not host.file(f"{repo}/{name}").exists]


def xwiki_checkpoint(site: XwikiSite, expected_files: list[str], log: StepLog) -> None:
    """Verify the evidence of the manual XWiki steps 2–3; on failure, print the guide's instructions.

    `expected_files` are the update's extension files (the plan's list); when the site names the
    unpacked update package, its own listing is expected instead."""
    gw = site.gateway_url.rstrip("/")
    problems = []
    with log.step("xwiki"):
        try:
            props_text, expected, missing = _within(site.timeout, site, lambda: _read_evidence(site, expected_files))
        except TimeoutError as exc:
            raise log.failed(str(exc)) from None
        if props_text is None:
            problems.append(f"{site.data_dir}/xwiki.properties does not exist on {site.host}")
        else:
            props = _properties(props_text)
            log.attach("xwiki.properties (oidc keys)",
                       "\n".join(f"{k}={v}" for k, v in sorted(props.items()) if k.startswith("oidc.")))
            want = {"oidc.endpoint.userinfo": f"{gw}/iam/v1/users/self", "oidc.endpoint.logout": f"{gw}/oauth/logout"}
            for key, value in want.items():
                if props.get(key) != value:
                    problems.append(f"{key} is {props.get(key)!r}, expected {value!r}")
        if missing:
            problems.append(f"extension files of the 0.9.0 update missing in "
                            f"{site.data_dir}/extension/repository: {', '.join(missing)}")
        if problems:
            guide = XWIKI_INSTRUCTIONS.get(log.lang, XWIKI_INSTRUCTIONS["en"]).format(
                gw=gw, data=site.data_dir.rstrip("/"), host=site.host)
            log.attach("what to do (the guide's XWiki steps)", guide)
            log.progress(guide)
            raise log.failed("XWiki manual steps not done: " + "; ".join(problems))


def xwiki_site_problems(site: XwikiSite) -> list[str]:
    """What keeps the suite from reading XWiki's data dir later (step 15): the host does not answer,
    or the data dir, xwiki.properties or extension/repository is not there."""
    try:
        return _within(site.timeout, site, lambda: _site_problems(site))
    except Exception as exc:  # testinfra raises whatever its backend does (ssh, sudo, ...)
        return [f"cannot read XWiki's data dir on {site.host} (xwiki.host): {type(exc).__name__}: {exc}"]


def _site_problems(site: XwikiSite) -> list[str]:
    import testinfra

    host = testinfra.get_host(site.host)
    data = host.file(site.data_dir)
    if not data.is_directory:
        return [f"{site.data_dir} is not a directory on {site.host} (xwiki.data_dir)"]
    problems = []
    if not host.file(f"{site.data_dir}/xwiki.properties").is_file:
        problems.append(f"{site.data_dir}/xwiki.properties does not exist on {site.host}")
    if not host.file(f"{site.data_dir}/extension/repository").is_directory:
        problems.append(f"{site.data_dir}/extension/repository is not a directory on {site.host}")
    return problems
