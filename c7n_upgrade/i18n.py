"""Step titles and progress words in English and in the guide's own Chinese wording."""
from __future__ import annotations

TITLES = {
    "en": {
        "upgrade": "Upgrade {release} {old} → {new}",
        "install": "Install {release} {new}",
        "already": "{release} already at {new}: nothing to do",
        "wait": "Wait for {release}: every pod Ready, on {new}, health UP",
        "eureka": "Eureka lists {app} at VERSION {new}",
        "database": "Create database {database} and grant {user}",
        "crd": "Create or verify the CRD {name}",
        "gitlab_ssh": "GitLab accepts SSH on {host}:{port}",
        "smooth_upgrade": "Call the devops smooth-upgrade API (version={version})",
        "xwiki": "XWiki manual steps are done",
        "wiki_home": "Update the wiki home pages",
        "front": "Front page serves the Choerodon HTML",
        "oauth_client": "Create or verify the OAuth client {name}",
        "hook_jobs": "Remove finished hook Jobs left by earlier installs",
        "repo": "Add and update the chart repo {name}",
        "backup": "Back up the databases {databases} and prove each dump restores",
    },
    "zh": {
        "upgrade": "升级 {release} {old} → {new}",
        "install": "部署 {release} {new}",
        "already": "{release} 已是 {new}，无需升级",
        "wait": "验证升级 {release}：全部 pod 就绪、版本 {new}、健康 UP",
        "eureka": "注册中心中 {app} 的 VERSION 为 {new}",
        "database": "创建数据库 {database} 并授权 {user}",
        "crd": "创建或验证 CRD {name}",
        "gitlab_ssh": "确认Gitlab开启SSH协议 {host}:{port}",
        "smooth_upgrade": "调用 devops-service 平滑升级接口 (version={version})",
        "xwiki": "升级XWiki（手动步骤）已完成",
        "wiki_home": "更新wiki系统主页",
        "front": "前端返回 Choerodon 页面",
        "oauth_client": "创建或验证 client {name}",
        "hook_jobs": "删除旧安装留下的已完成 Job",
        "repo": "添加Choerodon Chart仓库 {name}",
        "backup": "备份数据库 {databases} 并验证每个备份可恢复",
    },
}

PROGRESS = {
    "en": "[{n:02d}/{total:02d}] {release}: {ready}/{pods} pods ready, on {version} {on_version}/{pods}, health UP {up}/{pods} ({elapsed:.0f}s/{timeout:.0f}s)",
    "zh": "[{n:02d}/{total:02d}] {release}：就绪 {ready}/{pods}，版本 {version} {on_version}/{pods}，健康 UP {up}/{pods}（{elapsed:.0f}s/{timeout:.0f}s）",
}


def title(lang: str, key: str, **fields) -> str:
    table = TITLES.get(lang, TITLES["en"])
    return table[key].format(**fields)


def progress(lang: str, **fields) -> str:
    return PROGRESS.get(lang, PROGRESS["en"]).format(**fields)
