"""Unit-sized tests that need a process, a socket or a FIFO of this machine, so they live beside the
sandbox's tests and not in tests/unit (which opens none: tests/unit/conftest.py refuses them):
helm's runner without a binary, health over HTTP, a hung read of XWiki's host, the MariaDB install."""
from __future__ import annotations

import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from c7n_upgrade import operations
from c7n_upgrade.helm import HelmClient
from c7n_upgrade.probes import get_health
from c7n_upgrade.report import StepFailed
from c7n_upgrade.settings import XwikiSite
from tests.unit.test_operations import log_and_reporter
from tests.unit.test_probes import DOWN_BODY, UP_BODY


def test_default_runner_reports_a_missing_binary(tmp_path):
    helm = HelmClient(str(tmp_path / "no-helm"), namespace="ns")
    result = helm.run(["version"], check=False)
    assert result.exit_code == 127 and "not found" in result.stderr


class _Handler(BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802
        status, ctype, body = self.routes.get(self.path, (404, "text/plain", "nope"))
        if self.path == "/eureka/apps" and self.headers.get("Accept") != "application/json":
            status, ctype, body = 406, "text/plain", "ask for JSON"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    _Handler.routes = {
        "/health": (200, "application/json", UP_BODY),
        "/down/health": (503, "application/json", DOWN_BODY),
    }
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_get_health(server):
    assert get_health(f"{server}/health", 5).status == "UP"
    down = get_health(f"{server}/down/health", 5)
    assert (down.status, down.code) == ("DOWN", 503)
    assert get_health(f"{server}/missing", 5).status == "INVALID"


def test_get_health_unreachable():
    health = get_health(f"http://127.0.0.1:{_closed_port()}/health", 2)
    assert health.status == "UNREACHABLE" and health.code is None and "ConnectionError" in health.error


def test_a_read_of_xwikis_host_that_hangs_fails_the_step_at_its_bound(tmp_path):
    """testinfra bounds no command: a stuck read (here `cat` of a FIFO no one writes) must not hold the run."""
    (tmp_path / "extension" / "repository").mkdir(parents=True)
    fifo = tmp_path / "xwiki.properties"
    os.mkfifo(fifo)
    site = XwikiSite("local://", str(tmp_path), "http://gw.example", timeout=1.0)
    log, _ = log_and_reporter()
    try:
        with pytest.raises(StepFailed, match=r"XWiki's host local:// did not answer reading .* within 1s"):
            operations.xwiki_checkpoint(site, [], log)
    finally:
        try:  # lets the blocked `cat` finish
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_mariadb_is_installed_only_when_missing_and_its_script_speaks_for_itself(tmp_path, monkeypatch):
    from c7n_upgrade.throwaway_mariadb import install as mariadb

    script = tmp_path / "ensure.sh"
    script.write_text("echo ran > '%s'\necho 'Install them as root:  apt-get install -y mariadb-server' >&2\nexit 1\n"
                      % (tmp_path / "ran"))
    monkeypatch.setattr(mariadb, "SCRIPT", script)
    said = []
    monkeypatch.setattr(mariadb, "_found", lambda name: True)
    mariadb.ensure_mariadb(said.append)
    assert said == [] and not (tmp_path / "ran").exists()
    monkeypatch.setattr(mariadb, "_found", lambda name: False)
    with pytest.raises(RuntimeError, match="needs the MariaDB server binaries .*apt-get install -y mariadb-server"):
        mariadb.ensure_mariadb(said.append)
    assert (tmp_path / "ran").exists() and "scripts/ensure-mariadb.sh" in said[0]


def test_sandbox_up_installs_mariadb_as_a_pytest_run_does_or_says_what_to_run(tmp_path, monkeypatch, capsys):
    """`python -m c7n_sandbox up` on a machine without MariaDB runs the same install script as a
    pytest run; when it cannot install, up stops before starting anything and says what to run."""
    from c7n_sandbox import __main__ as sandbox_cli
    from c7n_upgrade.throwaway_mariadb import install

    script = tmp_path / "ensure.sh"
    script.write_text("echo ran > '%s'\necho 'Install them as root:  apt-get install -y mariadb-server' >&2\nexit 1\n"
                      % (tmp_path / "ran"))
    monkeypatch.setattr(install, "SCRIPT", script)
    monkeypatch.setattr(install, "_found", lambda name: False)
    assert sandbox_cli.main(["up", "--dir", str(tmp_path / "sb")]) == 1
    assert (tmp_path / "ran").exists()
    err = capsys.readouterr().err
    assert "sandbox: error: the sandbox needs the MariaDB server binaries" in err
    assert "apt-get install -y mariadb-server" in err
    assert not (tmp_path / "sb" / "env.yaml").exists()

