"""The sandbox's MariaDB: the throwaway server (c7n_upgrade/throwaway_mariadb/, which the restore check
uses too), the Choerodon 0.8 database state, and a TCP proxy.

The server is initialised with ``mariadb-install-db`` and started as ``mariadbd`` on a free
loopback port (the approach of pytest-mysql). It listens on 127.0.0.1 only, runs with
``--skip-name-resolve`` (so the anonymous users cannot shadow ``choerodon@'%'``; they are dropped
anyway), and dies with its parent process on Linux (``PR_SET_PDEATHSIG`` = SIGTERM, best effort).
Caveat: Linux sends that signal when the *thread* that started the server exits, so call
``start()`` from the main thread or from a thread that lives as long as the server.

``base_dir`` belongs entirely to the server: ``base_dir/data`` (datadir), ``base_dir/mysqld.sock``
(or a short temp dir when that path would be too long for a unix socket), ``base_dir/mysqld.pid``,
``base_dir/error.log``. The sandbox passes ``D/mysql``.

``TcpProxy`` forwards a loopback port to the server. The sandbox gives clients the proxy's address
so the ``db-down`` fault can make MySQL refuse connections (``proxy.refuse(True)``).

proxy.py holds the proxy, state08.py the Choerodon 0.8 databases.
"""

from .proxy import TcpProxy
from c7n_upgrade.throwaway_mariadb.server import (MISSING_MESSAGE, MariaDB, MariaDBError, MariaDBMissing, ensure_binaries, find_binaries,
                     free_port)
from .state08 import DATABASES_08, seed_08_state

__all__ = [
    "MariaDB",
    "MariaDBError",
    "MariaDBMissing",
    "MISSING_MESSAGE",
    "TcpProxy",
    "ensure_binaries",
    "find_binaries",
    "free_port",
    "seed_08_state",
    "DATABASES_08",
]
