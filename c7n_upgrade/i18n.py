"""Step titles, progress, the end-of-run summary and the up-front errors, in English and in the guide's
own Chinese wording (`--lang`)."""
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
        "observe": "Observe {release} as it runs now ({version}): every pod Ready, health UP",
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
        "observe": "观察 {release} 当前状态（{version}）：全部 pod 就绪、健康 UP",
        "backup": "备份数据库 {databases} 并验证每个备份可恢复",
    },
}

PROGRESS = {
    "en": "[{n:02d}/{total:02d}] {release}: {ready}/{pods} pods ready, on {version} {on_version}/{pods}, health UP {up}/{pods} ({elapsed:.0f}s/{timeout:.0f}s)",
    "zh": "[{n:02d}/{total:02d}] {release}：就绪 {ready}/{pods}，版本 {version} {on_version}/{pods}，健康 UP {up}/{pods}（{elapsed:.0f}s/{timeout:.0f}s）",
}


#: titles of the suite's tests in Chinese, by test function (English titles are their docstrings)
TEST_TITLES_ZH = {
    "test_helm_answers": "helm 可用，且其版本与套件使用的方言一致",
    "test_cluster_reachable": "Kubernetes API 可访问，记录其版本",
    "test_namespace_exists": "Choerodon 命名空间存在",
    "test_release_state": "release 为 0.8.x（或已是目标版本）；新服务尚未部署或已是目标版本",
    "test_service_healthy": "0.8 服务的全部 pod 就绪、版本一致、健康 UP",
    "test_eureka_answers": "注册中心 /eureka/apps 返回应用",
    "test_mysql_admin_login": "MySQL 可访问，管理员可登录",
    "test_chart_repo_has_targets": "添加Choerodon Chart仓库并更新；每个目标 chart 版本都在仓库中",
    "test_gitlab_ssh": "确认Gitlab开启SSH协议",
    "test_values_backed_up": "备份每个 release 当前的 values（密码已屏蔽）",
    "test_target_images_are_in_their_registries": "镜像仓库中有升级所需的每个目标版本镜像（本机可访问时）",
    "test_database": "创建数据库、用户并授权（只创建缺少的），然后验证",
    "test_crd": "创建或验证 CRD c7nhelmreleases.choerodon.io",
    "test_smooth_upgrade": "调用 devops-service 平滑升级接口（version=0.9），devops_check_log 出现记录",
    "test_xwiki_manual_steps": "升级XWiki手动步骤 2–3 已完成：配置指向网关，升级扩展已复制",
    "test_wiki_home_page": "更新wiki系统主页",
    "test_front_page": "前端返回 Choerodon 页面",
    "test_oauth_client": "创建或验证 client choerodon",
    "test_release_at_target": "release 为目标 chart 版本；全部 pod 就绪、版本一致、健康 UP",
    "test_eureka_versions": "注册中心中每个应用的 VERSION 为目标版本，无旧版本实例",
    "test_database_and_grant": "服务用户可登录数据库并拥有全部权限（无需管理员）",
    "test_crd_matches_guide": "CRD c7nhelmreleases.choerodon.io 与指南一致",
    "test_oauth_client_exists": "client choerodon 存在，授权类型与回调地址与指南一致",
    "test_smooth_upgrade_logged": "devops_check_log 记录了平滑升级",
}

PHASES = {
    "en": {"pre_upgrade": "1 pre-upgrade", "upgrade": "2 upgrade", "post_upgrade": "3 post-upgrade"},
    "zh": {"pre_upgrade": "1 升级前检查", "upgrade": "2 升级", "post_upgrade": "3 升级后验证"},
}

#: short words in lines the library writes (progress, failure reasons)
WORDS = {
    "en": {"not_up": "not UP", "not_ready": "not ready", "answered": "answered", "absent": "not installed"},
    "zh": {"not_up": "未 UP", "not_ready": "未就绪", "answered": "返回", "absent": "未安装"},
}


def test_title(lang: str, test_name: str, doc: str) -> str:
    """A test's title: its docstring's first line, or its Chinese title."""
    if lang == "zh" and test_name in TEST_TITLES_ZH:
        return TEST_TITLES_ZH[test_name]
    return doc


def phase(lang: str, name: str) -> str:
    """The report's name of a phase, numbered so that the phases sort as they run."""
    return PHASES.get(lang, PHASES["en"])[name]


def word(lang: str, key: str) -> str:
    return WORDS.get(lang, WORDS["en"])[key]


