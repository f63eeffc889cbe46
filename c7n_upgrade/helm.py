"""Driving a real ``helm`` binary, Helm 2 (Tiller, as in the guide's era) or Helm 3.

The dialect is detected once (``helm version --short --client``) and every command is built for it;
see shared/reference/helm-cli-contract.md. The v2 flag traps are handled here and nowhere else:

* ``list -o`` is ``--offset`` in v2: always ``--output json``;
* ``install -n`` is ``--name`` in v2: v2 installs with ``--name R --namespace NS``;
* ``get values`` has no ``-o`` in v2: ``--output json``;
* ``--timeout`` is a Go duration in v3 (``600s``) and integer seconds in v2 (``600``).

Values only ever reach helm through files (``-f``), written with mode 0600 and removed after use:
never ``--set``, so no password shows up in ``ps`` or in a shell history.

The parsers are pure functions of helm's output, so they can be tested on golden files.
"""
from __future__ import annotations

import copy
import difflib
import json
import os
import re
import secrets as _secrets
import shlex
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import yaml

# --------------------------------------------------------------------------------------------
# results and errors


@dataclass
class CommandResult:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def output(self) -> str:
        """stdout and stderr together, for a report attachment."""
        parts = [p for p in (self.stdout, self.stderr) if p]
        return "\n".join(p.rstrip("\n") for p in parts)


def error_line(result: CommandResult) -> str:
    """The ``Error: ...`` line helm printed, or the last non-empty line of its output."""
    for stream in (result.stderr, result.stdout):
        for line in (stream or "").splitlines():
            if line.startswith("Error:"):
                return line.strip()
    for stream in (result.stderr, result.stdout):
        lines = [ln.strip() for ln in (stream or "").splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    return "(no output)"


class HelmError(Exception):
    """A helm command that failed. ``result`` holds argv, exit code and output."""

    def __init__(self, result: CommandResult, message: Optional[str] = None):
        self.result = result
        if message is None:
            message = f"`{command_line(result.argv)}` exited {result.exit_code}: {error_line(result)}"
        super().__init__(message)

    @property
    def not_found(self) -> bool:
        text = f"{self.result.stderr}\n{self.result.stdout}"
        return bool(re.search(r"release: (\"[^\"]*\" )?not found", text))


class HelmParseError(ValueError):
    """Helm printed something the parser does not understand."""


def command_line(argv: Sequence[Any]) -> str:
    """The argv as one shell-quoted line, for the report."""
    return shlex.join(str(a) for a in argv)


# --------------------------------------------------------------------------------------------
# parsed data


@dataclass(frozen=True)
class ChartVersion:
    name: str  # repo/chart
    version: str
    app_version: str = ""
    description: str = ""


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    revision: int
    status: str  # helm 3 vocabulary, lower case: deployed, failed, pending-upgrade, ...
    chart: str  # name-version
    chart_name: str
    chart_version: str
    app_version: str = ""
    updated: str = ""


@dataclass(frozen=True)
class ReleaseStatus:
    name: str
    namespace: str
    status: str
    revision: Optional[int] = None  # helm 2's status JSON has no revision
    description: str = ""


#: Helm 2 ``info.status.code`` -> the Helm 3 word (the enums line up one to one).
V2_STATUS_CODES = {
    0: "unknown",
    1: "deployed",
    2: "uninstalled",
    3: "superseded",
    4: "failed",
    5: "uninstalling",
    6: "pending-install",
    7: "pending-upgrade",
    8: "pending-rollback",
}
_V2_WORDS = {"deleted": "uninstalled", "deleting": "uninstalling"}


def normalize_status(status: Any) -> str:
    """A helm 2 or 3 status (word or v2 code) as a lower-case helm 3 word."""
    if status is None or status == "":
        return "unknown"
    if isinstance(status, bool):
        raise HelmParseError(f"unexpected release status {status!r}")
    if isinstance(status, int):
        return V2_STATUS_CODES.get(status, "unknown")
    word = str(status).strip().lower().replace("_", "-")
    if word.isdigit():
        return V2_STATUS_CODES.get(int(word), "unknown")
    return _V2_WORDS.get(word, word)


_SEMVER_RE = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.\-]+)?(?:\+[0-9A-Za-z.\-]+)?$")


