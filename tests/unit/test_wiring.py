"""The wiring rules: one way in (c7n_upgrade/clients.py), and no module-level state.

Tempest keeps tempest/lib free of config with a lint rule; these are ours, over the library, the
plugin's fixtures and the suites:
- only config/ and the wiring read the env model: a module that imports c7n_upgrade.config, or reads
  an Env field off something called `env` (`env.timeouts`, `self.env.mysql`, `ctx.env` ...), breaks
  it; the plugin may import config (it loads the file and turns its errors into refusals), not read it;
- only the wiring constructs a client (the classes `clients.build` hands out), besides the client's
  own module;
- no module holds mutable module-level state: a module-level list, dict or set (literal, comprehension
  or constructor call) bound to a name that is not an ALL_CAPS constant; an ALL_CAPS one mutated
  anywhere (`.append/.add/.update/...`, `X[k] = v`, `del X[k]`, `X += ...`); a module-level instance of a
  class the module defines; a `global` statement. The run's state lives in pytest's stash.
The sandbox (c7n_sandbox/, its own top-level package) writes env files and runs as its own program:
it is outside the rules, and the library never imports it (test_sandbox_boundary.py).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from c7n_upgrade import clients
from c7n_upgrade.config import Env, load_env

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "c7n_upgrade"
ALLOWED = {LIBRARY / "config", LIBRARY / "clients.py"}
PLUGIN = ROOT / "fixtures" / "plugin.py"  # loads the env file: imports config, reads none of it
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
        if isinstance(node, ast.Attribute) and node.attr == "env" and isinstance(node.value, ast.Name) \
                and node.value.id == "ctx":
            found.append(f"{node.lineno}: reads ctx.env")
    return found


def library_modules() -> list[Path]:
    return [p for p in sorted(LIBRARY.rglob("*.py"))
            if not any(p == a or a in p.parents for a in ALLOWED)]


def suite_modules() -> list[Path]:
    """The plugin's modules and the suites: downstream of `clients.build` too."""
    return sorted([*(ROOT / "fixtures").rglob("*.py"), *(ROOT / "suites").rglob("*.py")])


def test_no_library_module_reads_the_env():
    assert len(library_modules()) > 20  # the walk did find the library
    offenders = {str(p.relative_to(ROOT)): env_readers(p) for p in library_modules()}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"only c7n_upgrade/clients.py (the wiring) may read the env: {offenders}"


def test_no_fixture_or_suite_reads_the_env():
    """Downstream of `clients.build` nothing reads the env: the plugin loads it and hands it on whole."""
    assert len(suite_modules()) > 30 and PLUGIN in suite_modules()
    found = {p: env_readers(p) for p in suite_modules()}
    found[PLUGIN] = [f for f in found[PLUGIN] if not f.endswith("imports the env model")]
    offenders = {str(p.relative_to(ROOT)): v for p, v in found.items() if v}
    assert not offenders, f"only c7n_upgrade/clients.py (the wiring) may read the env: {offenders}"


#: what `clients.build` hands out: nothing else constructs one (but the class's own module)
CLIENT_CLASSES = ("HelmClient", "KubeClient", "Mysql", "DumpTool", "PlatformSession", "ClusterAccess", "Releases")


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def client_constructions(path: Path, own: frozenset = frozenset()) -> list[str]:
    """Where the module at `path` constructs a client class ("line: Class"), but the classes in `own`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [f"{node.lineno}: {_callee(node)}" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and _callee(node) in CLIENT_CLASSES and _callee(node) not in own]


def _defined_in(path: Path) -> frozenset:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return frozenset(n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef))


def test_the_client_list_is_what_build_hands_out():
    """Each class of the rule is the type of one of `Clients`' members (the list cannot go stale)."""
    import typing

    members = {**typing.get_type_hints(clients.Clients),
               **{name: typing.get_type_hints(prop.func)["return"] for name, prop in vars(clients.Clients).items()
                  if isinstance(prop, clients.cached_property)}}
    handed_out = {getattr(t, "__name__", "") for hint in members.values() for t in (hint, *typing.get_args(hint))}
    assert set(CLIENT_CLASSES) <= handed_out, set(CLIENT_CLASSES) - handed_out


def test_nothing_but_the_wiring_constructs_a_client():
    modules = library_modules() + suite_modules()
    offenders = {str(p.relative_to(ROOT)): found for p in modules
                 if (found := client_constructions(p, own=_defined_in(p)))}
    assert not offenders, f"only c7n_upgrade/clients.py (clients.build) may construct a client: {offenders}"
    assert len(client_constructions(LIBRARY / "clients.py")) >= len(CLIENT_CLASSES)  # the checker sees them


@pytest.mark.parametrize("source, expected", [
    ("from c7n_upgrade.kube import KubeClient\nk = KubeClient(namespace='x')\n", ["2: KubeClient"]),
    ("from c7n_upgrade import mysql\ndef f(h):\n    return mysql.Mysql(h, 1, 'u', 'p')\n", ["3: Mysql"]),
    ("def f(helm, pins, red):\n    from c7n_upgrade.releases import Releases\n    return Releases(helm, pins, red)\n",
     ["3: Releases"]),
    ("def f(run):\n    return run.helm, run.kube, run.releases\n", []),
])
def test_the_construction_checker(tmp_path, source, expected):
    module = tmp_path / "synthetic.py"
    module.write_text(source)
    assert client_constructions(module) == expected


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
    ("", "def f(ctx):\n    e = ctx.env\n    return e\n", "2: reads ctx.env"),
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
    helm = clients.build(env).helm
    assert helm.environ is not None and not [k for k in helm.environ if k.startswith("C7N_")]


