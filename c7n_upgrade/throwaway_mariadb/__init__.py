"""A throwaway MariaDB server on a free loopback port (the approach of pytest-mysql), started from the
machine's Debian binaries: the backup's restore check runs on it, and so does the sandbox
(c7n_sandbox/mariadb/ adds the 0.8 databases and the db-down proxy). server.py holds the server,
install.py finds or installs the binaries (only for a sandbox or a restore check here)."""
