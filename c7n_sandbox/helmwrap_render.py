"""A helm post-renderer for the wrapper's faults (helmwrap.py): sets memory requests/limits on every
Deployment's containers in the rendered manifest, so the fault never enters the release's values (a
`--set` would: the next `helm get values` would carry it into the resumed run after the fault is cleared).

    python -m c7n_sandbox.helmwrap_render requests.memory=-1Gi [limits.memory=1Ti]  < in > out
"""
from __future__ import annotations

import sys

import yaml


def render(manifest: str, settings: list[str]) -> str:
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"].get("containers") or []:
            for setting in settings:
                path, _, value = setting.partition("=")
                section, key = path.split(".", 1)
                resources = container.get("resources") or {}
                resources.setdefault(section, {})[key] = value
                container["resources"] = resources
    return yaml.safe_dump_all(docs, sort_keys=False)


if __name__ == "__main__":
    sys.stdout.write(render(sys.stdin.read(), sys.argv[1:]))