# ---- no mutable module-level state -------------------------------------------------------------
MUTABLE_CALLS = {"list", "dict", "set", "defaultdict", "OrderedDict", "deque", "Counter", "bytearray"}
MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem", "remove", "discard",
            "clear"}
MUTABLE_NODES = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


def _is_constant_name(name: str) -> bool:
    bare = name.strip("_")
    return (name.startswith("__") and name.endswith("__")) or (bare.isupper() and bare == bare.upper())


def _module_bindings(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.Assign):
            yield node, node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            yield node, [node.target], node.value


def _name_of(node) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def mutable_containers(tree: ast.Module) -> dict[str, int]:
    """Module-level names bound to a mutable container -> the line."""
    found = {}
    for node, targets, value in _module_bindings(tree):
        mutable = isinstance(value, MUTABLE_NODES) or (isinstance(value, ast.Call) and _callee(value) in MUTABLE_CALLS)
        found.update({t.id: node.lineno for t in targets if mutable and isinstance(t, ast.Name)})
    return found


def mutations(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    """Where one of `names` (bare, or as a module's attribute) is changed in place."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS \
                and _name_of(node.func.value) in names:
            found.append((node.lineno, f"{_name_of(node.func.value)}.{node.func.attr}()"))
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            inner = target.value if isinstance(target, ast.Subscript) else target if isinstance(node, ast.AugAssign) \
                else None
            if inner is not None and _name_of(inner) in names:
                found.append((node.lineno, f"{_name_of(inner)}[...] changed"))
    return found


def module_state(paths: list[Path]) -> dict[str, list[str]]:
    """Each module's mutable module-level state ("line: what"), the modules taken together (a constant
    of one may be mutated by another)."""
    trees = {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in paths}
    constants = {name for tree in trees.values() for name in mutable_containers(tree) if _is_constant_name(name)}
    out: dict[str, list[str]] = {}
    for path, tree in trees.items():
        found = [f"{line}: {name} is a mutable container" for name, line in mutable_containers(tree).items()
                 if not _is_constant_name(name)]
        classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
        found += [f"{node.lineno}: {t.id} is an instance of {_callee(value)}" for node, targets, value
                  in _module_bindings(tree) if isinstance(value, ast.Call) and _callee(value) in classes
                  for t in targets if isinstance(t, ast.Name)]
        found += [f"{n.lineno}: global {', '.join(n.names)}" for n in ast.walk(tree) if isinstance(n, ast.Global)]
        found += [f"{line}: {what}" for line, what in mutations(tree, constants)]
        if found:
            out[str(path)] = found
    return out


def test_no_module_holds_mutable_state():
    """The library, the plugin's modules and the suites: the run's state is in pytest's stash."""
    paths = library_modules() + suite_modules()
    offenders = {str(Path(k).relative_to(ROOT)): v for k, v in module_state(paths).items()}
    assert not offenders, f"mutable module-level state (keep it in the run's context or the stash): {offenders}"


@pytest.mark.parametrize("source, expected", [
    ("cache = {}\n", ["1: cache is a mutable container"]),
    ("_seen: set[str] = set()\n", ["1: _seen is a mutable container"]),
    ("pending = [x for x in range(3)]\n", ["1: pending is a mutable container"]),
    ("EARLY: list[str] = []\ndef say(line):\n    EARLY.append(line)\n", ["3: EARLY.append()"]),
    ("SEEN = {}\ndef keep(k):\n    SEEN[k] = 1\n", ["3: SEEN[...] changed"]),
    ("COUNT = [0]\ndef bump():\n    COUNT[0] += 1\n", ["3: COUNT[...] changed"]),
    ("NAMES = set()\ndef drop(k):\n    del NAMES[k]\n", ["3: NAMES[...] changed"]),
    ("class _H:\n    pass\nHANDLERS = _H()\n", ["3: HANDLERS is an instance of _H"]),
    ("PLAN = None\ndef load(p):\n    global PLAN\n    PLAN = p\n", ["3: global PLAN"]),
])
def test_the_state_checker_finds_state(tmp_path, source, expected):
    module = tmp_path / "synthetic.py"
    module.write_text(source)
    assert module_state([module]) == {str(module): expected}


def test_a_constant_mutated_from_another_module_is_state(tmp_path):
    (tmp_path / "a.py").write_text("OPTIONS = [1, 2]\n")
    (tmp_path / "b.py").write_text("from . import a\ndef more():\n    a.OPTIONS.append(3)\n")
    assert module_state([tmp_path / "a.py", tmp_path / "b.py"]) == {str(tmp_path / "b.py"): ["3: OPTIONS.append()"]}


def test_the_state_checker_leaves_constants_and_locals_alone(tmp_path):
    module = tmp_path / "clean.py"
    module.write_text("import re\nimport pytest\n__all__ = ['f']\nORDER = {'a': 0}\n_WORDS = ['x']\n"
                      "KEY = pytest.StashKey[dict]()\nPATTERN = re.compile('x')\nNAMES = ('a', 'b')\n"
                      "def f(items):\n    seen = {}\n    seen['a'] = ORDER['a']\n    out = []\n"
                      "    out.append(_WORDS[0])\n    return seen, out\n")
    assert module_state([module]) == {}
