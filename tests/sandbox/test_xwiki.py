"""The sandbox's 0.8-era XWiki data dir and the simulated manual steps 2-3 of the guide."""

from __future__ import annotations

import zipfile

import pytest
import testinfra

from c7n_sandbox.xwiki import (
    EXTENSIONS_08,
    UPDATE_EXTENSIONS,
    apply_manual_steps,
    expected_properties,
    make_update_package,
    make_xwiki_dir,
    missing_update_extensions,
    read_properties,
    set_property,
)

GW = "http://api.example.choerodon.io"


@pytest.fixture
def data_dir(tmp_path):
    return make_xwiki_dir(tmp_path)


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("local://")


def test_layout(tmp_path, data_dir):
    assert data_dir == tmp_path / "xwiki" / "data"
    assert (data_dir / "xwiki.properties").is_file()
    repo = data_dir / "extension" / "repository"
    assert sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file()) == sorted(EXTENSIONS_08)
    # XWiki local repository layout: <id>/<version>/<id>-<version>.xed
    assert "org%2Exwiki%2Econtrib%2Eoidc%3Aoidc-authenticator/1%2E8/org%2Exwiki%2Econtrib%2Eoidc%3Aoidc-authenticator-1%2E8.xed" in EXTENSIONS_08


def test_08_properties(data_dir):
    props = read_properties(data_dir / "xwiki.properties")
    assert props["environment.permanentDirectory"]
    assert props["oidc.endpoint.authorization"] == "http://localhost:8080/oauth/oauth/authorize"
    assert props["oidc.endpoint.token"] == "http://localhost:8080/oauth/oauth/token"
    assert props["oidc.xwikiprovider"]
    # the 0.8 value is not the one the guide asks for, and there is no logout key yet
    assert not props["oidc.endpoint.userinfo"].endswith("/iam/v1/users/self")
    assert "oidc.endpoint.logout" not in props
    assert missing_update_extensions(data_dir) == UPDATE_EXTENSIONS


def test_oidc_secret_is_random_unless_given(tmp_path):
    a = read_properties(make_xwiki_dir(tmp_path / "a") / "xwiki.properties")["oidc.secret"]
    b = read_properties(make_xwiki_dir(tmp_path / "b") / "xwiki.properties")["oidc.secret"]
    assert a != b and len(a) >= 16
    c = read_properties(make_xwiki_dir(tmp_path / "c", oidc_secret="given") / "xwiki.properties")
    assert c["oidc.secret"] == "given"


def test_update_extensions_are_new_files():
    assert UPDATE_EXTENSIONS
    assert not set(UPDATE_EXTENSIONS) & set(EXTENSIONS_08)
    assert all(p.endswith((".xed", ".jar", ".xar")) for p in UPDATE_EXTENSIONS)


def test_update_package(tmp_path):
    pkg = make_update_package(tmp_path)
    assert pkg.name == "repository-0.9.0-update"
    files = sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*") if p.is_file())
    assert files == sorted(UPDATE_EXTENSIONS)
    for rel in files:
        if rel.endswith((".jar", ".xar")):
            assert zipfile.is_zipfile(pkg / rel)


def test_apply_manual_steps(data_dir):
    before = (data_dir / "xwiki.properties").read_text()
    done = apply_manual_steps(data_dir, GW + "/")
    assert len(done) == 3
    text = (data_dir / "xwiki.properties").read_text()
    props = read_properties(data_dir / "xwiki.properties")
    assert props["oidc.endpoint.userinfo"] == f"{GW}/iam/v1/users/self"
    assert props["oidc.endpoint.logout"] == f"{GW}/oauth/logout"
    assert props == {**read_properties_text(before), **expected_properties(GW)}
    lines = text.splitlines()
    i = lines.index(f"oidc.endpoint.userinfo={GW}/iam/v1/users/self")
    assert lines[i + 1] == f"oidc.endpoint.logout={GW}/oauth/logout"  # "on the next line"
    assert text.count("oidc.endpoint.userinfo=") == 1 and text.count("oidc.endpoint.logout=") == 1
    assert missing_update_extensions(data_dir) == []
    # the 0.8 extensions are still there (copied in, not replaced)
    repo = data_dir / "extension" / "repository"
    assert all((repo / rel).is_file() for rel in EXTENSIONS_08)


def test_apply_manual_steps_is_idempotent(data_dir):
    apply_manual_steps(data_dir, GW)
    first = (data_dir / "xwiki.properties").read_text()
    apply_manual_steps(data_dir, GW)
    assert (data_dir / "xwiki.properties").read_text() == first


def test_apply_manual_steps_with_given_package(tmp_path, data_dir):
    pkg = make_update_package(tmp_path / "download")
    apply_manual_steps(data_dir, GW, package_dir=pkg)
    assert missing_update_extensions(data_dir) == []


def test_testinfra_checks_before_and_after(host, data_dir):
    """What the suite's XWiki checkpoint looks at, through testinfra's local backend."""
    props = host.file(str(data_dir / "xwiki.properties"))
    repo = data_dir / "extension" / "repository"
    assert props.exists and props.is_file
    assert not props.contains(f"^oidc.endpoint.userinfo={GW}/iam/v1/users/self$")
    assert not props.contains("^oidc.endpoint.logout=")
    assert not host.file(str(repo / UPDATE_EXTENSIONS[0])).exists

    apply_manual_steps(data_dir, GW)

    assert props.contains(f"^oidc.endpoint.userinfo={GW}/iam/v1/users/self$")
    assert props.contains(f"^oidc.endpoint.logout={GW}/oauth/logout$")
    for rel in UPDATE_EXTENSIONS:
        f = host.file(str(repo / rel))
        assert f.exists and f.is_file and f.size > 0
    assert host.file(str(repo)).is_directory


def test_set_property_replaces_inserts_appends():
    text = "a=1\n# b=commented\nc=3\nc=4\n"
    assert set_property(text, "c", "9") == "a=1\n# b=commented\nc=9\n"
    assert set_property(text, "b", "2", after="a") == "a=1\nb=2\n# b=commented\nc=3\nc=4\n"
    assert set_property("a=1", "z", "0", after="missing") == "a=1\nz=0\n"


def read_properties_text(text: str) -> dict[str, str]:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.properties"
        p.write_text(text)
        return read_properties(p)
