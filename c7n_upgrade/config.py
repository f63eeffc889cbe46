"""Env files (envs/*.yaml): one validated description of the cluster the suite works on.

Contract (shared/design.md, "Env file"): every key is documented in envs/prod.yaml.

* Any string value may name environment variables as ``${NAME}``; they are resolved from
  ``os.environ`` first, then from the optional ``secrets_file`` (a 0600 dotenv file).
* Secret-bearing keys (``*.admin_password``, ``*.password``, ``platform.client_secret``,
  ``platform.front_client_secret``) must be written as ``${NAME}``: secrets never sit in the file.
* Validation happens once, in :func:`load_env`; every problem becomes a :class:`ConfigError` whose
  message names the file, the dotted key and what was expected.

The library never reads pytest configuration: callers pass plain arguments.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_NAMESPACE = "choerodon-devops-prod"
DEFAULT_PLAN = "0.8-to-0.9"
DEFAULT_REPO_URL = "https://openchart.choerodon.com.cn/choerodon/c7n/"

#: dotted keys whose values are secrets: they must be given as ``${NAME}``.
SECRET_KEYS = frozenset(
    {
        "mysql.admin_password",
        "mysql.password",
        "platform.admin_password",
        "platform.client_secret",
        "platform.front_client_secret",
    }
)

#: keys a real (non-sandbox) env must give; the sandbox placeholder needs none of them.
REQUIRED_FOR_CLUSTER = (
    "mysql",
    "platform",
    "kafka",
    "zookeeper",
    "gateway_url",
    "front_url",
    "minio_url",
    "gitlab",
    "xwiki",
)

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE_VAR_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_HOSTPORT_RE = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


class ConfigError(Exception):
    """An env file that cannot be used. The message names the file, the key and what was expected."""

    def __init__(self, message: str, *, file: Optional[Path] = None, problems: Optional[list[str]] = None):
        super().__init__(message)
        self.file = file
        self.problems = problems or [message]


# --------------------------------------------------------------------------------------------
# models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=False)


class KubeConfig(_Strict):
    kubeconfig: Optional[str] = None  # resolved to an absolute path by load_env
    context: Optional[str] = None


class HelmConfig(_Strict):
    binary: str = "helm"
    repo_name: str = "c7n"
    repo_url: str = DEFAULT_REPO_URL
    tiller_namespace: str = "kube-system"


class MysqlConfig(_Strict):
    host: str
    port: int = Field(3306, ge=1, le=65535)
    service_host: Optional[str] = None  # as pods see it; defaults to host
    service_port: Optional[int] = Field(None, ge=1, le=65535)  # defaults to port
    admin_user: str = "root"
    admin_password: SecretStr
    user: str = "choerodon"
    password: SecretStr

    @model_validator(mode="after")
    def _service_defaults(self) -> "MysqlConfig":
        if self.service_host is None:
            self.service_host = self.host
        if self.service_port is None:
            self.service_port = self.port
        return self


class GitlabConfig(_Strict):
    url: str
    ssh_host: str
    ssh_port: int = Field(22, ge=1, le=65535)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v)


class PlatformConfig(_Strict):
    admin_user: str = "admin"
    admin_password: SecretStr
    client_id: str = "client"
    client_secret: SecretStr
    organization_id: int = 1
    front_client_secret: SecretStr  # secret of the OAuth client 'choerodon' the last step creates


class XwikiConfig(_Strict):
    host: str = "local://"  # a testinfra host spec: local://, ssh://node1, ...
    data_dir: str = "/data/data"
    # the unpacked repository-0.9.0-update/ on the same host: every file in it must be in extension/repository
    update_package: Optional[str] = None


class Timeouts(_Strict):
    step: int = Field(600, gt=0)  # seconds a step may take (helm call + rollout + health)
    http: float = Field(10.0, gt=0)  # seconds per HTTP request
    poll_max: float = Field(0.5, gt=0)  # the longest pause between two polls while waiting


class SandboxOptions(_Strict):
    """Defaults for a fresh sandbox (only meaningful when ``sandbox: true``)."""

    helm: Literal[2, 3] = 2
    faults: list[str] = Field(default_factory=list)  # RELEASE=KIND[:ARG]
    release_names: dict[str, str] = Field(default_factory=dict)  # DEFAULT: ACTUAL


def _check_url(v: str) -> str:
    if not re.match(r"^https?://[^/\s]+", v):
        raise ValueError("expected an http:// or https:// URL")
    return v


class Env(_Strict):
    name: str
    sandbox: bool = False
    sandbox_options: SandboxOptions = Field(default_factory=SandboxOptions)
    namespace: str = DEFAULT_NAMESPACE
    plan: str = DEFAULT_PLAN
    kube: KubeConfig = Field(default_factory=KubeConfig)
    access: Literal["direct", "proxy"] = "direct"
    helm: HelmConfig = Field(default_factory=HelmConfig)
    releases: dict[str, str] = Field(default_factory=dict)
    mysql: Optional[MysqlConfig] = None
    kafka: list[str] = Field(default_factory=list)
    zookeeper: list[str] = Field(default_factory=list)
    gateway_url: Optional[str] = None
    front_url: Optional[str] = None
    minio_url: Optional[str] = None
    gitlab: Optional[GitlabConfig] = None
    platform: Optional[PlatformConfig] = None
    xwiki: Optional[XwikiConfig] = None
    timeouts: Timeouts = Field(default_factory=Timeouts)
    secrets_file: Optional[str] = None

    _source: Optional[Path] = PrivateAttr(default=None)
    _secret_vars: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("gateway_url", "front_url", "minio_url")
    @classmethod
    def _urls(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else _check_url(v)

    @field_validator("kafka", "zookeeper")
    @classmethod
    def _hostports(cls, v: list[str]) -> list[str]:
        for item in v:
            if not _HOSTPORT_RE.match(item):
                raise ValueError(f"expected host:port entries, got {item!r}")
        return v

    # -- accessors -----------------------------------------------------------------------

    @property
    def source(self) -> Optional[Path]:
        """The file this env was loaded from (None when built in memory)."""
        return self._source

    @property
    def secret_vars(self) -> dict[str, str]:
        """Dotted secret key -> the environment variable it was read from."""
        return dict(self._secret_vars)

    def secrets(self) -> list[str]:
        """Every resolved secret value (non-empty), for the redactor."""
        out: list[str] = []
        for section in (self.mysql, self.platform):
            if section is None:
                continue
            for field_name in type(section).model_fields:
                value = getattr(section, field_name)
                if isinstance(value, SecretStr):
                    raw = value.get_secret_value()
                    if raw and raw not in out:
                        out.append(raw)
        return out

    def release_name(self, default: str) -> Optional[str]:
        """The actual release name pinned for ``default``; None means "find it by chart"."""
        return self.releases.get(default)

    def placeholders(self, step_database: Optional[str] = None) -> dict[str, Any]:
        """Values for the plan's ``{placeholders}``. Holds the MySQL password in clear: values files only."""
        if self.mysql is None:
            raise ConfigError(f"{_display(self._source)}: key 'mysql': required to fill the plan's values")
        return {
            "namespace": self.namespace,
            "mysql_service_host": self.mysql.service_host,
            "mysql_service_port": self.mysql.service_port,
            "mysql_user": self.mysql.user,
            "mysql_password": self.mysql.password.get_secret_value(),
            "database": step_database,
            "kafka_brokers": ",".join(self.kafka),
            "zookeeper_nodes": ",".join(self.zookeeper),
            "gitlab_ssh_host": self.gitlab.ssh_host if self.gitlab else None,
            "gateway_url": self.gateway_url,
            "minio_url": self.minio_url,
            "front_url": self.front_url,
        }


