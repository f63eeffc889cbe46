"""Reading an env file: NAME or path, ``${VAR}`` from the environment or a 0600 secrets file, validation."""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Collection, Optional

import yaml
from pydantic import ValidationError

from ..dotenv import DotenvError, dotenv_line, dotenv_value, parse_dotenv  # noqa: F401 (re-exported)
from .explain import describe_input, dotted_key, explain, fail
from .model import REQUIRED_FOR_CLUSTER, SECRET_KEYS, ConfigError, Env, display

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE_VAR_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
#: a secret key's variable is echoed in an error only when it looks like one (`Hunter2` may be a password)
_CONVENTIONAL_VAR_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
#: in place of a secret key's variable name that is no NAME_IN_CAPITALS (it may be the secret typed there)
HIDDEN_VAR = "a variable not shown (not a NAME_IN_CAPITALS: it may be the secret itself)"


def list_envs(envs_dir: Path) -> list[str]:
    """Names of the env files in ``envs_dir`` (sorted, without extension)."""
    envs_dir = Path(envs_dir)
    if not envs_dir.is_dir():
        return []
    names = {p.stem for p in envs_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()}
    return sorted(names)


def _looks_like_path(name_or_path: str) -> bool:
    return "/" in name_or_path or os.sep in name_or_path or name_or_path.endswith((".yaml", ".yml"))


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


MAX_ENV_BYTES = 1 << 20        # an env file is a page of settings, never a megabyte
MAX_ENV_NODES = 20_000         # YAML nodes after alias expansion (a "billion laughs" has 10^9)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document whose aliases expand beyond MAX_ENV_NODES nodes."""

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _expanded_size(node, {})
        return node


def _expanded_size(node, memo: dict) -> int:
    """Nodes in the document once every alias is expanded (each shared node counted once per use)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = MAX_ENV_NODES + 1  # a cycle expands without end
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        size = 1
    if size > MAX_ENV_NODES:
        raise ConfigError(f"its YAML expands to more than {MAX_ENV_NODES} values through aliases (&anchor/*alias): "
                          "an env file has no use for that many")
    memo[id(node)] = size
    return size


def read_yaml(path: Path) -> Any:
    """The YAML document of an env file, refused (ConfigError naming the file) when it is larger
    than MAX_ENV_BYTES or its aliases expand beyond MAX_ENV_NODES values."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(f"{display(path)}: cannot read it ({exc.strerror})") from exc
    if size > MAX_ENV_BYTES:
        raise ConfigError(f"{display(path)}: {size} bytes; an env file may have at most {MAX_ENV_BYTES}")
    with open(path, "rb") as fh:
        data = fh.read(MAX_ENV_BYTES + 1)
    if len(data) > MAX_ENV_BYTES:  # grew since stat, or not a regular file
        raise ConfigError(f"{display(path)}: more than {MAX_ENV_BYTES} bytes; an env file may have at most that")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{display(path)}: not UTF-8 text") from None
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except ConfigError as exc:
        raise ConfigError(f"{display(path)}: {exc}") from None
    finally:
        loader.dispose()


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
    if st.st_size > MAX_ENV_BYTES:
        raise ConfigError(f"secrets file {path}: {st.st_size} bytes; it may have at most {MAX_ENV_BYTES}")
    try:
        return parse_dotenv(path.read_text(encoding="utf-8"))
    except DotenvError as exc:
        raise ConfigError(f"secrets file {path}: {exc}") from None


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


def _variable(var: str, key: str) -> str:
    """How an error names the variable `key` refers to: a secret key's, only when it looks like one."""
    if key not in SECRET_KEYS or _CONVENTIONAL_VAR_RE.match(var):
        return f"environment variable {var}"
    return ("the environment variable it names (not shown: not a conventional NAME_IN_CAPITALS, it may be the "
            "secret itself typed in its place)")


def _shown_name(var: str, key: str) -> str:
    """The variable's name as an error may show it (a secret key's unconventional one is not shown)."""
    return var if key not in SECRET_KEYS or _CONVENTIONAL_VAR_RE.match(var) else HIDDEN_VAR


