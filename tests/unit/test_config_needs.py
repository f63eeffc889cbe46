"""What a run asks of its env: only the secrets its phases use, the kubeconfig as kubectl finds it, and
one refusal with its Next line when variables are missing (issue 20)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from c7n_upgrade import clients
from c7n_upgrade.config import READ_ONLY_SECRETS, ConfigError, load_env
from fixtures.plugin import config_refusal
from tests.unit.test_config import ENVS, PROD_VARS
from tests.unit.test_config import minimal as _minimal


def minimal(tmp_path: Path, body: str = "") -> Path:
    """test_config's ready sandbox env, its secrets from the environment only (no secrets file)."""
    path = _minimal(tmp_path, body)
    path.write_text(path.read_text().replace("secrets_file: secrets.env\n", ""))
    return path

READ_ONLY_VARS = {k: v for k, v in PROD_VARS.items()
                  if k in ("C7N_MYSQL_PASSWORD", "C7N_ADMIN_PASSWORD", "C7N_OAUTH_CLIENT_SECRET")}


def test_the_read_only_proof_needs_neither_mysql_root_nor_the_front_clients_secret():
    env = load_env("prod", ENVS, environ=dict(READ_ONLY_VARS), secrets_needed=READ_ONLY_SECRETS)
    assert env.mysql.admin_password is None and env.platform.front_client_secret is None
    assert env.mysql.password.get_secret_value() == PROD_VARS["C7N_MYSQL_PASSWORD"]
    assert sorted(env.secrets()) == sorted(READ_ONLY_VARS.values())
    assert set(env.secret_vars) == set(READ_ONLY_SECRETS)
    # what it reads with is the services' user; the admin login is refused with its cause, never made empty
    run = clients.build(env)  # the admin and its dump tools are built on first use: a read-only run has none
    assert run.mysql_app.user == "choerodon"
    with pytest.raises(ConfigError, match="mysql.admin_password' was not resolved"):
        run.mysql_admin
    with pytest.raises(ConfigError, match="mysql.admin_password' was not resolved"):
        run.dump_tool


def test_an_unneeded_secret_that_is_set_is_still_masked():
    env = load_env("prod", ENVS, environ=dict(PROD_VARS), secrets_needed=READ_ONLY_SECRETS)
    assert sorted(env.secrets()) == sorted(PROD_VARS.values())


def test_the_whole_upgrade_still_needs_all_five():
    with pytest.raises(ConfigError) as err:
        load_env("prod", ENVS, environ=dict(READ_ONLY_VARS))
    assert err.value.missing_vars == [("mysql.admin_password", "C7N_MYSQL_ROOT_PASSWORD"),
                                      ("platform.front_client_secret", "C7N_FRONT_CLIENT_SECRET")]


def test_a_secret_key_left_out_of_the_file_is_an_error_when_the_run_needs_it(tmp_path):
    path = minimal(tmp_path)
    text = path.read_text().replace("  admin_password: ${C7N_MYSQL_ROOT_PASSWORD}\n", "")
    path.write_text(text)
    load_env(str(path), ENVS, environ=dict(PROD_VARS), secrets_needed=READ_ONLY_SECRETS)  # not needed: fine
    with pytest.raises(ConfigError, match="key 'mysql.admin_password': required for this run"):
        load_env(str(path), ENVS, environ=dict(PROD_VARS))


def test_missing_variables_are_one_line_then_next_in_english_and_chinese():
    with pytest.raises(ConfigError) as err:
        load_env("prod", ENVS, environ={})
    refusal = str(config_refusal(err.value, "en"))
    lines = refusal.splitlines()
    assert len(lines) == 2, refusal
    assert lines[0].startswith("envs/prod.yaml: not set in the environment: C7N_MYSQL_ROOT_PASSWORD (key "
                               "'mysql.admin_password'), C7N_MYSQL_PASSWORD")
    assert all(var in lines[0] for var in PROD_VARS)
    assert lines[1].startswith("Next: export each of them") and "read -rs C7N_MYSQL_ROOT_PASSWORD" in lines[1]
    zh = str(config_refusal(err.value, "zh")).splitlines()
    assert len(zh) == 2 and "以下环境变量未设置" in zh[0] and zh[1].startswith("下一步：")


def test_any_other_env_problem_gets_its_next_line_too(tmp_path):
    path = minimal(tmp_path, "unknown_key: 1\n")
    with pytest.raises(ConfigError) as err:
        load_env(str(path), ENVS, environ=dict(PROD_VARS))
    lines = str(config_refusal(err.value, "en")).splitlines()
    assert "unknown_key" in lines[0]
    assert lines[-1].startswith("Next: correct ") and "envs/prod.yaml" in lines[-1]


@pytest.mark.parametrize("kube", ["kube:\n", "kube:\n  # kubeconfig: ~/.kube/config\n", ""])
def test_an_empty_or_absent_kube_section_means_kubeconfig_variable(tmp_path, kube):
    """`kube:` with every key commented out is YAML's null: the defaults, not 'expected a mapping'."""
    data = yaml.safe_load(minimal(tmp_path).read_text())
    del data["kube"]
    body = yaml.safe_dump(data, sort_keys=False) + kube
    path = Path(tmp_path / "k.yaml")
    path.write_text(body)
    env = load_env(str(path), ENVS, environ=dict(PROD_VARS))
    assert env.kube.kubeconfig is None and env.kube.context is None


def test_the_shipped_template_pins_no_kubeconfig():
    env = load_env("prod", ENVS, environ=dict(PROD_VARS))
    assert env.kube.kubeconfig is None


def test_an_unknown_env_name_gets_its_next_line_too():
    with pytest.raises(ConfigError) as err:
        load_env("no-such-env", ENVS)
    lines = str(config_refusal(err.value, "en")).splitlines()
    assert lines[0].startswith("unknown env 'no-such-env'; known envs: prod, sandbox")
    assert lines[1].startswith("Next: name one of the envs listed") and "cp envs/prod.yaml envs/NAME.yaml" in lines[1]
    assert str(config_refusal(err.value, "zh")).splitlines()[1].startswith("下一步：使用上面列出的某个 env")
