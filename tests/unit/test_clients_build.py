"""One way in: `clients.build(env)` gives the settings and every client once; the plan's values are
rendered once; a duration stays float seconds from the env file to helm's argv."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from c7n_upgrade import clients
from c7n_upgrade.config import ConfigError, load_env
from c7n_upgrade.helm import HelmClient
from c7n_upgrade.helm.results import CommandResult
from c7n_upgrade.plan import load_plan

ROOT = Path(__file__).resolve().parents[2]
ENVS = ROOT / "envs"
SECRETS = {"C7N_MYSQL_ROOT_PASSWORD": "root-pw-1", "C7N_MYSQL_PASSWORD": "app-pw-2", "C7N_ADMIN_PASSWORD": "adm-3",
           "C7N_OAUTH_CLIENT_SECRET": "cs-4", "C7N_FRONT_CLIENT_SECRET": "fcs-5"}


@pytest.fixture
def env():
    return load_env("prod", ENVS, environ=dict(SECRETS))


def test_build_gives_the_settings_and_each_client_once(env):
    run = clients.build(env)
    s = run.settings
    assert (s.env_name, s.source, s.plan, s.kubeconfig, s.namespace) == (
        env.name, env.source, env.plan, env.kube.kubeconfig, env.namespace)
    assert "kube" not in vars(run) and "mysql_admin" not in vars(run)  # built on first use only
    assert run.mysql_admin is run.mysql_admin and run.dump_tool is run.dump_tool
    assert (run.mysql_admin.user, run.mysql_app.user) == (env.mysql.admin_user, env.mysql.user)
    assert run.releases.helm is run.helm and run.platform.redactor is run.redactor
    assert run.redactor.redact("x app-pw-2 y") == "x ****** y"
    assert run.helm.environ == run.child_environ == run.dump_tool.environ


def test_the_secret_keys_come_with_their_variables_and_stay_out_of_repr(env):
    run = clients.build(env)
    assert {(k.key, k.var) for k in run.secrets} == set(env.secret_vars.items())
    assert {k.value for k in run.secrets} == set(SECRETS.values())
    shown = repr(run)
    assert not [v for v in SECRETS.values() if v in shown], "a secret in the clients' repr"


def test_only_the_placeholder_starts_a_sandbox(env):
    placeholder = load_env("sandbox", ENVS, environ={})
    assert clients.sandbox_defaults(placeholder) == placeholder.sandbox_options
    assert clients.sandbox_defaults(env) is None


def test_the_plans_values_are_rendered_once_for_every_step_that_has_some(env):
    from fixtures.plugin import render_plan_values

    plan = load_plan(env.plan)
    settings = clients.build(env).settings
    rendered = render_plan_values(settings, plan)
    assert set(rendered) == {s.number for s in plan.steps if s.values} != set()
    notify = plan.step("notify-service")
    assert rendered[notify.number]["env.open.SPRING_DATASOURCE_URL"].endswith(f"/{notify.database}"
                                                                              "?useUnicode=true&characterEncoding="
                                                                              "utf-8&useSSL=false")
    with pytest.raises(ConfigError, match="key 'mysql': required to fill the plan's values"):
        render_plan_values(dataclasses.replace(settings, plan_values=None), plan)


def _helm(version: str) -> HelmClient:
    def runner(argv, env):
        return CommandResult(argv, 0, version if argv[1:2] == ["version"] else "", "")
    return HelmClient("helm", namespace="ns", runner=runner)


def test_a_duration_stays_float_seconds_until_helms_argv(env):
    assert clients.build(env).settings.rollout.timeout == 600.0 and isinstance(env.timeouts.step, float)
    v3, v2 = _helm("v3.17.3+g1\n"), _helm("Client: v2.17.0+ga690bad\n")
    assert v3.upgrade_argv("r", "c/r", version="1", timeout_s=120.5)[-4:-2] == ["--timeout", "121s"]
    assert v2.upgrade_argv("r", "c/r", version="1", timeout_s=600.0)[6:8] == ["--timeout", "600"]
