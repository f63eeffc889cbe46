#!/bin/sh
# Make sure the MariaDB server binaries (mariadbd, mariadb-install-db) are installed.
# The sandbox starts its own throwaway server from them; it never uses a system service.
#   present            -> exit 0
#   missing, root      -> apt-get install mariadb-server, then verify
#   missing, not root  -> say what to install, exit 1
set -u

find_bin() {
    p=$(command -v "$1" 2>/dev/null) && { echo "$p"; return 0; }
    for d in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
        [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    return 1
}

have_all() {
    find_bin mariadbd >/dev/null && find_bin mariadb-install-db >/dev/null
}

if have_all; then
    echo "MariaDB server binaries present: $(find_bin mariadbd), $(find_bin mariadb-install-db)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "MariaDB server binaries not found (mariadbd, mariadb-install-db)." >&2
    echo "Install them as root:  apt-get install -y mariadb-server" >&2
    echo "(or run this script as root: sudo scripts/ensure-mariadb.sh)" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "MariaDB server binaries not found and apt-get is not available." >&2
    echo "Install the MariaDB server package of your distribution (it must provide mariadbd and mariadb-install-db)." >&2
    exit 1
fi

echo "Installing mariadb-server (apt-get)..."
apt-get update -qq || echo "warning: apt-get update failed; trying the install anyway" >&2
# In a container the package's postinst may fail to start the service (policy-rc.d, no init):
# that does not matter, only the binaries are needed. Verify them afterwards instead.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server \
    || echo "warning: apt-get install reported an error; checking the binaries" >&2

if have_all; then
    echo "MariaDB server binaries installed: $(find_bin mariadbd), $(find_bin mariadb-install-db)"
    exit 0
fi
echo "MariaDB server binaries still missing after apt-get install -y mariadb-server" >&2
exit 1
