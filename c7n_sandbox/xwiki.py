"""A 0.8-era Choerodon XWiki data dir, and the operator's manual steps 2-3 of the guide.

Layout (``base`` is the XWiki volume, ``/data`` in the container; the guide works in ``/data/data``)::

    base/xwiki/data/xwiki.properties
    base/xwiki/data/extension/repository/<id>/<version>/<id>-<version>.{xed,jar,xar}

The extension repository uses XWiki's local-repository layout (``.`` escaped as ``%2E``, ``:`` as
``%3A``). The extension ids and versions are **invented but plausible**: the real content of
``Choerodon-wiki-0.9.0-update.rar`` is not public here. What matters for the suite is that the
0.9.0 update package adds the files listed in :data:`UPDATE_EXTENSIONS`, and that the properties
file has the keys ``oidc.endpoint.userinfo`` and ``oidc.endpoint.logout`` set as the guide says
(``choerodon-facts.md``, XWiki section).

In the 0.8 file ``oidc.endpoint.userinfo`` points at oauth-server's user endpoint
(``http://localhost:8080/oauth/api/user``), not at ``<gateway>/iam/v1/users/self``, and there is
no ``oidc.endpoint.logout`` key: the upgrade must change both.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import zipfile
from pathlib import Path

__all__ = [
    "EXTENSIONS_08",
    "UPDATE_EXTENSIONS",
    "UPDATE_PACKAGE_NAME",
    "apply_manual_steps",
    "expected_properties",
    "make_update_package",
    "make_xwiki_dir",
    "missing_update_extensions",
    "read_properties",
    "set_property",
]

UPDATE_PACKAGE_NAME = "repository-0.9.0-update"
USERINFO_08 = "http://localhost:8080/oauth/api/user"


def _esc(s: str) -> str:
    """XWiki local extension repository escaping (``.`` -> %2E, ``:`` -> %3A)."""
    return s.replace("%", "%25").replace(".", "%2E").replace(":", "%3A")


def _ext_files(ext_id: str, version: str, kind: str) -> list[str]:
    stem = f"{_esc(ext_id)}/{_esc(version)}/{_esc(ext_id)}-{_esc(version)}"
    return [f"{stem}.xed", f"{stem}.{kind}"]


# (id, version, type, name)
_EXT_08 = [
    ("org.xwiki.contrib.oidc:oidc-authenticator", "1.8", "jar", "OpenID Connect Authenticator"),
    ("org.xwiki.contrib.oidc:oidc-api", "1.8", "jar", "OpenID Connect API"),
    ("io.choerodon:choerodon-wiki-theme", "0.8.0", "xar", "Choerodon Wiki Theme"),
    ("io.choerodon:choerodon-wiki-macros", "0.8.0", "xar", "Choerodon Wiki Macros"),
]
_EXT_09 = [
    ("org.xwiki.contrib.oidc:oidc-authenticator", "1.10", "jar", "OpenID Connect Authenticator"),
    ("org.xwiki.contrib.oidc:oidc-api", "1.10", "jar", "OpenID Connect API"),
    ("io.choerodon:choerodon-wiki-theme", "0.9.0", "xar", "Choerodon Wiki Theme"),
    ("io.choerodon:choerodon-wiki-macros", "0.9.0", "xar", "Choerodon Wiki Macros"),
    ("io.choerodon:choerodon-wiki-home", "0.9.0", "xar", "Choerodon Wiki Home Page"),
]

#: Paths (relative to ``extension/repository``, POSIX separators) present in a 0.8 data dir.
EXTENSIONS_08: list[str] = [f for e in _EXT_08 for f in _ext_files(e[0], e[1], e[2])]
#: Paths (relative to ``extension/repository``) the 0.9.0 update package
#: (``repository-0.9.0-update/*``) adds; after step 3 they all exist.
UPDATE_EXTENSIONS: list[str] = [f for e in _EXT_09 for f in _ext_files(e[0], e[1], e[2])]


def _xed(ext_id: str, version: str, kind: str, name: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<extension>
  <id>{ext_id}</id>
  <version>{version}</version>
  <type>{kind}</type>
  <name>{name}</name>
  <summary>{name} ({'Choerodon' if ext_id.startswith('io.choerodon') else 'XWiki Contrib'})</summary>
  <installed>true</installed>
  <namespaces><namespace>wiki:xwiki</namespace></namespaces>
</extension>
"""


