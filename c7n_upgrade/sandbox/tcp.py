"""Copy bytes both ways between two connected sockets (the sandbox's kube-proxy and MySQL proxy)."""
from __future__ import annotations

import selectors
import socket
import threading


def splice(client: socket.socket, upstream: socket.socket, lock: threading.Lock, conns: set) -> None:
    """Forward until either side closes; track the pair in `conns` (under `lock`) so a stop can cut it."""
    sel = selectors.DefaultSelector()
    try:
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        while True:
            for key, _ in sel.select(timeout=1.0):
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return
                try:
                    key.data.sendall(data)
                except OSError:
                    return
            if client.fileno() < 0 or upstream.fileno() < 0:
                return
    except (OSError, ValueError):
        return
    finally:
        sel.close()
        with lock:
            conns.discard(client)
            conns.discard(upstream)
        for s in (client, upstream):
            try:
                s.close()
            except OSError:
                pass


def close_hard(sock: socket.socket) -> None:
    """Shut both directions (so a peer blocked in recv wakes up) and close; errors are ignored."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
