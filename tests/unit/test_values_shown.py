"""What the report shows of a release's values is an allowlist: credentials under keys nobody thought
of are hidden behind a keyed per-run hash that still changes with the value, so diffs stay readable."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

import yaml

from c7n_upgrade.helm import plan_keys, shown_diff, shown_values
from c7n_upgrade.helm.shown import fingerprint

SECRETS = {  # unconventional keys, and credentials inside other values
    "SERVICES_HARBOR_PASS": "harb0r-Pass!",
    "SPRING_DATASOURCE_PWD": "ds-pwd-731",
    "SERVICES_API_KEY": "ak_live_8f3a9c",
    "JAVA_OPTS": "-Xmx1g -Djavax.net.ssl.trustStorePassword=tsp-4419",
    "SPRING_REDIS_URL": "redis://:redispw-55@redis:6379/0",
    "SERVICES_TOKEN_B64": base64.b64encode(b"b64-secret-998").decode(),
    "CHOERODON_CRED": "cred-0092",
    "X_AUTH": "Bearer tok-7788",
    "DB_URL": "jdbc:mysql://user:jdbcpw-12@db:3306/x?password=jdbcpw-12",
    "MINIO_SK": "minio-sk-3301",
    "SMTP": "smtp-pw-4",
    "NUMERIC_PIN": 482913,
}


def values(**extra):
    return {"replicaCount": 2, "image": {"repository": "registry.example/c7n/iam-service", "tag": "0.8.0"},
            "service": {"enabled": True, "port": 8030}, "deployment": {"managementPort": 8031},
            "resources": {"limits": {"memory": "2Gi"}},
            "env": {"open": {**SECRETS, "SERVER_PORT": 8030, **extra}},
            "preJob": {"preConfig": {"mysql": {"host": "db", "port": 3306, "password": "hidden-too"}}}}


def test_only_allowlisted_values_are_shown_every_credential_is_hidden():
    text = yaml.safe_dump(shown_values(values()), allow_unicode=True)
    for secret in [*map(str, SECRETS.values()), "hidden-too", "tsp-4419", "redispw-55", "b64-secret-998"]:
        assert secret not in text
    assert base64.b64encode(b"b64-secret-998").decode() not in text
    shown = shown_values(values())
    assert shown["image"] == {"repository": "registry.example/c7n/iam-service", "tag": "0.8.0"}
    assert shown["replicaCount"] == 2 and shown["service"] == {"enabled": True, "port": 8030}
    assert shown["resources"] == {"limits": {"memory": "2Gi"}} and shown["deployment"]["managementPort"] == 8031
    assert shown["env"]["open"]["SERVER_PORT"] == 8030 and shown["preJob"]["preConfig"]["mysql"]["port"] == 3306
    assert all(re.fullmatch(r"<hidden [0-9a-f]{8}>", shown["env"]["open"][k]) for k in SECRETS)
    assert re.fullmatch(r"<hidden [0-9a-f]{8}>", shown["preJob"]["preConfig"]["mysql"]["host"])


def test_the_hash_is_keyed_per_run_and_changes_with_the_value():
    key = b"k" * 32
    assert fingerprint("ds-pwd-731", key) == hmac.new(key, b'"ds-pwd-731"', hashlib.sha256).hexdigest()[:8]
    assert fingerprint("ds-pwd-731") != hashlib.sha256(b'"ds-pwd-731"').hexdigest()[:8]  # not a bare hash
    assert fingerprint("ds-pwd-731") != fingerprint("ds-pwd-731", key)  # another run, another key
    assert fingerprint("ds-pwd-731") == fingerprint("ds-pwd-731") != fingerprint("ds-pwd-732")


def test_the_diff_shows_a_changed_secret_as_a_change_without_the_secret():
    old, new = values(), values()
    new["env"]["open"]["SPRING_DATASOURCE_PWD"] = "ds-pwd-new"
    new["image"]["tag"] = "0.9.0"
    diff = shown_diff(old, new)
    assert "-  tag: 0.8.0" in diff and "+  tag: 0.9.0" in diff
    changed = [line for line in diff.splitlines() if "SPRING_DATASOURCE_PWD" in line]
    assert len(changed) == 2 and changed[0][1:] != changed[1][1:]  # - and + lines, different hashes
    assert "ds-pwd" not in diff and "harb0r" not in diff
    assert shown_diff(old, values()) == ""


def test_the_plans_own_keys_are_shown_unless_they_fill_in_a_secret():
    plan = {"env.open.AGENT_VERSION": "0.9.6", "env.open.SERVICES_GITLAB_SSHURL": "{gitlab_ssh_host}",
            "preJob.preConfig.mysql.password": "{mysql_password}", "env.open.PRO_FILE_SERVER": "{minio_url}"}
    keys = plan_keys(plan)
    assert keys == {"env.open.AGENT_VERSION", "env.open.SERVICES_GITLAB_SSHURL"}
    shown = shown_values({"env": {"open": {"AGENT_VERSION": "0.9.6", "PRO_FILE_SERVER": "http://k:s@minio"}}}, keys)
    assert shown["env"]["open"]["AGENT_VERSION"] == "0.9.6" and "k:s" not in str(shown)
