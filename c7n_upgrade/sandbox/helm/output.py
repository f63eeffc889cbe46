"""The status blocks helm prints after install, upgrade and status, per dialect."""
from __future__ import annotations

import re

from .formats import ansic, table
from .storage import StoredRelease, v2_status


def status_block(rel: StoredRelease, dialect: int) -> str:
    if dialect == 3:
        text = (f"NAME: {rel.name}\nLAST DEPLOYED: {ansic(rel.last_deployed)}\nNAMESPACE: {rel.namespace}\n"
                f"STATUS: {rel.status}\nREVISION: {rel.version}\nTEST SUITE: None\n")
        if rel.notes:
            text += f"NOTES:\n{rel.notes}\n"
        return text
    text = (f"LAST DEPLOYED: {ansic(rel.last_deployed)}\nNAMESPACE: {rel.namespace}\n"
            f"STATUS: {v2_status(rel.status)}\n\n")
    resources = v2_resources(rel)
    if resources:
        text += f"RESOURCES:\n{resources}\n"
    if rel.notes:
        text += f"NOTES:\n{rel.notes}\n"
    return text


def v2_resources(rel: StoredRelease) -> str:
    kinds = re.findall(r"^kind: (\w+)$", rel.manifest, flags=re.M)
    names = re.findall(r"^  name: (.+)$", rel.manifest, flags=re.M)
    blocks = []
    for kind, name in zip(kinds, names):
        blocks.append(f"==> v1/{kind}\n" + table([["NAME", "AGE"], [name, "0s"]]))
    return "\n".join(blocks)


def dry_run_block(rel: StoredRelease) -> str:
    hooks = "".join(f"---\n# Source: {h['path']}\n{h['manifest']}" for h in rel.hooks)
    return f"HOOKS:\n{hooks}MANIFEST:\n{rel.manifest}"
