"""GitLab accepts SSH (the guide: required before devops-service 0.9)."""
from __future__ import annotations

import socket

from ..report import StepLog
from ..settings import GitlabSsh


def tcp_reachable(host: str, port: int, timeout: float = 5.0) -> tuple[bool, str]:
    """A plain TCP connect (what `nc -z` does) and the first bytes the server sends, if any."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(1.0)
            try:
                banner = sock.recv(64).decode("ascii", "replace").strip()
            except OSError:
                banner = ""
            return True, banner
    except OSError as exc:
        return False, str(exc)


def check_gitlab_ssh(gitlab: GitlabSsh, log: StepLog, *, timeout: float) -> str:
    """GitLab's SSH port is reachable and answers as SSH; returns its banner."""
    with log.step("gitlab_ssh", host=gitlab.host, port=gitlab.port):
        import testinfra

        # testinfra's check (nc, or bash /dev/tcp) is the operator's own; then read the banner
        reachable = testinfra.get_host("local://").addr(gitlab.host).port(gitlab.port).is_reachable
        ok, banner = tcp_reachable(gitlab.host, gitlab.port, timeout=timeout)
        if not (reachable and ok):
            raise log.failed(f"GitLab SSH is not reachable at {gitlab.host}:{gitlab.port} ({banner or 'refused'}); "
                             "the guide requires SSH to be enabled on GitLab before devops-service 0.9 "
                             "(设置Gitlab启用SSH协议)")
        log.attach("GitLab SSH banner", banner or "(no banner)")
        if banner and not banner.startswith("SSH-"):
            raise log.failed(f"{gitlab.host}:{gitlab.port} answers but is not SSH (banner {banner[:40]!r})")
        return banner
