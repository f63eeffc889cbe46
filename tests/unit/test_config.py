"""Env files: the contract in shared/design.md ("Env file") and the template envs/prod.yaml."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from c7n_upgrade.config import ConfigError, Env, list_envs, load_env

ROOT = Path(__file__).resolve().parents[2]
ENVS = ROOT / "envs"

PROD_VARS = {
    "C7N_MYSQL_ROOT_PASSWORD": "root-pw-4711",
    "C7N_MYSQL_PASSWORD": "app-pw-0815",
    "C7N_ADMIN_PASSWORD": "admin-pw-1234",
    "C7N_OAUTH_CLIENT_SECRET": "client-secret-9999",
    "C7N_FRONT_CLIENT_SECRET": "front-secret-5555",
}

# What the sandbox writes as D/env.yaml once it is ready (design.md / architecture.md).
SANDBOX_READY = """\
name: sandbox
namespace: choerodon-devops-prod
plan: 0.8-to-0.9
kube:
  kubeconfig: {d}/kubeconfig
  context: sandbox
access: direct
helm:
  binary: {d}/bin/helm
  repo_name: c7n
  repo_url: http://127.0.0.1:40123/charts/c7n/
  tiller_namespace: kube-system
mysql:
  host: 127.0.0.1
  port: 33061
  service_host: 127.0.0.1
  service_port: 33061
  admin_user: root
  admin_password: ${{C7N_MYSQL_ROOT_PASSWORD}}
  user: choerodon
  password: ${{C7N_MYSQL_PASSWORD}}
