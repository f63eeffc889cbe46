"""GitLab, as far as the upgrade needs it: its SSH port answers with an OpenSSH banner."""
from __future__ import annotations

import random
import socket
import threading
from typing import Optional

from .tcp import accept_loop, close_hard

SSH_BANNER = b"SSH-2.0-OpenSSH_7.4\r\n"


class SshBanner:
    """GitLab's SSH port: accepts TCP and sends an OpenSSH banner, then closes."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._sock: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((self.host, self.port))
        s.listen(16)
        self._sock = s
        self._thread = threading.Thread(target=accept_loop, args=(s, self._greet), kwargs={"threaded": False},
                                        name="gitlab-ssh", daemon=True)
        self._thread.start()

    @staticmethod
    def _greet(conn: socket.socket) -> None:
        try:
            conn.settimeout(2)
            conn.sendall(SSH_BANNER)
            try:
                conn.recv(256)  # the client's banner, if any
            except OSError:
                pass
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        s, self._sock = self._sock, None
        if s is not None:
            close_hard(s)
        if self._thread is not None:
            self._thread.join(2)


def ssh_banner_on_free_loopback(prefix: str, port: int) -> SshBanner:
    """An SSH banner listening on a random free address under `prefix` (e.g. 127.30); OSError when none is."""
    last: Optional[OSError] = None
    for _ in range(50):
        listener = SshBanner(f"{prefix}.{random.randrange(0, 256)}.{random.randrange(2, 255)}", port)
        try:
            listener.start()
            return listener
        except OSError as exc:
            last = exc
    raise OSError(f"no free address under {prefix}.x.y for port {port}: {last}")
