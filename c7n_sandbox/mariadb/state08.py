"""The database state of a Choerodon 0.8 installation: its databases, tables, seed rows and app user."""

from __future__ import annotations

from c7n_upgrade.throwaway_mariadb.server import MariaDB


#: The databases of a Choerodon 0.8 installation: the services whose charts have an init-db hook
#: (manager, iam, devops, agile, test-manager, wiki) plus event-store-service's, which 0.9 retires.
#: notify_service and asgard_service do NOT exist in 0.8: steps 5 and 6 create them.
DATABASES_08 = (
    "manager_service",
    "iam_service",
    "event_store_service",
    "devops_service",
    "agile_service",
    "test_manager_service",
    "wiki_service",
)


_AUDIT = (
    "object_version_number BIGINT UNSIGNED DEFAULT 1, created_by BIGINT UNSIGNED DEFAULT 0, "
    "creation_date DATETIME DEFAULT CURRENT_TIMESTAMP, last_updated_by BIGINT UNSIGNED DEFAULT 0, "
    "last_update_date DATETIME DEFAULT CURRENT_TIMESTAMP"
)


_SCHEMA_08: dict[str, list[str]] = {
    "manager_service": [
        f"""CREATE TABLE mgmt_service (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(128) NOT NULL UNIQUE, {_AUDIT})""",
        f"""CREATE TABLE mgmt_service_config (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(128) NOT NULL,
            config_version VARCHAR(64), is_default TINYINT(1) DEFAULT 0, service_id BIGINT UNSIGNED NOT NULL,
            value MEDIUMTEXT, source VARCHAR(32), publish_time DATETIME, {_AUDIT},
            UNIQUE KEY mgmt_service_config_u1 (name, service_id))""",
        f"""CREATE TABLE mgmt_route (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE,
            path VARCHAR(128) NOT NULL, service_id VARCHAR(64) NOT NULL, strip_prefix TINYINT(1) DEFAULT 1, {_AUDIT})""",
        "INSERT INTO mgmt_service (name) VALUES ('api-gateway'), ('iam-service'), ('devops-service'), "
        "('wiki-service'), ('event-store-service')",
        "INSERT INTO mgmt_service_config (name, config_version, is_default, service_id, value, source) "
        "SELECT CONCAT(name, '.default'), '0.8.0', 1, id, '{}', 'init' FROM mgmt_service",
        "INSERT INTO mgmt_route (name, path, service_id, strip_prefix) VALUES "
        "('oauth', '/oauth/**', 'oauth-server', 0), ('iam', '/iam/**', 'iam-service', 1), "
        "('devops', '/devops/**', 'devops-service', 1), ('wiki', '/wiki/**', 'wiki-service', 1)",
    ],
    "iam_service": [
        f"""CREATE TABLE oauth_client (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(32) NOT NULL UNIQUE,
            organization_id BIGINT UNSIGNED NOT NULL, resource_ids VARCHAR(1024) DEFAULT 'default',
            secret VARCHAR(255), scope VARCHAR(1024) DEFAULT 'default',
            authorized_grant_types VARCHAR(1024), web_server_redirect_uri VARCHAR(1024),
            access_token_validity BIGINT, refresh_token_validity BIGINT,
            additional_information VARCHAR(1024), auto_approve VARCHAR(1024) DEFAULT 'default', {_AUDIT})""",
        f"""CREATE TABLE fd_organization (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(32) NOT NULL,
            code VARCHAR(15) NOT NULL UNIQUE, is_enabled TINYINT(1) DEFAULT 1, {_AUDIT})""",
        f"""CREATE TABLE iam_user (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, login_name VARCHAR(128) NOT NULL UNIQUE,
            email VARCHAR(128), organization_id BIGINT UNSIGNED, is_admin TINYINT(1) DEFAULT 0,
            is_enabled TINYINT(1) DEFAULT 1, {_AUDIT})""",
        "INSERT INTO fd_organization (id, name, code) VALUES (1, 'operation', 'operation')",
        "INSERT INTO iam_user (login_name, email, organization_id, is_admin) "
        "VALUES ('admin', 'admin@example.org', 1, 1)",
        # the seed client the admin token is requested with (client/secret)
        "INSERT INTO oauth_client (name, organization_id, resource_ids, secret, scope, authorized_grant_types, "
        "web_server_redirect_uri, access_token_validity, refresh_token_validity, additional_information, "
        "auto_approve) VALUES ('client', 1, 'default', 'secret', 'default', "
        "'password,implicit,client_credentials,authorization_code,refresh_token', NULL, 3600, 3600, '{}', 'default')",
    ],
    "event_store_service": [
        f"""CREATE TABLE event_producer_record (
            uuid VARCHAR(50) PRIMARY KEY, type VARCHAR(50), payload MEDIUMTEXT, {_AUDIT})""",
    ],
    "devops_service": [
        """CREATE TABLE devops_check_log (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, begin_check_date DATETIME,
            end_check_date DATETIME, log MEDIUMTEXT)""",
        f"""CREATE TABLE devops_env (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, project_id BIGINT UNSIGNED, name VARCHAR(32),
            code VARCHAR(64), namespace VARCHAR(64), is_active TINYINT(1) DEFAULT 1, {_AUDIT})""",
        f"""CREATE TABLE devops_application (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, project_id BIGINT UNSIGNED, name VARCHAR(64),
            code VARCHAR(64), gitlab_project_id BIGINT, is_active TINYINT(1) DEFAULT 1, {_AUDIT})""",
        "INSERT INTO devops_env (project_id, name, code, namespace) VALUES (1, 'dev', 'dev', 'c7n-dev')",
        "INSERT INTO devops_application (project_id, name, code, gitlab_project_id) "
        "VALUES (1, 'demo-service', 'demo-service', 1)",
    ],
    "agile_service": [
        f"""CREATE TABLE agile_issue (
            issue_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, issue_num VARCHAR(255), type_code VARCHAR(255),
            summary VARCHAR(255), status_id BIGINT UNSIGNED, project_id BIGINT UNSIGNED, {_AUDIT})""",
        "INSERT INTO agile_issue (issue_num, type_code, summary, status_id, project_id) "
        "VALUES ('1', 'story', 'upgrade to 0.9', 1, 1)",
    ],
    "test_manager_service": [
        f"""CREATE TABLE test_cycle (
            cycle_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, parent_cycle_id BIGINT UNSIGNED,
            cycle_name VARCHAR(64), version_id BIGINT UNSIGNED, type VARCHAR(32), {_AUDIT})""",
    ],
    "wiki_service": [
        f"""CREATE TABLE wiki_space (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, resource_id BIGINT UNSIGNED,
            resource_type VARCHAR(32), name VARCHAR(128), icon VARCHAR(64), path VARCHAR(255),
            status VARCHAR(32), {_AUDIT})""",
        "INSERT INTO wiki_space (resource_id, resource_type, name, icon, path, status) "
        "VALUES (1, 'organization', 'operation', 'domain', 'O-operation', 'success')",
    ],
}


def seed_08_state(db: MariaDB, *, app_user: str = "choerodon", app_password: str) -> list[str]:
    """Create the Choerodon 0.8 database state; return the database names.

    Idempotent only on a fresh server (it drops and re-creates the 0.8 databases).
    """
    with db.admin_connection() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (app_user, app_password))
        for name in DATABASES_08:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` DEFAULT CHARACTER SET utf8")
            cur.execute(f"USE `{name}`")
            for stmt in _SCHEMA_08[name]:
                cur.execute(stmt + (" DEFAULT CHARSET=utf8" if stmt.lstrip().startswith("CREATE TABLE") else ""))
            cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'%%'", (app_user,))
        cur.execute("FLUSH PRIVILEGES")
    return list(DATABASES_08)