kafka: [127.0.0.1:9092]
zookeeper: [127.0.0.1:2181]
gateway_url: http://127.10.0.7:8080
front_url: http://127.10.0.16:8080
minio_url: http://minio.example.choerodon.io
gitlab: {{url: http://gitlab.example.choerodon.io, ssh_host: gitlab.example.choerodon.io}}
platform:
  admin_user: admin
  admin_password: ${{C7N_ADMIN_PASSWORD}}
  client_id: client
  client_secret: ${{C7N_OAUTH_CLIENT_SECRET}}
  organization_id: 1
  front_client_secret: ${{C7N_FRONT_CLIENT_SECRET}}
xwiki: {{host: "local://", data_dir: {d}/xwiki/data}}
timeouts: {{step: 120}}
secrets_file: secrets.env
"""


@pytest.fixture
def clean_environ(monkeypatch):
    for name in PROD_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_secrets(path: Path, mode: int = 0o600) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in PROD_VARS.items()), encoding="utf-8")
    os.chmod(path, mode)
    return path


def minimal(tmp_path: Path, body: str = "") -> Path:
    """A valid real-cluster env plus ``body`` (appended keys override nothing: use distinct keys)."""
    return write(tmp_path / "t.yaml", SANDBOX_READY.format(d=tmp_path) + body)


# ---------------------------------------------------------------------------------------------


def test_list_envs_names_the_shipped_files():
    assert {"prod", "sandbox"} <= set(list_envs(ENVS))


def test_unknown_env_lists_the_known_ones():
    with pytest.raises(ConfigError) as err:
        load_env("nope", ENVS)
    message = str(err.value)
    assert "unknown env 'nope'" in message
    assert "known envs:" in message and "prod" in message and "sandbox" in message


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_env(str(tmp_path / "missing.yaml"), ENVS)


def test_prod_template_validates_with_the_variables_set(clean_environ):
    for name, value in PROD_VARS.items():
        clean_environ.setenv(name, value)
    env = load_env("prod", ENVS)
    assert env.sandbox is False
    assert env.namespace == "choerodon-devops-prod"
    assert env.plan == "0.8-to-0.9"
    assert env.helm.repo_name == "c7n"
    assert env.mysql.password.get_secret_value() == "app-pw-0815"
    assert sorted(env.secrets()) == sorted(PROD_VARS.values())
    assert env.secret_vars["mysql.admin_password"] == "C7N_MYSQL_ROOT_PASSWORD"


def test_prod_template_names_a_missing_variable_file_and_key(clean_environ):
    for name, value in PROD_VARS.items():
        if name != "C7N_MYSQL_PASSWORD":
            clean_environ.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_env("prod", ENVS)
    message = str(err.value)
    assert "C7N_MYSQL_PASSWORD" in message
    assert "prod.yaml" in message
    assert "key 'mysql.password'" in message


def test_sandbox_placeholder_validates_without_anything_else(clean_environ):
    env = load_env("sandbox", ENVS)
    assert env.name == "sandbox"
    assert env.sandbox is True
    assert env.sandbox_options.helm == 2
    assert env.mysql is None
    assert env.secrets() == []


def test_the_sandbox_ready_env_file_validates(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    path = write(tmp_path / "env.yaml", SANDBOX_READY.format(d=tmp_path))
    env = load_env(str(path), ENVS)
    assert env.kube.kubeconfig == f"{tmp_path}/kubeconfig"
    assert env.helm.binary == f"{tmp_path}/bin/helm"
    assert env.helm.repo_url == "http://127.0.0.1:40123/charts/c7n/"
    assert env.mysql.port == 33061
    assert env.timeouts.step == 120
    assert env.timeouts.http == 10  # default
    assert env.timeouts.poll_max == 0.5  # default
    assert env.xwiki.host == "local://"
    # the secrets come from the secrets file, since the environment has none of them
    assert env.platform.front_client_secret.get_secret_value() == "front-secret-5555"
    assert env.secrets_file == str(tmp_path / "secrets.env")
    assert env.source == path


def test_environment_wins_over_secrets_file(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    clean_environ.setenv("C7N_MYSQL_PASSWORD", "from-the-environment")
    env = load_env(str(minimal(tmp_path)), ENVS)
    assert env.mysql.password.get_secret_value() == "from-the-environment"


def test_secrets_file_readable_by_others_is_refused(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env", mode=0o644)
    with pytest.raises(ConfigError) as err:
        load_env(str(minimal(tmp_path)), ENVS)
    assert "secrets.env" in str(err.value)
    assert "0644" in str(err.value)
    # the values themselves never show up in the message
    assert "app-pw-0815" not in str(err.value)


def test_secrets_never_show_in_repr_or_str(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    env = load_env(str(minimal(tmp_path)), ENVS)
    shown = repr(env) + str(env) + repr(env.mysql) + str(env.platform)
    for value in PROD_VARS.values():
        assert value not in shown


def test_literal_secret_is_refused_without_echoing_it(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    text = SANDBOX_READY.format(d=tmp_path).replace("${C7N_MYSQL_PASSWORD}", "hunter2-literal")
    path = write(tmp_path / "lit.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_env(str(path), ENVS)
    message = str(err.value)
    assert "lit.yaml" in message
    assert "key 'mysql.password'" in message
    assert "secrets never sit in the file" in message
    assert "hunter2-literal" not in message


def refused(tmp_path: Path, old: str, new: str) -> str:
    """The error of loading the sandbox-ready env with `old` replaced by `new`."""
    write_secrets(tmp_path / "secrets.env")
    text = SANDBOX_READY.format(d=tmp_path).replace(old, new)
    with pytest.raises(ConfigError) as err:
        load_env(str(write(tmp_path / "changed.yaml", text)), ENVS)
    return str(err.value)


def test_a_password_typed_where_the_variable_name_belongs_is_not_echoed(tmp_path, clean_environ):
    message = refused(tmp_path, "${C7N_MYSQL_PASSWORD}", "${Hunter2}")
    assert "a variable not shown (not a NAME_IN_CAPITALS: it may be the secret itself) (key 'mysql.password')" in message
    assert "Hunter2" not in message
    # a conventional name is named, as it must be to be fixed
    message = refused(tmp_path, "${C7N_MYSQL_PASSWORD}", "${C7N_MYSQL_PW_UNSET}")
    assert "not set in the environment or the secrets file" in message
    assert "C7N_MYSQL_PW_UNSET (key 'mysql.password')" in message


def test_wrong_type_names_file_key_and_expectation(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    text = SANDBOX_READY.format(d=tmp_path).replace("port: 33061\n  service_host", "port: abc\n  service_host")
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_env(str(path), ENVS)
    assert "bad.yaml: key 'mysql.port': expected an integer, got 'abc'" in str(err.value)


def test_bad_access_mode(tmp_path, clean_environ):
    message = refused(tmp_path, "access: direct", "access: tunnel")
    assert "key 'access'" in message and "'direct'" in message and "'proxy'" in message
    assert "'tunnel'" in message


def test_unknown_key_is_an_error_listing_the_allowed_ones(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    text = SANDBOX_READY.format(d=tmp_path).replace("  admin_user: root\n", "  admin_usr: root\n")
    with pytest.raises(ConfigError) as err:
        load_env(str(write(tmp_path / "k.yaml", text)), ENVS)
    message = str(err.value)
    assert "key 'mysql.admin_usr': unknown key" in message
    assert "admin_user" in message


def test_yaml_syntax_error_names_file_and_line(tmp_path, clean_environ):
    path = write(tmp_path / "broken.yaml", "name: x\nnamespace: [a, b\nplan: y\n")
    with pytest.raises(ConfigError) as err:
        load_env(str(path), ENVS)
    message = str(err.value)
    assert "broken.yaml" in message
    assert "line 3" in message or "line 2" in message


def test_real_cluster_needs_its_sections(tmp_path, clean_environ):
    path = write(tmp_path / "thin.yaml", "name: thin\n")
    with pytest.raises(ConfigError) as err:
        load_env(str(path), ENVS)
    message = str(err.value)
    assert "key 'mysql'" in message and "key 'platform'" in message


def test_bad_kafka_entry(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    text = SANDBOX_READY.format(d=tmp_path).replace("kafka: [127.0.0.1:9092]", "kafka: [kafka-no-port]")
    with pytest.raises(ConfigError) as err:
        load_env(str(write(tmp_path / "kf.yaml", text)), ENVS)
    assert "key 'kafka'" in str(err.value) and "host:port" in str(err.value)


def test_variables_in_plain_strings_are_resolved(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    clean_environ.setenv("MY_NS", "c7n-staging")
    text = SANDBOX_READY.format(d=tmp_path).replace("namespace: choerodon-devops-prod", "namespace: ${MY_NS}")
    env = load_env(str(write(tmp_path / "v.yaml", text)), ENVS)
    assert env.namespace == "c7n-staging"


def test_relative_paths_are_relative_to_the_env_file(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    text = (SANDBOX_READY.format(d=tmp_path)
            .replace(f"kubeconfig: {tmp_path}/kubeconfig", "kubeconfig: kc/config")
            .replace(f"binary: {tmp_path}/bin/helm", "binary: ./bin/helm"))
    env = load_env(str(write(tmp_path / "r.yaml", text)), ENVS)
    assert env.kube.kubeconfig == str(tmp_path.resolve() / "kc" / "config")
    assert Path(env.helm.binary) == tmp_path.resolve() / "bin" / "helm"


def test_defaults_and_overrides(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    text = SANDBOX_READY.format(d=tmp_path).replace(
        "  service_host: 127.0.0.1\n  service_port: 33061\n", "") + "releases: {register-server: c7n-register}\n"
    env = load_env(str(write(tmp_path / "d.yaml", text)), ENVS)
    assert env.mysql.service_host == "127.0.0.1"  # defaults to host
    assert env.mysql.service_port == 33061  # defaults to port
    assert env.release_name("register-server") == "c7n-register"
    assert env.release_name("iam-service") is None
    assert env.gitlab.ssh_port == 22
    assert env.platform.organization_id == 1


def test_placeholders(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    text = SANDBOX_READY.format(d=tmp_path).replace(
        "kafka: [127.0.0.1:9092]", "kafka: [k0:9092, k1:9092]")
    env = load_env(str(write(tmp_path / "p.yaml", text)), ENVS)
    ph = env.placeholders("notify_service")
    assert ph == {
        "namespace": "choerodon-devops-prod",
        "mysql_service_host": "127.0.0.1",
        "mysql_service_port": 33061,
        "mysql_user": "choerodon",
        "mysql_password": "app-pw-0815",
        "database": "notify_service",
        "kafka_brokers": "k0:9092,k1:9092",
        "zookeeper_nodes": "127.0.0.1:2181",
        "gitlab_ssh_host": "gitlab.example.choerodon.io",
        "gateway_url": "http://127.10.0.7:8080",
        "minio_url": "http://minio.example.choerodon.io",
        "front_url": "http://127.10.0.16:8080",
    }
    # the plan's values format with them
    assert "jdbc:mysql://{mysql_service_host}:{mysql_service_port}/{database}".format(**ph) == \
        "jdbc:mysql://127.0.0.1:33061/notify_service"


def test_env_is_a_pydantic_model_that_forbids_extras():
    with pytest.raises(Exception):
        Env.model_validate({"name": "x", "bogus": 1})


def test_empty_secret_variable_is_an_error(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    clean_environ.setenv("C7N_ADMIN_PASSWORD", "")
    with pytest.raises(ConfigError) as err:
        load_env(str(minimal(tmp_path)), ENVS)
    assert "key 'platform.admin_password': environment variable C7N_ADMIN_PASSWORD is empty" in str(err.value)


def test_secrets_file_values_of_any_text_round_trip(tmp_path, clean_environ):
    """The sandbox writes secrets.env with dotenv_line; quotes, backslashes, `$`, `#`, spaces at both
    ends, a newline and non-ASCII text come back unchanged, through the env file's ${VAR}."""
    from c7n_upgrade.config import dotenv_line, read_secrets_file

    hostile = {"C7N_MYSQL_ROOT_PASSWORD": "@Choerodon'2019 \"q\" `id` $HOME \\ 50% ;#é",
               "C7N_MYSQL_PASSWORD": "  !lead and trail 密码  ", "C7N_ADMIN_PASSWORD": "%pass*word&\nsecond line",
               "C7N_OAUTH_CLIENT_SECRET": "*star\\n'\"", "C7N_FRONT_CLIENT_SECRET": "&amp;中文#"}
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text("".join(dotenv_line(k, v) for k, v in hostile.items()), encoding="utf-8")
    os.chmod(secrets_file, 0o600)
    assert read_secrets_file(secrets_file) == hostile
    env = load_env(str(minimal(tmp_path)), ENVS)
    assert env.mysql.admin_password.get_secret_value() == hostile["C7N_MYSQL_ROOT_PASSWORD"]
    assert env.platform.admin_password.get_secret_value() == hostile["C7N_ADMIN_PASSWORD"]


def test_secrets_file_bare_and_single_quoted_values(tmp_path):
    from c7n_upgrade.config import read_secrets_file

    path = tmp_path / "s.env"
    path.write_text("A=bare value \nB='single \\n kept'\nexport C=\"x\"\n", encoding="utf-8")
    os.chmod(path, 0o600)
    assert read_secrets_file(path) == {"A": "bare value", "B": "single \\n kept", "C": "x"}
    path.write_text('A="bad \\q escape"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1: unknown escape") as exc:
        read_secrets_file(path)
    assert "bad" not in str(exc.value)


def test_a_billion_laughs_env_file_is_refused_quickly_naming_the_file(tmp_path, clean_environ):
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    path = write(tmp_path / "laughs.yaml", "\n".join(lines) + "\nname: x\n")
    with pytest.raises(ConfigError, match=r"laughs\.yaml: its YAML expands to more than \d+ values"):
        load_env(str(path), ENVS)


def test_a_huge_env_file_is_refused_naming_the_file(tmp_path, clean_environ):
    path = tmp_path / "huge.yaml"
    path.write_text("name: x\n" + "#" * (2 << 20) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"huge\.yaml: \d+ bytes; an env file may have at most"):
        load_env(str(path), ENVS)


def test_a_few_anchors_are_fine(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    path = minimal(tmp_path)
    path.write_text(path.read_text().replace("kafka: [127.0.0.1:9092]", "kafka: &k [127.0.0.1:9092]")
                    .replace("zookeeper: [127.0.0.1:2181]", "zookeeper: *k"))
    assert load_env(str(path), ENVS).zookeeper == ["127.0.0.1:9092"]


@pytest.mark.parametrize("user", ["choerodon'@'%'; DROP DATABASE iam_service; --", "a b", "x`y", "", "u" * 81])
def test_a_mysql_user_that_would_go_into_sql_is_refused_at_load(tmp_path, clean_environ, user):
    write_secrets(tmp_path / "secrets.env")
    path = minimal(tmp_path)
    path.write_text(path.read_text().replace("  user: choerodon\n", f"  user: {json.dumps(user)}\n"))
    with pytest.raises(ConfigError) as exc:
        load_env(str(path), ENVS)
    assert "t.yaml: key 'mysql.user': expected a MySQL user name" in str(exc.value)


def test_new_timeouts_and_backup_keys(tmp_path, clean_environ):
    write_secrets(tmp_path / "secrets.env")
    env = load_env(str(minimal(tmp_path)), ENVS)
    t = env.timeouts
    assert (t.helm, t.kube, t.sql, t.settle, t.backup, t.unschedulable) == (120, 30, 60, 10, 1800, 180)
    assert env.backup.skip_reason is None
