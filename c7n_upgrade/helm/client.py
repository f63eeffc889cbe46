"""HelmClient: runs helm for one namespace, building every command for the detected dialect."""
from __future__ import annotations

import math
import os
import re
from typing import Any, Callable, Mapping, Optional, Sequence

from ..bounds import Breaker
from .parsers import (ChartVersion, Release, parse_list_json, parse_repo_list, parse_search_json,
                      parse_values, parse_version)
from .results import CommandResult, HelmDialectMismatch, HelmError, HelmParseError, command_line, error_line
from .runner import SubprocessRunner

Runner = Callable[[list[str], Optional[dict]], CommandResult]


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
        environ: Optional[Mapping[str, str]] = None,
        timeout: float = 120.0,
        dialect: Optional[int] = None,
    ):
        self.binary = str(binary)
        self.namespace = namespace
        self.kube_context = kube_context
        self.kubeconfig = str(kubeconfig) if kubeconfig else None
        self.tiller_namespace = tiller_namespace
        self.timeout = float(timeout)  # seconds per call; an upgrade/install gets its --timeout more
        self.runner: Runner = runner or SubprocessRunner(self.timeout)
        self.env = dict(env) if env else None
        # the environment helm runs in (None: this process's); the wiring gives one without secrets
        self.environ = dict(environ) if environ is not None else None
        self.breaker = Breaker(cooldown=self.timeout)
        #: called before every write (upgrade/install); raises to stop it (the upgrade lock's check)
        self.before_write: Optional[Callable[[str], None]] = None
        #: hears about each write's helm child: (pid, argv) once started, (None, argv) once ended
        self.on_write_child: Optional[Callable[[Optional[int], list[str]], None]] = None
        self._dialect: Optional[int] = dialect
        self.dialect_stated = dialect is not None  # the env says it: never asked, a contrary answer is an error
        self.version_string: Optional[str] = None  # e.g. v2.17.0+ga690bad, as parsed
        self.version_output: str = ""                # what `helm version` printed

    # -- running -----------------------------------------------------------------------------

    def _environ(self) -> Optional[dict]:
        if not self.env and self.environ is None:
            return None
        merged = dict(os.environ if self.environ is None else self.environ)
        merged.update(self.env or {})
        return merged

    @property
    def on_progress(self) -> Optional[Callable[[str], None]]:
        return getattr(self.runner, "on_progress", None)

    @on_progress.setter
    def on_progress(self, callback: Optional[Callable[[str], None]]) -> None:
        """Where "still running after Ns" lines go while a helm call runs (the terminal)."""
        if isinstance(self.runner, SubprocessRunner):
            self.runner.on_progress = callback

    def run(self, args: Sequence[str], *, timeout: Optional[float] = None, check: bool = True,
            write: bool = False) -> CommandResult:
        """Run ``helm ARGS`` (no global flags added) within `timeout` (default: the client's).
        Raises HelmError when check and it fails; at once while an earlier call's hang is recent."""
        argv = [self.binary, *map(str, args)]
        hung = self.breaker.open_message()
        if hung:
            raise HelmError(CommandResult(argv, 124, "", f"Error: {hung}\n"), hung)
        if isinstance(self.runner, SubprocessRunner):
            heard = self.on_write_child if write else None
            on_child = None if heard is None else (lambda pid: heard(pid, argv))
            result = self.runner(argv, self._environ(), timeout=timeout or self.timeout, on_child=on_child)
        else:
            result = self.runner(argv, self._environ())
        if result.exit_code == 124 and "(helm hung)" in result.stderr:
            self.breaker.trip(f"helm hung: `{command_line(argv[:3])} ...` did not finish within "
                              f"{timeout or self.timeout:.0f}s")
        if check and result.exit_code != 0:
            mismatch = self._dialect_mismatch(result)
            raise HelmDialectMismatch(result, mismatch) if mismatch else HelmError(result)
        return result

    #: what the other dialect says to this one's command lines (real helm's words)
    _OTHER_DIALECT = {2: ("unknown flag: --tiller-namespace", "unknown flag: --name", 'unknown command "init"'),
                      3: ("could not find tiller", "unknown shorthand flag: 'n'", "unknown shorthand flag: 'o'",
                          "unknown flag: --all-namespaces")}

    def _parses_as_other(self, text: str) -> bool:
        """Whether `helm list` output has the other dialect's shape (not merely an unreadable one)."""
        try:
            parse_list_json(text, 3 if self._dialect == 2 else 2)
            return True
        except (HelmParseError, KeyError, TypeError, ValueError):
            return False

    def _dialect_mismatch(self, result: CommandResult, *, other_shape: bool = False) -> Optional[str]:
        """When the env states the dialect and helm answers as the other one (its error words, or output
        of the other dialect's shape): the one cause, else None."""
        said = f"{result.stdout}{result.stderr}"
        if not self.dialect_stated or not (other_shape or any(s in said for s in self._OTHER_DIALECT[self._dialect])):
            return None
        other = 3 if self._dialect == 2 else 2
        what = error_line(result) if result.exit_code else "its output has the other dialect's shape"
        return (f"the env states helm.dialect: {self._dialect}, but {self.binary} answers as Helm {other} "
                f"(`{command_line(result.argv[:3])} ...`: {what}); set helm.dialect: {other}, or remove it "
                "to let the suite ask `helm version`")

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

    def inspect_commands(self, release: str) -> list[str]:
        """What an operator runs to see a release's state: `helm status` and `helm history`, as
        command lines with this client's cluster flags."""
        scope = ["--namespace", self.namespace] if self.dialect() >= 3 else []
        return [command_line([self.binary, verb, release, *scope, *self._cluster_flags()])
                for verb in ("status", "history")]

    # -- version -----------------------------------------------------------------------------

    def dialect(self) -> int:
        """2 or 3 (Helm 4 and later speak the v3 CLI here), detected once and cached."""
        if self._dialect is None:
            result = self.run(["version", "--short", "--client"], check=False)
            if result.exit_code != 0 and "unknown flag" in f"{result.stderr}{result.stdout}":
                result = self.run(["version", "--short"], check=False)
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
            self.version_output = f"{result.stdout}{result.stderr}"
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
        return self.run(["repo", "update"])

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

    def list_releases(self, only: Optional[str] = None) -> list[Release]:
        """Every release (failed and pending ones too) of the namespace; with `only`, that release alone
        (a filter anchored on its name: what a step changed, without listing the namespace again)."""
        pattern = [f"^{re.escape(only)}$"] if only else []
        if self.dialect() >= 3:
            args = ["list", "-n", self.namespace, "-o", "json", "--all", *(["--filter", *pattern] if only else [])]
        else:
            args = ["list", *pattern, "--namespace", self.namespace, "--output", "json", "--all"]
        result = self.run([*args, *self._cluster_flags()])
        try:
            found = parse_list_json(result.stdout, self.dialect())
        except HelmParseError:  # Helm 2's {"Releases": [...]} where Helm 3's array was expected, or the reverse
            mismatch = self._dialect_mismatch(result, other_shape=self._parses_as_other(result.stdout))
            if mismatch:
                raise HelmDialectMismatch(result, mismatch) from None
            raise
        return [r for r in found if only is None or r.name == only]

    def get_values(self, release: str) -> dict:
        """The release's user-supplied values (what the guide's ``helm get values R`` gives)."""
        if self.dialect() >= 3:
            args = ["get", "values", release, "-n", self.namespace, "-o", "json"]
        else:
            args = ["get", "values", release, "--output", "json"]
        return parse_values(self.run([*args, *self._cluster_flags()]).stdout)

    # -- writes ------------------------------------------------------------------------------

    def _timeout_flag(self, timeout_s: float) -> list[str]:
        seconds = math.ceil(timeout_s)  # the one place a duration becomes helm's whole seconds ("600s")
        return ["--timeout", f"{seconds}s" if self.dialect() >= 3 else str(seconds)]

    @staticmethod
    def _values_flags(values_files: Sequence[os.PathLike | str]) -> list[str]:
        flags: list[str] = []
        for path in values_files:
            flags += ["-f", str(path)]
        return flags

    def upgrade_argv(self, release: str, chart_ref: str, *, version: str,
                     values_files: Sequence[os.PathLike | str] = (), timeout_s: float = 600.0,
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
                     values_files: Sequence[os.PathLike | str] = (), timeout_s: float = 600.0,
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

    def write(self, action: str, release: str, chart_ref: str, **kwargs: Any) -> CommandResult:
        """Run ``helm upgrade`` or ``helm install`` (``action``) with the argv ``build_argv`` gives."""
        argv = self.build_argv(action, release, chart_ref, **kwargs)
        if self.before_write is not None:
            self.before_write(f"helm {action} {release}")
        return self.run(argv[1:], timeout=kwargs.get("timeout_s", 600.0) + self.timeout, write=True)
