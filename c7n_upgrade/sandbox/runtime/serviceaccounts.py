"""The service account controller's promise: every namespace has a `default` ServiceAccount, also
namespaces created later, and a deleted one comes back. No token Secrets are made (the sandbox does
not authenticate), and pods are not refused for a missing account."""
from __future__ import annotations

import logging

log = logging.getLogger("c7n_upgrade.sandbox.runtime")

DEFAULT = "default"


class ServiceAccounts:
    def __init__(self, store):
        self.store = store

    def ensure(self, namespace: str) -> None:
        ns = self.store.get_or_none("namespaces", None, namespace)
        if ns is None or (ns.get("status") or {}).get("phase") == "Terminating" \
                or self.store.get_or_none("serviceaccounts", namespace, DEFAULT) is not None:
            return
        try:
            self.store.create("serviceaccounts", {"metadata": {"name": DEFAULT, "namespace": namespace}}, namespace)
        except Exception:      # created meanwhile, or the namespace went away
            log.debug("serviceaccount default in %s not created", namespace, exc_info=True)

    def on_event(self, event_type: str, resource: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        if resource == "namespaces" and event_type != "DELETED":
            self.ensure(meta.get("name", ""))
        elif resource == "serviceaccounts" and event_type == "DELETED" and meta.get("name") == DEFAULT:
            self.ensure(meta.get("namespace", ""))
