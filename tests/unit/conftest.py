"""tests/unit is the fast floor: no server, no socket, no child process (a test that needs one lives in
tests/sandbox). Enforced for every test here: pytest-socket refuses sockets, and starting a process
fails naming where the test belongs."""
import subprocess

import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def _no_socket_and_no_process(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("a test in tests/unit started a process: it belongs in tests/sandbox")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    pytest_socket.disable_socket(allow_unix_socket=False)
    yield
    pytest_socket.enable_socket()