def load_env(name_or_path: str, envs_dir: Path, environ: Optional[dict[str, str]] = None,
             secrets_needed: Collection[str] = SECRET_KEYS) -> Env:
    """Load and validate an env file. ``environ`` defaults to ``os.environ``. Only the secret keys in
    ``secrets_needed`` must resolve (a read-only run asks for READ_ONLY_SECRETS); another secret key
    whose variable is not set is left out (None), so nothing can use it."""
    environ = os.environ if environ is None else environ
    path = resolve_env_path(str(name_or_path), Path(envs_dir))
    base = path.resolve().parent

    try:
        raw = read_yaml(path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise fail(path, [f"{where}YAML syntax error: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise fail(path, [f"YAML syntax error: {exc}"]) from None
    except OSError as exc:
        raise ConfigError(f"{display(path)}: cannot read it ({exc.strerror})") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise fail(path, [f"expected a mapping of keys at the top level, got {describe_input(raw)}"])
    raw.setdefault("name", path.stem)
    if "kube" in raw and raw["kube"] is None:  # `kube:` with every key commented out: the defaults
        raw["kube"] = {}

    problems: list[str] = []
    missing_vars: list[tuple[str, str]] = []

    # -- secrets_file first: it feeds the ${VAR} resolution ---------------------------------
    file_vars: dict[str, str] = {}
    secrets_file = raw.get("secrets_file")
    if secrets_file is not None:
        if not isinstance(secrets_file, str):
            problems.append(f"key 'secrets_file': expected a path, got {describe_input(secrets_file)}")
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

    for dotted in sorted(set(secrets_needed)):
        section, key = dotted.split(".")
        sect = raw.get(section)
        if isinstance(sect, dict) and key not in sect:
            problems.append(f"key '{dotted}': required for this run; write it as ${{C7N_...}} (see envs/prod.yaml)")

    # -- resolve ${VAR} in every string ------------------------------------------------------
    for spath, value in list(_walk_strings(raw)):
        if not _VAR_RE.search(value):
            continue
        missing: list[str] = []
        dotted = dotted_key(spath)

        def _sub(m: re.Match) -> str:
            var = m.group(1)
            if var in environ:
                return environ[var]
            if var in file_vars:
                return file_vars[var]
            missing.append(var)
            return ""

        resolved = _VAR_RE.sub(_sub, value)
        if (missing or not resolved) and dotted in SECRET_KEYS and dotted not in secrets_needed:
            del raw[spath[0]][spath[1]]  # not this run's: left out, so nothing can use it
            secret_vars.pop(dotted, None)
            continue
        missing_vars += [(dotted, _shown_name(var, dotted)) for var in missing]
        if not missing and dotted in SECRET_KEYS and not resolved:
            problems.append(f"key '{dotted}': {_variable(secret_vars.get(dotted, ''), dotted)} is empty")
        _set_path(raw, spath, resolved)
    where = f" or the secrets file {raw['secrets_file']}" if secrets_file else ""

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
    tls = helm.get("tls") if isinstance(helm, dict) else None
    for key in ("ca_cert", "cert", "key"):
        if isinstance(tls, dict) and isinstance(tls.get(key), str) and tls[key]:
            path = Path(os.path.expanduser(tls[key]))
            tls[key] = str(path if path.is_absolute() else base / path)
            if not Path(tls[key]).is_file():
                problems.append(f"key 'helm.tls.{key}': {tls[key]} is not a file")

    try:
        env = Env.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            key, what = explain(err)
            line = f"key '{key}': {what}" if key else what
            if line not in problems:
                problems.append(line)
        raise fail(path, problems, missing_vars, where) from None
    if problems or missing_vars:
        raise fail(path, problems, missing_vars, where)

    if not env.sandbox:
        for key in REQUIRED_FOR_CLUSTER:
            value = getattr(env, key)
            if value is None or value == []:
                problems.append(f"key '{key}': required for a real cluster (see envs/prod.yaml)")
        if problems:
            raise fail(path, problems)

    env._source = path
    env._secret_vars = secret_vars
    return env
