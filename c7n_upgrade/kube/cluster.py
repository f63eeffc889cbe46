"""The cluster itself: its version, namespaces, and the events of the namespace."""
from __future__ import annotations

from urllib.parse import quote

from .transport import Transport


class Cluster(Transport):
    def version_info(self) -> dict:
        return self._request("GET", "/version", verb="get", resource="nonResourceURLs:/version").json() or {}

    def server_version(self) -> str:
        """The API server's gitVersion, e.g. `v1.15.12`."""
        return str(self.version_info().get("gitVersion", ""))

    def namespace_exists(self, ns: str | None = None) -> bool:
        return self.namespace_uid(ns) is not None

    def namespace_uid(self, ns: str | None = None) -> str | None:
        """The namespace's uid (None: no such namespace): the same namespace for as long as it lives, a new
        one when it is made again (a fresh sandbox, a reinstalled cluster)."""
        ns = ns or self.namespace
        found = self._get_or_none(f"/api/v1/namespaces/{quote(ns, safe='')}", resource="namespaces", name=ns)
        return None if found is None else str((found.get("metadata") or {}).get("uid") or "")

    @staticmethod
    def _event_time(ev: dict) -> str:
        return (
            ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp")
            or ((ev.get("metadata") or {}).get("creationTimestamp")) or ""
        )

    @classmethod
    def _event_line(cls, ev: dict) -> str:
        obj = ev.get("involvedObject") or {}
        count = ev.get("count")
        suffix = f" (x{count})" if count and int(count) > 1 else ""
        return (
            f"{cls._event_time(ev) or '-'} {ev.get('type') or 'Normal'} {ev.get('reason') or ''} "
            f"{obj.get('kind', '?')}/{obj.get('name', '?')}: {(ev.get('message') or '').strip()}{suffix}"
        )

    def events(self, field_selector: str | None = None) -> list[dict]:
        """The namespace's events (those `field_selector` picks), oldest first."""
        resp = self._request("GET", self._ns_path() + "/events", verb="list", resource="events", namespace=self.namespace,
                             query={"fieldSelector": field_selector} if field_selector else None)
        items = (resp.json() or {}).get("items") or []
        return sorted(items, key=self._event_time)

    def recent_events(self, limit: int = 30) -> list[str]:
        return [self._event_line(ev) for ev in self.events()[-limit:]]
