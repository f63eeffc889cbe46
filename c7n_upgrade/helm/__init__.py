"""Driving a real ``helm`` binary, Helm 2 (Tiller, as in the guide's era) or Helm 3.

The dialect is detected once (``helm version --short --client``) and every command is built for it
in ``client.py`` (see shared/reference/helm-cli-contract.md). The v2 flag traps live there and
nowhere else:

* ``list -o`` is ``--offset`` in v2: always ``--output json``;
* ``install -n`` is ``--name`` in v2: v2 installs with ``--name R --namespace NS``;
* ``get values`` has no ``-o`` in v2: ``--output json``;
* ``--timeout`` is a Go duration in v3 (``600s``) and integer seconds in v2 (``600``).

Values only ever reach helm through files (``-f``, ``values.py``), written with mode 0600 in a
private directory of the run (0700, removed at exit; a later run removes what a killed one left) and
removed after use: never ``--set``, so no password shows up in ``ps`` or in a shell history.
``runner.py`` runs each command within its limit, in its own process group, dying with the run.
What the report shows of values is ``shown.py``'s allowlist (the rest ``<hidden HASH>``).

``parsers.py`` holds pure functions of helm's output, tested on golden files.
"""
from .client import HelmClient
from .parsers import (ChartVersion, Release, normalize_status, parse_list_json, parse_repo_list,
                      parse_search_json, parse_values, parse_version, split_chart)
from .results import CommandResult, HelmDialectMismatch, HelmError, HelmParseError, command_line, error_line
from .runner import SubprocessRunner
from .shown import plan_keys, shown_values
from .values import (deep_merge, dotted_to_nested, private_values_dir, remove_leftover_values_dirs, shown_diff,
                     values_diff, values_file, write_values_file)

__all__ = [
    "ChartVersion", "CommandResult", "HelmClient", "HelmDialectMismatch", "HelmError", "HelmParseError", "Release",
    "SubprocessRunner", "command_line", "deep_merge", "dotted_to_nested", "error_line", "normalize_status",
    "plan_keys", "shown_values",
    "parse_list_json", "parse_repo_list", "parse_search_json", "parse_values", "parse_version",
    "private_values_dir", "remove_leftover_values_dirs", "shown_diff", "split_chart", "values_diff", "values_file",
    "write_values_file",
]