def _write_extension(repo: Path, ext_id: str, version: str, kind: str, name: str) -> None:
    xed_rel, bin_rel = _ext_files(ext_id, version, kind)
    xed = repo / xed_rel
    xed.parent.mkdir(parents=True, exist_ok=True)
    xed.write_text(_xed(ext_id, version, kind, name), encoding="utf-8")
    with zipfile.ZipFile(repo / bin_rel, "w") as z:  # .jar and .xar are both zip files
        if kind == "xar":
            z.writestr("package.xml", f'<package><infos><name>{name}</name><version>{version}</version></infos></package>\n')
        else:
            z.writestr("META-INF/MANIFEST.MF", f"Manifest-Version: 1.0\nImplementation-Version: {version}\n")


def _properties_08(oidc_secret: str) -> str:
    return f"""# ---------------------------------------------------------------------------
# XWiki configuration (xwiki.properties) -- Choerodon XWiki 0.8.0
# This file is copied into the webapp by docker-entrypoint.sh at start-up:
# edits take effect only after a restart.
# ---------------------------------------------------------------------------

#-------------------------------------------------------------------------------------
# Core
#-------------------------------------------------------------------------------------
environment.permanentDirectory=/usr/local/xwiki/data

#-------------------------------------------------------------------------------------
# Rendering
#-------------------------------------------------------------------------------------
rendering.linkLabelFormat=%p
rendering.macroCategories=

#-------------------------------------------------------------------------------------
# Extension Manager
#-------------------------------------------------------------------------------------
extension.repositories=maven-xwiki:maven:https://nexus.xwiki.org/nexus/content/groups/public
extension.repositories=store.xwiki.com:xwiki:https://store.xwiki.com/xwiki/rest/
extension.repositories=extensions.xwiki.org:xwiki:https://extensions.xwiki.org/xwiki/rest/

#-------------------------------------------------------------------------------------
# Distribution Wizard
#-------------------------------------------------------------------------------------
distribution.automaticStartOnMainWiki=false
distribution.automaticStartOnWiki=false

#-------------------------------------------------------------------------------------
# OpenID Connect (Choerodon single sign-on through oauth-server)
#-------------------------------------------------------------------------------------
oidc.xwikiprovider=http://localhost:8080/oidc
oidc.endpoint.authorization=http://localhost:8080/oauth/oauth/authorize
oidc.endpoint.token=http://localhost:8080/oauth/oauth/token
oidc.endpoint.userinfo={USERINFO_08}
oidc.endpoint.token.auth_method=client_secret_basic
oidc.scope=default
oidc.clientid=xwiki
oidc.secret={oidc_secret}
oidc.skipped=false
oidc.user.nameFormater=${{oidc.user.preferredUsername._clean._lowerCase}}
oidc.user.subjectFormater=${{oidc.user.subject}}
oidc.groups.claim=groups
"""


def make_xwiki_dir(base: Path, *, oidc_secret: str | None = None) -> Path:
    """Create ``base/xwiki/data`` as a Choerodon 0.8 XWiki data dir; return that data dir.

    ``oidc_secret`` defaults to a random value (no secret lives in the source).
    """
    data = Path(base) / "xwiki" / "data"
    repo = data / "extension" / "repository"
    repo.mkdir(parents=True, exist_ok=True)
    props = data / "xwiki.properties"
    props.write_text(_properties_08(oidc_secret or secrets.token_hex(16)), encoding="utf-8")
    for ext in _EXT_08:
        _write_extension(repo, *ext)
    return data


def make_update_package(dest: Path) -> Path:
    """Write the 0.9.0 update package's ``repository-0.9.0-update`` dir under ``dest``; return it."""
    pkg = Path(dest) / UPDATE_PACKAGE_NAME
    pkg.mkdir(parents=True, exist_ok=True)
    for ext in _EXT_09:
        _write_extension(pkg, *ext)
    return pkg