# --------------------------------------------------------------------------------------------
# loading


def list_envs(envs_dir: Path) -> list[str]:
    """Names of the env files in ``envs_dir`` (sorted, without extension)."""
    envs_dir = Path(envs_dir)
    if not envs_dir.is_dir():
        return []
    names = {p.stem for p in envs_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()}
    return sorted(names)


def _looks_like_path(name_or_path: str) -> bool:
    return "/" in name_or_path or os.sep in name_or_path or name_or_path.endswith((".yaml", ".yml"))


def _display(path: Optional[Path]) -> str:
    if path is None:
        return "<env>"
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def resolve_env_path(name_or_path: str, envs_dir: Path) -> Path:
    """NAME -> envs_dir/NAME.yaml; a path -> that file. ConfigError when there is none."""
    envs_dir = Path(envs_dir)
    if _looks_like_path(str(name_or_path)):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"env file '{name_or_path}' not found")
        return path
    for suffix in (".yaml", ".yml"):
        path = envs_dir / f"{name_or_path}{suffix}"
        if path.is_file():
            return path
    known = list_envs(envs_dir)
    raise ConfigError(
        f"unknown env '{name_or_path}'; known envs: {', '.join(known) if known else '(none)'}"
        f" (or give a path to a YAML file)"
    )