def split_chart(chart: str) -> tuple[str, str]:
    """``go-register-server-0.9.0`` -> (``go-register-server``, ``0.9.0``).

    The split is at the first ``-`` whose remainder is a full semantic version (so
    ``foo-0.1.0-beta.1`` keeps its pre-release), else at the last ``-`` followed by a digit.
    """
    positions = [m.start() for m in re.finditer(r"-(?=\d|v\d)", chart)]
    for pos in positions:
        if _SEMVER_RE.match(chart[pos + 1:]):
            return chart[:pos], chart[pos + 1:]
    if positions:
        pos = positions[-1]
        return chart[:pos], chart[pos + 1:]
    return chart, ""


# --------------------------------------------------------------------------------------------
# pure parsers


def _load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HelmParseError(f"helm {what}: expected JSON, got {text.strip()[:200]!r} ({exc})") from None


def parse_version(text: str) -> tuple[int, str]:
    """``Client: v2.17.0+ga690bad`` / ``v3.19.5+g...`` / ``version.BuildInfo{Version:"v3.19"...}``
    -> (major, full version string)."""
    m = re.search(r"\bv(\d+)\.[0-9A-Za-z.+\-]*", text or "")
    if not m:
        raise HelmParseError(f"cannot find a helm version in {text.strip()[:200]!r}")
    return int(m.group(1)), m.group(0)


def parse_list_json(text: str, dialect: int) -> list[Release]:
    """``helm list`` JSON (v3: an array; v2: {"Releases": [...]}, or nothing at all)."""
    text = (text or "").strip()
    if not text:
        return []
    data = _load_json(text, "list")
    if data is None:
        return []
    if dialect >= 3:
        if not isinstance(data, list):
            raise HelmParseError(f"helm list: expected a JSON array, got {text[:200]!r}")
        items, keys = data, ("name", "namespace", "revision", "status", "chart", "app_version", "updated")
    else:
        if not isinstance(data, dict):
            raise HelmParseError(f"helm list: expected a JSON object with Releases, got {text[:200]!r}")
        items = data.get("Releases") or []
        keys = ("Name", "Namespace", "Revision", "Status", "Chart", "AppVersion", "Updated")  # Helm 2 capitalises
    out: list[Release] = []
    for item in items:
        name_k, ns_k, rev_k, status_k, chart_k, app_k, updated_k = keys
        chart = str(item.get(chart_k, ""))
        chart_name, chart_version = split_chart(chart)
        out.append(Release(
            name=item[name_k], namespace=item.get(ns_k, ""), revision=int(item.get(rev_k) or 0),
            status=normalize_status(item.get(status_k)), chart=chart, chart_name=chart_name,
            chart_version=chart_version, app_version=str(item.get(app_k) or ""),
            updated=str(item.get(updated_k) or ""),
        ))
    return out


def parse_repo_list(text: str, dialect: int) -> dict[str, str]:
    """`helm repo list`: v3 `-o json` ([{"name","url"}]) or the v2 table (NAME  URL)."""
    if dialect >= 3:
        return {r["name"]: r["url"] for r in (json.loads(text) if text.strip() else [])}
    repos = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            repos[parts[0]] = parts[1]
    return repos


