"""TCP plumbing shared by the sandbox's listeners (kube-proxy, the MySQL proxy, GitLab SSH): accept, splice, close."""
from __future__ import annotations

import selectors
import socket
import threading
from typing import Callable


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


def accept_loop(sock: socket.socket, handle: Callable[[socket.socket], None], *, threaded: bool = True) -> None:
    """Accept connections until `sock` is closed; each goes to handle(conn), in a thread of its own when threaded."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        if threaded:
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
        else:
            handle(conn)


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