def read_secrets_file(path: Path) -> dict[str, str]:
    """Parse a dotenv file (``NAME=value`` lines). Refused when group or others may access it."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"secrets file {path}: cannot read it ({exc.strerror})") from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secrets file {path}: mode {stat.S_IMODE(st.st_mode):04o} lets group/others access it;"
            f" run: chmod 600 {path}"
        )
    out: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            # never echo the line: it may hold a secret
            raise ConfigError(f"secrets file {path}: line {lineno}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def _walk_strings(data: Any, path: tuple = ()):
    """Yield (path, value) for every string leaf of a YAML tree."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _walk_strings(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _walk_strings(v, path + (i,))
    elif isinstance(data, str):
        yield path, data


def _set_path(data: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe_input(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_WORDS = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def _model_at(loc: tuple) -> Optional[type[BaseModel]]:
    """The model class reached by following ``loc`` from Env (for listing allowed keys)."""
    import typing

    model: Any = Env
    for part in loc:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        model = args[0] if args and typing.get_origin(ann) is not None else ann
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _explain(err: dict) -> tuple[str, str]:
    loc = tuple(err.get("loc", ()))
    key = _dotted(loc)
    etype = err.get("type", "")
    secret = key in SECRET_KEYS
    got = "" if secret else f", got {_describe_input(err.get('input'))}"
    if etype == "missing":
        return key, "required key is missing"
    if etype == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = f" (allowed keys here: {', '.join(parent.model_fields)})" if parent else ""
        return key, f"unknown key{allowed}"
    if etype == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return key, f"expected {expected}{got}"
    if etype in _TYPE_WORDS:
        return key, f"expected {_TYPE_WORDS[etype]}{got}"
    if etype in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return key, f"{err.get('msg', '').replace('Input should be', 'expected a value')}{got}"
    if etype == "value_error":
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        return key, msg if "got" in msg else f"{msg}{got}"
    msg = str(err.get("msg", "invalid value"))
    return key, f"{msg[0].lower() + msg[1:] if msg else msg}{got}"


def _fail(path: Path, problems: list[str]) -> ConfigError:
    shown = _display(path)
    lines = [f"{shown}: {p}" for p in problems]
    return ConfigError("\n".join(lines), file=path, problems=problems)


def load_env(name_or_path: str, envs_dir: Path, environ: Optional[dict[str, str]] = None) -> Env:
    """Load and validate an env file. ``environ`` defaults to ``os.environ``."""
    environ = os.environ if environ is None else environ
    path = resolve_env_path(str(name_or_path), Path(envs_dir))
    base = path.resolve().parent

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise _fail(path, [f"{where}YAML syntax error: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise _fail(path, [f"YAML syntax error: {exc}"]) from None
    except OSError as exc:
        raise ConfigError(f"{_display(path)}: cannot read it ({exc.strerror})") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(path, [f"expected a mapping of keys at the top level, got {_describe_input(raw)}"])
    raw.setdefault("name", path.stem)

    problems: list[str] = []

    # -- secrets_file first: it feeds the ${VAR} resolution ---------------------------------
    file_vars: dict[str, str] = {}
    secrets_file = raw.get("secrets_file")
    if secrets_file is not None:
        if not isinstance(secrets_file, str):
            problems.append(f"key 'secrets_file': expected a path, got {_describe_input(secrets_file)}")
        else:
            sf = Path(os.path.expanduser(secrets_file))
            sf = sf if sf.is_absolute() else base / sf
            raw["secrets_file"] = str(sf)
            try:
                file_vars = read_secrets_file(sf)
            except ConfigError as exc:
                problems.append(f"key 'secrets_file': {exc}")

    # -- secret keys must be ${NAME} ----------------------------------------------------------
    secret_vars: dict[str, str] = {}
    for dotted in sorted(SECRET_KEYS):
        section, key = dotted.split(".")
        sect = raw.get(section)
        if not isinstance(sect, dict) or key not in sect:
            continue
        value = sect[key]
        m = _WHOLE_VAR_RE.match(value) if isinstance(value, str) else None
        if not m:
            problems.append(
                f"key '{dotted}': expected an environment variable reference like"
                f" ${{C7N_{section.upper()}_{key.upper()}}}; secrets never sit in the file"
            )
            sect[key] = ""  # keep the literal out of any later message
        else:
            secret_vars[dotted] = m.group(1)

    # -- resolve ${VAR} in every string ------------------------------------------------------
    for spath, value in list(_walk_strings(raw)):
        if not _VAR_RE.search(value):
            continue
        missing: list[str] = []

        def _sub(m: re.Match) -> str:
            var = m.group(1)
            if var in environ:
                return environ[var]
            if var in file_vars:
                return file_vars[var]
            missing.append(var)
            return ""

        resolved = _VAR_RE.sub(_sub, value)
        for var in missing:
            where = f" or the secrets file {raw['secrets_file']}" if secrets_file else ""
            problems.append(
                f"key '{_dotted(spath)}': environment variable {var} is not set"
                f" (set it in the environment{where})"
            )
        if not missing and _dotted(spath) in SECRET_KEYS and not resolved:
            problems.append(f"key '{_dotted(spath)}': environment variable {secret_vars.get(_dotted(spath))} is empty")
        _set_path(raw, spath, resolved)

    # -- relative paths are relative to the env file ---------------------------------------
    kube = raw.get("kube")
    if isinstance(kube, dict) and isinstance(kube.get("kubeconfig"), str) and kube["kubeconfig"]:
        kc = Path(os.path.expanduser(kube["kubeconfig"]))
        kube["kubeconfig"] = str(kc if kc.is_absolute() else base / kc)
    helm = raw.get("helm")
    if isinstance(helm, dict) and isinstance(helm.get("binary"), str):
        binary = os.path.expanduser(helm["binary"])
        if "/" in binary and not os.path.isabs(binary):
            binary = str(base / binary)
        helm["binary"] = binary

    try:
        env = Env.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            key, what = _explain(err)
            line = f"key '{key}': {what}" if key else what
            if line not in problems:
                problems.append(line)
        raise _fail(path, problems) from None
    if problems:
        raise _fail(path, problems)

    if not env.sandbox:
        for key in REQUIRED_FOR_CLUSTER:
            value = getattr(env, key)
            if value is None or value == []:
                problems.append(f"key '{key}': required for a real cluster (see envs/prod.yaml)")
        if problems:
            raise _fail(path, problems)

    env._source = path
    env._secret_vars = secret_vars
    return env
