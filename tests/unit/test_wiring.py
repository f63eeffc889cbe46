"""The wiring rule: only config/ and the wiring module (c7n_upgrade/clients.py) read the env model.

Tempest keeps tempest/lib free of config with a lint rule; this is ours. A library module that
imports c7n_upgrade.config, or reads an Env field off something called `env` (`env.timeouts`,
`self.env.mysql`, `inst.env.platform` ...), breaks it. The sandbox writes env files and is outside
the rule.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from c7n_upgrade import clients
from c7n_upgrade.config import Env, load_env

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "c7n_upgrade"
ALLOWED = {LIBRARY / "config", LIBRARY / "sandbox", LIBRARY / "clients.py"}
#: what an Env offers: its keys and its methods (reading any of them off an `env` is reading the env)
ENV_NAMES = set(Env.model_fields) | {n for n in vars(Env) if not n.startswith("_")}


def _module_name(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def env_readers(path: Path, root: Path = ROOT) -> list[str]:
    """Where the module at `path` imports the env model or reads an Env field ("line: what")."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path, root)[:-1] if path.name != "__init__.py" else _module_name(path, root)
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = [*base, *(node.module.split(".") if node.module else [])]
            targets = [".".join(module)] + [".".join([*module, alias.name]) for alias in node.names]
        if any(t == "c7n_upgrade.config" or t.startswith("c7n_upgrade.config.") for t in targets):
            found.append(f"{node.lineno}: imports the env model")
        if isinstance(node, ast.Attribute) and node.attr in ENV_NAMES:
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id == "env") or \
                    (isinstance(owner, ast.Attribute) and owner.attr == "env"):
                found.append(f"{node.lineno}: reads env.{node.attr}")
    return found


def library_modules() -> list[Path]:
    return [p for p in sorted(LIBRARY.rglob("*.py"))
            if not any(p == a or a in p.parents for a in ALLOWED)]


def test_no_library_module_reads_the_env():
    assert len(library_modules()) > 20  # the walk did find the library
    offenders = {str(p.relative_to(ROOT)): env_readers(p) for p in library_modules()}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"only c7n_upgrade/clients.py (the wiring) may read the env: {offenders}"


def test_the_wiring_does_read_it():
    """The rule's two exceptions are real readers (the checker sees what it looks for)."""
    assert env_readers(LIBRARY / "clients.py")


@pytest.mark.parametrize("where, source, expected", [
    ("operations", "from c7n_upgrade.config import Env\n", "1: imports the env model"),
    ("operations", "import c7n_upgrade.config\n", "1: imports the env model"),
    ("operations", "from c7n_upgrade import config as cfg\n", "1: imports the env model"),
    ("", "from .config import load_env\n", "1: imports the env model"),
    ("", "from . import config\n", "1: imports the env model"),
    ("operations", "from ..config.model import Env\n", "1: imports the env model"),
    ("operations", "def f(env):\n    return env.timeouts.http\n", "2: reads env.timeouts"),
    ("", "class Step:\n    def go(self):\n        return self.env.mysql.host\n", "3: reads env.mysql"),
    ("kube", "def f(inst):\n    return inst.env.placeholders()\n", "2: reads env.placeholders"),
])
def test_the_checker_finds_a_violation(tmp_path, where, source, expected):
    package = tmp_path / "c7n_upgrade" / where
    package.mkdir(parents=True, exist_ok=True)
    module = package / "synthetic.py"
    module.write_text(source)
    assert env_readers(module, tmp_path) == [expected]


def test_a_relative_config_elsewhere_is_not_the_env_model(tmp_path):
    """`from .config import x` inside c7n_upgrade/operations/ names c7n_upgrade.operations.config."""
    module = tmp_path / "c7n_upgrade" / "operations" / "synthetic.py"
    module.parent.mkdir(parents=True)
    module.write_text("from .config import x\nfrom . import config\n")
    assert env_readers(module, tmp_path) == []


def test_the_checker_leaves_clean_code_alone(tmp_path):
    module = tmp_path / "c7n_upgrade" / "clean.py"
    module.parent.mkdir()
    module.write_text("import os\nfrom .settings import HttpAccess\n"
                      "def f(helm, http: HttpAccess, environ=os.environ):\n"
                      "    return helm.namespace, http.timeout, dict(environ), helm.env\n")
    assert env_readers(module, tmp_path) == []


def test_settings_come_from_the_env(tmp_path):
    """The wiring maps each env key to its setting; the rollout policy keeps the settled rule."""
    secrets = {"C7N_MYSQL_ROOT_PASSWORD": "root-pw-1", "C7N_MYSQL_PASSWORD": "app-pw-2", "C7N_ADMIN_PASSWORD": "adm-3",
               "C7N_OAUTH_CLIENT_SECRET": "cs-4", "C7N_FRONT_CLIENT_SECRET": "fcs-5"}
    env = load_env(str(ROOT / "envs" / "prod.yaml"), ROOT / "envs", environ=secrets)
    s = clients.settings(env)
    assert (s.rollout.timeout, s.rollout.poll_max) == (env.timeouts.step, env.timeouts.poll_max)
    assert (s.rollout.settle_observations, s.rollout.settle_seconds) == (3, env.timeouts.settle) == (3, 10)
    assert s.rollout.unschedulable_grace == env.timeouts.unschedulable == 180
    assert (s.http.mode, s.http.timeout) == (env.access, env.timeouts.http)
    assert (s.mysql_app.host, s.mysql_app.user, s.mysql_app.password) == (env.mysql.host, env.mysql.user, "app-pw-2")
    assert (s.platform.gateway_url, s.platform.admin_password) == (env.gateway_url, "adm-3")
    assert (s.front_oauth.redirect_uri, s.front_oauth.secret) == (env.front_url, "fcs-5")
    assert s.plan_values.for_step("notify_service")["database"] == "notify_service"
    assert s.chart_repo == env.helm.repo_name and s.xwiki.data_dir == env.xwiki.data_dir
    shown = repr(s)
    assert not [v for v in secrets.values() if v in shown], "a secret in the settings' repr"


def test_children_get_an_environment_without_the_suites_secrets(tmp_path):
    """helm and the dump tools: no C7N_* variable, no variable a secret came from, none holding one."""
    secrets = {"C7N_MYSQL_ROOT_PASSWORD": "root/pw@1", "C7N_MYSQL_PASSWORD": "app-pw-2", "C7N_ADMIN_PASSWORD": "adm-3",
               "C7N_OAUTH_CLIENT_SECRET": "cs-4", "C7N_FRONT_CLIENT_SECRET": "fcs-5"}
    env = load_env(str(ROOT / "envs" / "prod.yaml"), ROOT / "envs", environ=secrets)
    environ = {**secrets, "PATH": "/usr/bin", "C7N_ENV": "prod", "MYSQL_PWD": "app-pw-2", "HOME": "/root",
               "DATABASE_URL": "mysql://root:root/pw@1@db:3306/iam",
               "ENCODED_URL": "mysql://root:root%2Fpw%401@db:3306/iam", "NOTE": "adm-3 is short: only whole"}
    assert clients.child_environ(env, environ) == {"PATH": "/usr/bin", "HOME": "/root",
                                                   "NOTE": "adm-3 is short: only whole"}
    helm = clients.helm_client(env)
    assert helm.environ is not None and not [k for k in helm.environ if k.startswith("C7N_")]
