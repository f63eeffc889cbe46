"""Env files (envs/*.yaml): one validated description of the cluster the suite works on.

Contract (shared/design.md, "Env file"): every key is documented in envs/prod.yaml.

* Any string value may name environment variables as ``${NAME}``; they are resolved from
  ``os.environ`` first, then from the optional ``secrets_file`` (a 0600 dotenv file).
* Secret-bearing keys (``*.admin_password``, ``*.password``, ``platform.client_secret``,
  ``platform.front_client_secret``) must be written as ``${NAME}``: secrets never sit in the file.
  A run resolves only the secrets its phases use: the read-only proof alone needs READ_ONLY_SECRETS.
* Validation happens once, in :func:`load_env`; every problem becomes a :class:`ConfigError` whose
  message names the file, the dotted key and what was expected.

`model` holds the Env model, `loading` reads a file into it, `explain` words pydantic's errors.
Only this package and the wiring (`c7n_upgrade.clients`) read an Env; the library takes what the
wiring builds from it.
"""
from .loading import dotenv_line, dotenv_value, list_envs, load_env, read_secrets_file, read_yaml, resolve_env_path
from .model import DEFAULT_PLAN, READ_ONLY_SECRETS, REQUIRED_FOR_CLUSTER, SECRET_KEYS, ConfigError, Env

__all__ = ["DEFAULT_PLAN", "READ_ONLY_SECRETS", "REQUIRED_FOR_CLUSTER", "SECRET_KEYS", "ConfigError", "Env", "dotenv_line", "dotenv_value",
           "list_envs", "load_env", "read_secrets_file", "read_yaml", "resolve_env_path"]