def title(lang: str, key: str, **fields) -> str:
    table = TITLES.get(lang, TITLES["en"])
    return table[key].format(**fields)


def progress(lang: str, **fields) -> str:
    return PROGRESS.get(lang, PROGRESS["en"]).format(**fields)


#: the end-of-run summary and the up-front errors
SUMMARY = {
    "en": {
        "header": "{title}: upgrade summary ({env}, namespace {namespace})",
        "outcome": "Outcome: {headline}",
        "counts": "{phase}: {counts}",
        "passed": "passed", "failed": "failed", "skipped": "skipped",
        # headlines (the report's first screen)
        "h_upgraded": "UPGRADED: all {n} steps done and observed",
        "h_upgraded_post_failed": "UPGRADED, but the POST-UPGRADE PROOF FAILED",
        "h_partial": "PARTIAL RUN: step(s) {steps} done; the plan has {n}",
        "h_failed": "FAILED at step {n} ({release})",
        "h_interrupted": "INTERRUPTED at step {n} ({release})",
        "h_interrupted_phase": "INTERRUPTED during the {phase} phase",
        "h_dry_run": "DRY RUN: every release observed, nothing changed",
        "h_dry_run_partial": "DRY RUN: step(s) {steps} observed of the plan's {n}, nothing changed",
        "h_dry_run_failed": "DRY RUN FAILED at step {n} ({release}): nothing changed",
        "h_preflight_failed": "PRE-UPGRADE CHECKS FAILED: nothing changed",
        "h_preflight_passed": "PRE-UPGRADE CHECKS PASSED",
        "h_post_failed": "POST-UPGRADE PROOF FAILED",
        "h_post_passed": "POST-UPGRADE PROOF PASSED",
        "h_ci": "NOT UPGRADED: the upgrade phase did not run (CI=true without --allow-upgrade-in-ci)",
        "h_stopped": "STOPPED: {cause}",
        # a step's line
        "s_upgraded": "upgraded: {pods} pod(s) observed Ready and UP on {version}",
        "s_installed": "installed: {pods} pod(s) observed Ready and UP on {version}",
        "s_already": "already upgraded: {pods} pod(s) observed Ready and UP on {version}, no helm call",
        "s_resumed": "resumed: helm was already at {version}; {pods} pod(s) observed Ready and UP",
        "s_helm_only": "helm {action} done; its pods were not checked in this run",
        "s_dry_would": "dry run: would {action} {old} → {new}; now {state}",
        "s_dry_target": "dry run: already at {version}; {state}",
        "s_dry_absent": "dry run: would install {new}; not installed now",
        "s_dry_unobserved": "dry run: command recorded; what runs now was not observed in this run",
        "s_state": "{pods} pod(s) observed Ready and UP on {version}",
        "s_failed": "FAILED: {detail}",
        "s_blocked": "blocked by {by}",
        "s_interrupted": "INTERRUPTED {where}",
        "s_not_run": "not run",
        "s_ci": "not run (CI=true)",
        "s_passed": "passed",
        "w_helm": "during its helm call (or the checks before it)",
        "w_wait": "while waiting for its pods (helm had finished)",
        "w_test": "during: {test}",
        # what comes next
        "next": "Next: {text}",
        "n_share": "share this run's report (one HTML file) with the command below.",
        "n_share_also": "To share this run's report (one HTML file), use the share command below.",
        "h_nothing": "NOTHING RAN: no test of the suite was run",
        "n_failed": ("fix step {n} ({release}): the reason is above, and this run's report holds the step's "
                     "attachments (pods, events, log tails, health bodies). Then re-run the same command: "
                     "finished steps are observed again and pass as already upgraded, and it resumes at step {n}."),
        "n_failed_sandbox": ("this run's sandbox was started for it and is stopped now, so the same command would "
                             "start a fresh 0.8 sandbox, not resume{fault}. To rehearse fix-and-resume, keep one "
                             "running: `./run python -m c7n_sandbox up --dir D [--fault R=KIND]`, run "
                             "`./run pytest suites/ --env D/env.yaml`, fix the cause (a fault: `./run python -m "
                             "c7n_sandbox fault --dir D --clear R`) and re-run that command."),
        "n_fault": " (step {n} failed on the fault you injected: {fault})",
        "n_interrupted": ("the run was interrupted during step {n} ({release}), {where}. Inspect the release "
                          "first with the two commands below; if helm shows it pending-upgrade or pending-install, "
                          "roll it back to its last deployed revision (`helm rollback {release} REVISION`). Then "
                          "re-run the same command: it resumes at step {n}."),
        "n_interrupted_sandbox": ("the run was interrupted during step {n} ({release}), {where}; its sandbox was "
                                  "stopped with it, so there is nothing to resume. Start a new run when ready."),
        "n_interrupted_phase": "the upgrade phase had not begun, so nothing was changed: re-run when ready.",
        "n_interrupted_post": "the upgrade phase is over; re-run the read-only proof: pytest suites/post_upgrade --env {env}",
        "n_dry_run": "review the recorded helm commands and values diffs in the report, then run without --dry-run.",
        "n_dry_run_failed": ("the dry run found step {n} ({release}) not Ready and UP as it runs now: fix it (the "
                             "reason is above), then run the dry run again. Nothing was changed."),
        "n_preflight": "the pre-upgrade checks failed, so nothing was changed: fix what they name above, then re-run.",
        "n_post_failed": "the failures above name the release and the check; the report holds the evidence.",
        "n_ci": ("CI=true, so the upgrade phase did not run. To upgrade from CI, add --allow-upgrade-in-ci; for "
                 "the read-only proof alone, run `pytest suites/post_upgrade --env {env}`."),
        "n_partial": ("run `pytest suites/ --env {env}` for the whole plan: finished steps are observed and pass as "
                      "already upgraded."),
        "n_kubeconfig": ("point kube.kubeconfig (and kube.context) in {source} at the cluster's kubeconfig, or remove "
                         "kube.kubeconfig from it to use $KUBECONFIG (then ~/.kube/config); check it with `kubectl get "
                         "ns {namespace}`; then re-run. Nothing was changed."),
        "n_kubeconfig_default": ("set KUBECONFIG to the cluster's kubeconfig (or name it as kube.kubeconfig in "
                                 "{source}); check it with `kubectl get ns {namespace}`; then re-run. Nothing was "
                                 "changed."),
        "c_missing_vars": "{source}: not set in the environment{where}: {vars}",
        "n_missing_vars": ("export each of them in this shell without echoing it (e.g. `read -rs {first} && export "
                           "{first}`), or name a 0600 secrets_file in {source}; then re-run. Nothing was changed."),
        "n_config": "correct {source} (every key is explained in envs/prod.yaml); then re-run. Nothing was changed.",
        "n_env_name": ("name one of the envs listed, or give a path to an env file: copy the template, `cp envs/prod.yaml "
                       "envs/NAME.yaml`, fill it in (docs/real-cluster.md, section 2) and run with --env NAME. Nothing "
                       "was changed."),
        "n_mariadb": ("install the MariaDB server package as it says (as root: `apt-get install -y mariadb-server`; the "
                      "service need not run), then re-run. Nothing was changed."),
        "n_sandbox_start": ("the sandbox's log is above; start one alone to watch it (`./run python -m c7n_sandbox "
                            "up --dir /tmp/c7n`), then re-run. Nothing was changed."),
        "n_plan": "correct the plan ({plan}; plans/0.8-to-0.9.yaml is the guide's) or the env's `plan:` key, then re-run.",
        "n_unreachable": ("check that the cluster is up and reachable from this machine (VPN, bastion, proxy) and "
                          "that kube.kubeconfig / kube.context in {source} name it: `kubectl get ns {namespace}`; "
                          "then re-run. Nothing was changed."),
        "n_rights": ("grant that identity what deploy/rbac/ grants (upgrade.yaml for a run that upgrades, "
                     "readonly.yaml for a read-only one, with helm2-tiller.yaml for Helm 2; namespace {namespace}), "
                     "or name a context that has it as kube.context in {source}; check with `kubectl auth can-i "
                     "VERB RESOURCE -n {namespace}`; then re-run. Nothing was changed."),
        "n_lock": ("wait for that run to finish; this one changed nothing. If it is gone (no such process on that "
                   "host), re-run this command with --break-lock."),
        "n_lock_busy": ("wait for that helm to finish; this run changed nothing. Do not break the lock or roll the "
                        "release back while it runs; once it has ended, re-run this command."),
        "n_lock_live": ("stop that run first (or wait for it to finish), then re-run this command; this one changed "
                        "nothing."),
        "c_unreachable_mid": "the cluster became unreachable: {message}",
        "c_not_upgraded": ("no release of the plan {plan} is at its target chart version, so the upgrade has not "
                           "run on this cluster; helm lists: {found}"),
        "n_helm_dialect": "make helm.dialect in {source} the helm you run (or remove it); then re-run. Nothing was changed.",
        "n_access": ("set access: direct in {source} (the suite then reaches pod IPs and clusterIPs itself); then "
                     "re-run. Nothing was changed."),
        "n_not_upgraded": ("the read-only proof is for after the upgrade: rehearse it with `pytest suites/ --env {env} "
                           "--dry-run`, then run `pytest suites/ --env {env}`. Nothing was changed."),
        "ci_notice": ("CI=true: the upgrade phase will not run (its tests are skipped, and the post-upgrade proof "
                      "with it); add --allow-upgrade-in-ci to upgrade from CI."),
        "not_run_ci": "not run: the upgrade phase did not run (CI=true without --allow-upgrade-in-ci)",
        "not_run_stopped": "not run: {cause}",
        "interrupted_test": "interrupted: {headline}, {where}",
        "kept": "This run's results: {run_dir}",
        "r_settled": "{release}: {pods} pod(s) on {version}, all UP ({seconds:.1f}s)",
        "r_oauth_created": "OAuth client 'choerodon' created",
        "r_oauth_matches": "OAuth client 'choerodon' exists and matches",
        "k_values": "values backup (helm get values, whole: private, never in the report)",
        "k_backup": "database backup (before the first write)",
        "k_backup_after": ("database backup of this resumed run, taken after step {n}: the databases of the steps "
                           "done so far may already be migrated"),
        "k_backup_again": ("database backup of this resumed run (an earlier run of this upgrade had begun to write: "
                           "restore the one from before the upgrade began)"),
        "k_first_backup": "database backup from before the upgrade began (run {run}, {time}; SHA256SUMS inside)",
        "kept_item": "  {what}: {path}",
        "manual": ("Not verified by the suite (manual, do them if not done yet): XWiki steps 4–6 on {host}: "
                   "import Choerodon-wiki-0.9.0-update.xar (\"add a new version to existing documents\"), delete "
                   "/bin/view/ConfluenceTest with its children, restart XWiki."),
        "broke_lock": "--break-lock: broke the lock of {holder}",
    },
    "zh": {
        "header": "{title}：升级总结（{env}，命名空间 {namespace}）",
        "outcome": "结果：{headline}",
        "counts": "{phase}：{counts}",
        "passed": "通过", "failed": "失败", "skipped": "跳过",
        "h_upgraded": "升级完成：全部 {n} 个步骤已完成并经观察确认",
        "h_upgraded_post_failed": "已升级，但升级后验证失败",
        "h_partial": "部分运行：完成步骤 {steps}；计划共 {n} 步",
        "h_failed": "失败于步骤 {n}（{release}）",
        "h_interrupted": "中断于步骤 {n}（{release}）",
        "h_interrupted_phase": "中断于{phase}阶段",
        "h_dry_run": "演练：已观察全部 release，未做任何更改",
        "h_dry_run_partial": "演练：已观察步骤 {steps}（计划共 {n} 步），未做任何更改",
        "h_dry_run_failed": "演练失败于步骤 {n}（{release}）：未做任何更改",
        "h_preflight_failed": "升级前检查失败：未做任何更改",
        "h_preflight_passed": "升级前检查通过",
        "h_post_failed": "升级后验证失败",
        "h_post_passed": "升级后验证通过",
        "h_ci": "未升级：CI=true 且未指定 --allow-upgrade-in-ci，升级阶段未运行",
        "h_stopped": "已停止：{cause}",
        "s_upgraded": "已升级：观察到 {pods} 个 pod 就绪且 UP，版本 {version}",
        "s_installed": "已部署：观察到 {pods} 个 pod 就绪且 UP，版本 {version}",
        "s_already": "已是目标版本：观察到 {pods} 个 pod 就绪且 UP，版本 {version}，未调用 helm",
        "s_resumed": "继续：helm 已是 {version}；观察到 {pods} 个 pod 就绪且 UP",
        "s_helm_only": "helm {action} 已完成；本次运行未检查其 pod",
        "s_dry_would": "演练：将 {action} {old} → {new}；当前 {state}",
        "s_dry_target": "演练：已是 {version}；{state}",
        "s_dry_absent": "演练：将部署 {new}；当前未部署",
        "s_dry_unobserved": "演练：已记录命令；本次运行未观察其当前状态",
        "s_state": "观察到 {pods} 个 pod 就绪且 UP，版本 {version}",
        "s_failed": "失败：{detail}",
        "s_blocked": "被阻塞（{by}）",
        "s_interrupted": "已中断，{where}",
        "s_not_run": "未运行",
        "s_ci": "未运行（CI=true）",
        "s_passed": "通过",
        "w_helm": "在 helm 调用（或其前的检查）期间",
        "w_wait": "在等待 pod 时（helm 已完成）",
        "w_test": "在「{test}」期间",
        "next": "下一步：{text}",
        "n_share": "用下面的命令分享本次运行的报告（一个 HTML 文件）。",
        "n_share_also": "要分享本次运行的报告（一个 HTML 文件），请用下面的 share 命令。",
        "h_nothing": "未运行：本次没有运行套件的任何测试",
        "n_failed": ("修复步骤 {n}（{release}）：原因见上文，本次运行的报告中有该步骤的附件（pod、事件、日志、健康检查返回）。"
                     "然后重新运行同一命令：已完成的步骤会重新观察并通过（已是目标版本），从步骤 {n} 继续。"),
        "n_failed_sandbox": ("本次运行的沙箱是为它启动的，现已停止，重新运行同一命令会启动新的 0.8 沙箱，而不是继续{fault}。"
                             "要演练修复后继续，请保持一个沙箱运行：`./run python -m c7n_sandbox up --dir D "
                             "[--fault R=KIND]`，运行 `./run pytest suites/ --env D/env.yaml`，修复原因（故障：`./run python "
                             "-m c7n_sandbox fault --dir D --clear R`）后重新运行该命令。"),
        "n_fault": "（步骤 {n} 因你注入的故障 {fault} 失败）",
        "n_interrupted": ("运行在步骤 {n}（{release}）{where}被中断。请先用下面两条命令检查该 release；"
                          "若其状态为 pending-upgrade 或 pending-install，请回滚到最后一个 deployed 版本"
                          "（`helm rollback {release} REVISION`）。然后重新运行同一命令：将从步骤 {n} 继续。"),
        "n_interrupted_sandbox": "运行在步骤 {n}（{release}）{where}被中断；其沙箱已随之停止，无可继续。准备好后重新运行。",
        "n_interrupted_phase": "升级阶段尚未开始，未做任何更改：准备好后重新运行。",
        "n_interrupted_post": "升级阶段已结束；重新运行只读验证：pytest suites/post_upgrade --env {env}",
        "n_dry_run": "查看报告中记录的 helm 命令和 values 差异，然后去掉 --dry-run 运行。",
        "n_dry_run_failed": "演练发现步骤 {n}（{release}）当前未就绪或未 UP：修复它（原因见上文），然后再次演练。未做任何更改。",
        "n_preflight": "升级前检查失败，未做任何更改：修复上文所列问题后重新运行。",
        "n_post_failed": "上文的失败指出了 release 和检查项；报告中有证据。",
        "n_ci": ("CI=true，升级阶段未运行。要在 CI 中升级，请加 --allow-upgrade-in-ci；只做只读验证，"
                 "请运行 `pytest suites/post_upgrade --env {env}`。"),
        "n_partial": "运行 `pytest suites/ --env {env}` 完成整个计划：已完成的步骤会经观察后通过。",
        "n_kubeconfig": ("将 {source} 中的 kube.kubeconfig（及 kube.context）指向集群的 kubeconfig，或删除 kube.kubeconfig "
                         "以使用 $KUBECONFIG（其次 ~/.kube/config）；用 `kubectl get ns {namespace}` 检查；然后重新运行。"
                         "未做任何更改。"),
        "n_kubeconfig_default": ("将 KUBECONFIG 设置为集群的 kubeconfig（或在 {source} 中写明 kube.kubeconfig）；"
                                 "用 `kubectl get ns {namespace}` 检查；然后重新运行。未做任何更改。"),
        "c_missing_vars": "{source}：以下环境变量未设置{where}：{vars}",
        "n_missing_vars": ("在当前 shell 中逐个导出（不回显，例如 `read -rs {first} && export {first}`），或在 {source} "
                           "中指定权限为 0600 的 secrets_file；然后重新运行。未做任何更改。"),
        "n_config": "修正 {source}（每个键的说明见 envs/prod.yaml）；然后重新运行。未做任何更改。",
        "n_env_name": ("使用上面列出的某个 env，或给出 env 文件的路径：复制模板 `cp envs/prod.yaml envs/NAME.yaml`，填写后"
                       "（docs/real-cluster.md 第 2 节）用 --env NAME 运行。未做任何更改。"),
        "n_mariadb": "按提示安装 MariaDB 服务器软件包（root：`apt-get install -y mariadb-server`；无需启动服务），然后重新运行。未做任何更改。",
        "n_sandbox_start": ("沙箱日志见上文；可单独启动一个沙箱观察（`./run python -m c7n_sandbox up --dir /tmp/c7n`），"
                            "然后重新运行。未做任何更改。"),
        "n_plan": "修正升级计划（{plan}；plans/0.8-to-0.9.yaml 为指南的计划）或 env 的 `plan:` 键，然后重新运行。",
        "n_unreachable": ("确认集群已启动且本机可访问（VPN、跳板机、代理），且 {source} 中的 kube.kubeconfig / kube.context "
                          "指向它：`kubectl get ns {namespace}`；然后重新运行。未做任何更改。"),
        "n_rights": ("为该身份授予 deploy/rbac/ 中的权限（升级用 upgrade.yaml，只读运行用 readonly.yaml，Helm 2 另加 "
                     "helm2-tiller.yaml；命名空间 {namespace}），或在 {source} 的 kube.context 中指定具备这些权限的上下文；"
                     "用 `kubectl auth can-i VERB RESOURCE -n {namespace}` 检查；然后重新运行。未做任何更改。"),
        "n_lock": "等待该运行结束；本次运行未做任何更改。若该运行已不存在（该主机上无此进程），请加 --break-lock 重新运行本命令。",
        "n_lock_busy": "等待该 helm 结束；本次运行未做任何更改。它运行期间不要打破锁或回滚该 release；它结束后再重新运行本命令。",
        "n_lock_live": "请先停止该运行（或等待它结束），再重新运行本命令；本次运行未做任何更改。",
        "c_unreachable_mid": "集群变得无法访问：{message}",
        "c_not_upgraded": "升级计划 {plan} 中没有任何 release 处于目标 chart 版本，本集群尚未执行升级；helm 列出：{found}",
        "n_helm_dialect": "将 {source} 中的 helm.dialect 改为实际使用的 helm（或删除该键）；然后重新运行。未做任何更改。",
        "n_access": "将 {source} 中的 access 改为 direct（套件直接访问 pod IP 与 clusterIP）；然后重新运行。未做任何更改。",
        "n_not_upgraded": ("升级后验证用于升级之后：先用 `pytest suites/ --env {env} --dry-run` 演练，再运行 "
                           "`pytest suites/ --env {env}`。未做任何更改。"),
        "ci_notice": "CI=true：升级阶段不会运行（其测试及升级后验证将被跳过）；要在 CI 中升级，请加 --allow-upgrade-in-ci。",
        "not_run_ci": "未运行：升级阶段未运行（CI=true 且未指定 --allow-upgrade-in-ci）",
        "not_run_stopped": "未运行：{cause}",
        "interrupted_test": "已中断：{headline}，{where}",
        "kept": "本次运行的结果：{run_dir}",
        "r_settled": "{release}：{pods} 个 pod 为 {version}，全部 UP（{seconds:.1f}s）",
        "r_oauth_created": "已创建 client choerodon",
        "r_oauth_matches": "client choerodon 已存在且与指南一致",
        "k_values": "values 备份（helm get values，完整保存：仅本地私有，不进入报告）",
        "k_backup": "数据库备份（首次写入之前）",
        "k_backup_after": "本次续跑的数据库备份，取于步骤 {n} 之后：已完成步骤的数据库可能已被迁移",
        "k_backup_again": "本次续跑的数据库备份（本次升级的较早运行已开始写入：恢复时请使用升级开始之前的备份）",
        "k_first_backup": "升级开始之前的数据库备份（运行 {run}，{time}；内含 SHA256SUMS）",
        "kept_item": "  {what}：{path}",
        "manual": ("本套件无法验证（手动步骤，若尚未完成请执行）：{host} 上的 XWiki 第 4–6 步：导入 "
                   "Choerodon-wiki-0.9.0-update.xar（“给已有文档添加一个新的版本”）、删除 /bin/view/ConfluenceTest "
                   "及其子页面、重启XWiki。"),
        "broke_lock": "--break-lock：已打破 {holder} 持有的锁",
    },
}


def say(lang: str, key: str, **fields) -> str:
    """A summary or error line in the run's language."""
    table = SUMMARY.get(lang, SUMMARY["en"])
    return table.get(key, SUMMARY["en"][key]).format(**fields)