def parse_search_json(text: str, dialect: int) -> list[ChartVersion]:
    """``helm search`` JSON (v3 lower-case keys; v2 capitalised keys, ``null`` for no result)."""
    text = (text or "").strip()
    if not text:
        return []
    data = _load_json(text, "search")
    if data is None:
        return []
    if not isinstance(data, list):
        raise HelmParseError(f"helm search: expected a JSON array, got {text[:200]!r}")
    out = []
    for item in data:
        if dialect >= 3:
            out.append(
                ChartVersion(
                    name=item["name"],
                    version=str(item.get("version", "")),
                    app_version=str(item.get("app_version") or ""),
                    description=str(item.get("description") or ""),
                )
            )
        else:
            out.append(
                ChartVersion(
                    name=item["Name"],
                    version=str(item.get("Version", "")),
                    app_version=str(item.get("AppVersion") or ""),
                    description=str(item.get("Description") or ""),
                )
            )
    return out


def parse_status_json(text: str, dialect: int) -> ReleaseStatus:
    """``helm status -o json`` (v3) / ``--output json`` (v2: integer ``info.status.code``, no revision)."""
    data = _load_json((text or "").strip(), "status")
    if not isinstance(data, dict):
        raise HelmParseError(f"helm status: expected a JSON object, got {str(text)[:200]!r}")
    info = data.get("info") or {}
    if dialect >= 3:
        revision = data.get("version")
        return ReleaseStatus(
            name=data.get("name", ""),
            namespace=data.get("namespace", ""),
            status=normalize_status(info.get("status")),
            revision=int(revision) if revision is not None else None,
            description=str(info.get("description") or ""),
        )
    status = info.get("status") or {}
    code = status.get("code", 0) if isinstance(status, dict) else status
    revision = data.get("version")
    return ReleaseStatus(
        name=data.get("name", ""),
        namespace=data.get("namespace", ""),
        status=normalize_status(code if code is not None else 0),
        revision=int(revision) if revision is not None else None,
        description=str(info.get("Description") or info.get("description") or ""),
    )


_VALUES_HEADERS = ("USER-SUPPLIED VALUES:", "COMPUTED VALUES:")


