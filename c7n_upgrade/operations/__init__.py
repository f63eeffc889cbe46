"""The steps' operations besides the helm upgrade itself, one module each:

- `backup`: the databases dumped (and each dump proven to restore) before the first write;
- `database`: a new service's database, user and grant (created when missing, then verified);
- `crd`: the CRD devops-service needs, created as the guide writes it or verified;
- `gitlab`: GitLab accepts SSH;
- `platform_api`: the devops smooth upgrade, the wiki home pages, the OAuth client (as admin);
- `xwiki`: the checkpoint of XWiki's manual steps, with the guide's instructions when not done;
- `front`: the front page; `eureka`: the registry and an app's VERSION in it;
- `images`: the target images asked of their registries (pre-flight).

Each creates only what is missing, verifies what is present, records what it did through a
`StepLog` and fails the step with a clear reason. They take clients and settings, never the env.
"""
from .backup import RestoreTarget, back_up, databases_named, databases_size, plan_backup, server_free_bytes
from .crd import ensure_crd
from .database import app_user_state, ensure_database, verify_database, verify_database_as_app
from .eureka import Registry, check_registered
from .front import check_front_page
from .gitlab import check_gitlab_ssh, tcp_reachable
from .images import ask_registries, target_images
from .platform_api import (ensure_oauth_client, oauth_client_body, oauth_client_problems, platform_inputs,
                           smooth_upgrade, wiki_home_page)
from .xwiki import XWIKI_INSTRUCTIONS, xwiki_checkpoint, xwiki_site_problems

__all__ = [
    "Registry", "RestoreTarget", "XWIKI_INSTRUCTIONS", "app_user_state", "ask_registries", "back_up",
    "check_front_page", "check_gitlab_ssh", "check_registered", "databases_named", "databases_size", "ensure_crd",
    "ensure_database", "ensure_oauth_client", "oauth_client_body", "oauth_client_problems", "plan_backup",
    "platform_inputs", "server_free_bytes", "smooth_upgrade", "target_images", "tcp_reachable", "verify_database",
    "verify_database_as_app", "wiki_home_page", "xwiki_checkpoint", "xwiki_site_problems",
]