# ---------------------------------------------------------------------- properties

_LINE = re.compile(r"^\s*(?P<key>[^#!=:\s][^=:\s]*)\s*[=:]\s?(?P<value>.*)$")


def read_properties(path: Path) -> dict[str, str]:
    """Parse a Java-style properties file (last value wins; no line continuations)."""
    out: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = _LINE.match(line)
        if m:
            out[m.group("key")] = m.group("value").rstrip()
    return out


def set_property(text: str, key: str, value: str, *, after: str | None = None) -> str:
    """Set ``key=value`` in properties ``text``: replace existing (uncommented) lines for the key,
    else insert right after the ``after`` key's line, else append."""
    lines = text.splitlines()
    new_line = f"{key}={value}"
    found = False
    out: list[str] = []
    for line in lines:
        m = _LINE.match(line)
        if m and m.group("key") == key:
            if not found:
                out.append(new_line)
                found = True
            continue  # drop duplicates
        out.append(line)
    if not found:
        idx = None
        if after is not None:
            for i, line in enumerate(out):
                m = _LINE.match(line)
                if m and m.group("key") == after:
                    idx = i + 1
        if idx is None:
            out.append(new_line)
        else:
            out.insert(idx, new_line)
    return "\n".join(out) + "\n"


def expected_properties(gateway_url: str) -> dict[str, str]:
    """The keys and values the guide's step 2 requires."""
    gw = gateway_url.rstrip("/")
    return {
        "oidc.endpoint.userinfo": f"{gw}/iam/v1/users/self",
        "oidc.endpoint.logout": f"{gw}/oauth/logout",
    }


def missing_update_extensions(data_dir: Path) -> list[str]:
    repo = Path(data_dir) / "extension" / "repository"
    return [rel for rel in UPDATE_EXTENSIONS if not (repo / rel).is_file()]


def apply_manual_steps(data_dir: Path, gateway_url: str, *, package_dir: Path | None = None) -> list[str]:
    """The operator's manual steps 2-3 (pure file operations); returns what was done.

    2. ``xwiki.properties``: ``oidc.endpoint.userinfo=<gw>/iam/v1/users/self`` and, on the next
       line, ``oidc.endpoint.logout=<gw>/oauth/logout``.
    3. copy ``repository-0.9.0-update/*`` into ``extension/repository``.

    ``package_dir`` is the unpacked ``repository-0.9.0-update`` dir; by default one is generated
    in a temporary directory (the simulated download). Idempotent.
    """
    data_dir = Path(data_dir)
    done: list[str] = []
    props_path = data_dir / "xwiki.properties"
    expected = expected_properties(gateway_url)
    text = props_path.read_text(encoding="utf-8")
    text = set_property(text, "oidc.endpoint.userinfo", expected["oidc.endpoint.userinfo"])
    text = set_property(text, "oidc.endpoint.logout", expected["oidc.endpoint.logout"], after="oidc.endpoint.userinfo")
    props_path.write_text(text, encoding="utf-8")
    done.append(f"{props_path}: oidc.endpoint.userinfo={expected['oidc.endpoint.userinfo']}")
    done.append(f"{props_path}: oidc.endpoint.logout={expected['oidc.endpoint.logout']}")

    repo = data_dir / "extension" / "repository"
    repo.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        if package_dir is None:
            tmp = tempfile.mkdtemp(prefix="c7n-wiki-update-")
            package_dir = make_update_package(Path(tmp))
        shutil.copytree(package_dir, repo, dirs_exist_ok=True)
        done.append(f"copied {UPDATE_PACKAGE_NAME}/* into {repo} ({len(UPDATE_EXTENSIONS)} files)")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return done


def steps_at_target(plan, after_step: int, pods: list[tuple[str, str]]) -> bool:
    """Whether every step up to `after_step` (but the XWiki ones) runs its target version: each of its
    chart's pods, given as (service, version), is on it, and there is at least one."""
    for step in plan.steps:
        if step.number > after_step or "xwiki" in step.operations:
            continue
        mine = [version for service, version in pods if service == step.chart]
        if not mine or not all(version == step.version for version in mine):
            return False
    return True