def parse_values(text: str) -> dict:
    """``helm get values`` output as a dict: JSON or YAML; ``null``, ``{}`` and nothing -> {}.

    The table form's header line (``USER-SUPPLIED VALUES:``) is tolerated, though the client never
    asks for that form.
    """
    text = (text or "").strip()
    lines = text.splitlines()
    if lines and lines[0].strip() in _VALUES_HEADERS:
        text = "\n".join(lines[1:]).strip()
    if not text or text == "null":
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise HelmParseError(f"helm get values: neither JSON nor YAML: {text[:200]!r} ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HelmParseError(f"helm get values: expected a mapping, got {text[:200]!r}")
    return data


# --------------------------------------------------------------------------------------------
# values helpers


def _split_dotted(key: str) -> list[str]:
    """``env.open.X`` -> [env, open, X]; a backslash keeps a dot (``kubernetes\\.io``)."""
    parts, cur, escape = [], [], False
    for ch in key:
        if escape:
            cur.append(ch)
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == ".":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    if any(p == "" for p in parts):
        raise ValueError(f"invalid dotted key {key!r}")
    return parts


def dotted_to_nested(flat: Mapping[str, Any]) -> dict:
    """``{"env.open.X": 1}`` -> ``{"env": {"open": {"X": 1}}}`` (nested dict values are merged)."""
    out: dict = {}
    for key, value in flat.items():
        parts = _split_dotted(str(key))
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ValueError(f"key {key!r} conflicts with the value at {'.'.join(parts[: i + 1])!r}")
            node = nxt
        last = parts[-1]
        if isinstance(value, Mapping):
            value = dotted_to_nested(value)
            if isinstance(node.get(last), dict):
                node[last] = deep_merge(node[last], value)
                continue
        elif last in node and isinstance(node[last], dict):
            raise ValueError(f"key {key!r} conflicts with nested keys under it")
        node[last] = copy.deepcopy(value)
    return out


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict:
    """A new dict: ``overlay`` over ``base``, mappings merged recursively, anything else replaced
    (lists too), as helm merges several ``-f`` files. Neither input is changed."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _dump_yaml(values: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(values), default_flow_style=False, sort_keys=True, allow_unicode=True)


def values_diff(old: Mapping[str, Any], new: Mapping[str, Any], *, old_label="current values",
                new_label="new values") -> str:
    """Unified diff of the two value sets as sorted YAML ("" when equal). May contain secrets:
    redact before showing it."""
    a = _dump_yaml(old or {}).splitlines(keepends=True) if old else []
    b = _dump_yaml(new or {}).splitlines(keepends=True) if new else []
    return "".join(difflib.unified_diff(a, b, fromfile=old_label, tofile=new_label))


def write_values_file(values: Mapping[str, Any], dir: Optional[os.PathLike | str] = None) -> Path:
    """Write ``values`` as YAML to a new file readable by its owner only (0600). The caller removes it."""
    directory = Path(dir) if dir is not None else Path(tempfile.gettempdir())
    text = _dump_yaml(values or {})
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = directory / f"c7n-values-{_secrets.token_hex(8)}.yaml"
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, 0o600)  # whatever the umask did
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        except BaseException:
            try:
                os.unlink(path)
            finally:
                raise
        return path
    raise OSError(f"cannot create a values file in {directory}")


@contextmanager
def values_file(values: Mapping[str, Any], dir: Optional[os.PathLike | str] = None) -> Iterator[Path]:
    """``with values_file(v) as path:`` a 0600 YAML file that is removed afterwards, whatever happens."""
    path = write_values_file(values, dir)
    try:
        yield path
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------------------------
# the client

Runner = Callable[[list[str], Optional[dict]], CommandResult]


class SubprocessRunner:
    """The default runner: ``subprocess.run`` with a timeout; never raises for a failed command."""

    def __init__(self, timeout: float = 900.0):
        self.timeout = timeout

    def __call__(self, argv: list[str], env: Optional[dict] = None, timeout: Optional[float] = None) -> CommandResult:
        limit = timeout or self.timeout
        start = time.monotonic()
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=limit,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return CommandResult(list(argv), 124, out,
                                 f"{err}Error: helm did not finish within {limit:.0f}s and was killed\n",
                                 time.monotonic() - start)
        except FileNotFoundError:
            return CommandResult(list(argv), 127, "", f"Error: helm binary {argv[0]!r} not found\n",
                                 time.monotonic() - start)
        except PermissionError:
            return CommandResult(list(argv), 126, "", f"Error: helm binary {argv[0]!r} is not executable\n",
                                 time.monotonic() - start)
        return CommandResult(list(argv), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


class HelmClient:
    """Runs helm for one namespace. Methods return parsed data and raise :class:`HelmError`."""

    def __init__(
        self,
        binary: str = "helm",
        *,
        namespace: str,
        kube_context: Optional[str] = None,
        kubeconfig: Optional[str | os.PathLike] = None,
        tiller_namespace: str = "kube-system",
        runner: Optional[Runner] = None,
        env: Optional[Mapping[str, str]] = None,
        run: Optional[Runner] = None,
        dialect: Optional[int] = None,
        on_result: Optional[Callable[[CommandResult], None]] = None,
    ):
        self.binary = str(binary)
        self.namespace = namespace
        self.kube_context = kube_context
        self.kubeconfig = str(kubeconfig) if kubeconfig else None
        self.tiller_namespace = tiller_namespace
        self.runner: Runner = runner or run or SubprocessRunner()
        self.env = dict(env) if env else None
        self.on_result = on_result  # called after every command (e.g. to log it)
        self._dialect: Optional[int] = dialect
        self.version_string: Optional[str] = None

    # -- running -----------------------------------------------------------------------------

    def _environ(self) -> Optional[dict]:
        if not self.env:
            return None
        merged = dict(os.environ)
        merged.update(self.env)
        return merged

    def run(self, args: Sequence[str], *, timeout: Optional[float] = None, check: bool = True) -> CommandResult:
        """Run ``helm ARGS`` (no global flags added). Raises HelmError when check and it fails."""
        argv = [self.binary, *map(str, args)]
        if isinstance(self.runner, SubprocessRunner):
            result = self.runner(argv, self._environ(), timeout=timeout)
        else:
            result = self.runner(argv, self._environ())
        if self.on_result is not None:
            self.on_result(result)
        if check and result.exit_code != 0:
            raise HelmError(result)
        return result

    def _cluster_flags(self) -> list[str]:
        flags: list[str] = []
        if self.kube_context:
            flags += ["--kube-context", self.kube_context]
        if self.kubeconfig:
            flags += ["--kubeconfig", self.kubeconfig]
        if self.dialect() == 2 and self.tiller_namespace:
            flags += ["--tiller-namespace", self.tiller_namespace]
        return flags

    @staticmethod
    def command_line(argv: Sequence[Any]) -> str:
        return command_line(argv)

    # -- version -----------------------------------------------------------------------------

    def dialect(self) -> int:
        """2 or 3 (Helm 4 and later speak the v3 CLI here), detected once and cached."""
        if self._dialect is None:
            result = self.run(["version", "--short", "--client"], check=False, timeout=60)
            if result.exit_code != 0 and "unknown flag" in f"{result.stderr}{result.stdout}":
                result = self.run(["version", "--short"], check=False, timeout=60)
            if result.exit_code != 0:
                raise HelmError(result, f"cannot tell the helm version: `{command_line(result.argv)}`"
                                        f" exited {result.exit_code}: {error_line(result)}")
            try:
                major, full = parse_version(result.stdout or result.stderr)
            except HelmParseError as exc:
                raise HelmError(result, str(exc)) from None
            if major < 2:
                raise HelmError(result, f"helm {full} is too old: need Helm 2 or 3")
            self.version_string = full
            self._dialect = 2 if major == 2 else 3
        return self._dialect

    # -- repositories and charts -------------------------------------------------------------

    def repo_add(self, name: str, url: str) -> CommandResult:
        return self.run(["repo", "add", name, url])

    def repo_url(self, name: str) -> Optional[str]:
        """The URL of the configured repository `name`, or None when helm has no such repository."""
        args = ["repo", "list", "-o", "json"] if self.dialect() >= 3 else ["repo", "list"]
        result = self.run(args, check=False)
        if result.exit_code != 0:
            if "no repositories" in result.stderr:
                return None
            raise HelmError(result)
        return parse_repo_list(result.stdout, self.dialect()).get(name)

    def repo_update(self) -> CommandResult:
        return self.run(["repo", "update"], timeout=300)

    def search_versions(self, chart_ref: str) -> list[ChartVersion]:
        """Every version of ``chart_ref`` (``repo/chart``) the repositories offer, as helm lists them."""
        if self.dialect() >= 3:
            args = ["search", "repo", chart_ref, "--versions", "-o", "json"]
        else:
            args = ["search", chart_ref, "-l", "--output", "json"]
        found = parse_search_json(self.run(args).stdout, self.dialect())
        if "/" in chart_ref:
            found = [c for c in found if c.name == chart_ref]
        return found

    # -- releases ----------------------------------------------------------------------------

    def list_args(self, all_namespaces: bool = False) -> list[str]:
        if self.dialect() >= 3:
            scope = ["-A"] if all_namespaces else ["-n", self.namespace]
            return ["list", *scope, "-o", "json", "--all", *self._cluster_flags()]
        scope = [] if all_namespaces else ["--namespace", self.namespace]
        return ["list", *scope, "--output", "json", "--all", *self._cluster_flags()]

    def list_releases(self, all_namespaces: bool = False) -> list[Release]:
        """Every release (failed and pending ones too) of the namespace, or of all namespaces."""
        return parse_list_json(self.run(self.list_args(all_namespaces)).stdout, self.dialect())

    def get_values(self, release: str) -> dict:
        """The release's user-supplied values (what the guide's ``helm get values R`` gives)."""
        if self.dialect() >= 3:
            args = ["get", "values", release, "-n", self.namespace, "-o", "json"]
        else:
            args = ["get", "values", release, "--output", "json"]
        return parse_values(self.run([*args, *self._cluster_flags()]).stdout)

    def status(self, release: str) -> ReleaseStatus:
        if self.dialect() >= 3:
            args = ["status", release, "-n", self.namespace, "-o", "json"]
        else:
            args = ["status", release, "--output", "json"]
        return parse_status_json(self.run([*args, *self._cluster_flags()]).stdout, self.dialect())

    # -- writes ------------------------------------------------------------------------------

    def _timeout_flag(self, timeout_s: int) -> list[str]:
        seconds = int(timeout_s)
        return ["--timeout", f"{seconds}s" if self.dialect() >= 3 else str(seconds)]

    @staticmethod
    def _values_flags(values_files: Sequence[os.PathLike | str]) -> list[str]:
        flags: list[str] = []
        for path in values_files:
            flags += ["-f", str(path)]
        return flags

    def upgrade_argv(self, release: str, chart_ref: str, *, version: str,
                     values_files: Sequence[os.PathLike | str] = (), timeout_s: int = 600,
                     dry_run: bool = False) -> list[str]:
        """The full argv of an upgrade (also what ``--dry-run`` of the suite prints)."""
        args = ["upgrade", release, chart_ref, "--version", version, *self._values_flags(values_files),
                *self._timeout_flag(timeout_s)]
        if self.dialect() >= 3:
            args += ["--namespace", self.namespace]
        if dry_run:
            args.append("--dry-run")
        return [self.binary, *args, *self._cluster_flags()]

    def install_argv(self, release: str, chart_ref: str, *, version: str,
                     values_files: Sequence[os.PathLike | str] = (), timeout_s: int = 600,
                     dry_run: bool = False) -> list[str]:
        if self.dialect() >= 3:
            args = ["install", release, chart_ref, "-n", self.namespace]
        else:
            args = ["install", chart_ref, "--name", release, "--namespace", self.namespace]
        args += ["--version", version, *self._values_flags(values_files), *self._timeout_flag(timeout_s)]
        if dry_run:
            args.append("--dry-run")
        return [self.binary, *args, *self._cluster_flags()]

    def build_argv(self, action: str, release: str, chart_ref: str, **kwargs: Any) -> list[str]:
        """``upgrade_argv`` or ``install_argv`` by name (``action`` is "upgrade" or "install")."""
        if action == "upgrade":
            return self.upgrade_argv(release, chart_ref, **kwargs)
        if action == "install":
            return self.install_argv(release, chart_ref, **kwargs)
        raise ValueError(f"unknown helm action {action!r}: expected 'upgrade' or 'install'")

    def upgrade(self, release: str, chart_ref: str, *, version: str,
                values_files: Sequence[os.PathLike | str] = (), timeout_s: int = 600,
                dry_run: bool = False) -> CommandResult:
        argv = self.upgrade_argv(release, chart_ref, version=version, values_files=values_files,
                                 timeout_s=timeout_s, dry_run=dry_run)
        return self.run(argv[1:], timeout=int(timeout_s) + 120)

    def install(self, release: str, chart_ref: str, *, version: str,
                values_files: Sequence[os.PathLike | str] = (), timeout_s: int = 600,
                dry_run: bool = False) -> CommandResult:
        argv = self.install_argv(release, chart_ref, version=version, values_files=values_files,
                                 timeout_s=timeout_s, dry_run=dry_run)
        return self.run(argv[1:], timeout=int(timeout_s) + 120)
