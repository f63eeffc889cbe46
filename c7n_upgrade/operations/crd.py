"""The CRD devops-service 0.9 needs: created when missing (as the guide writes it), verified when present."""
from __future__ import annotations

import yaml

from ..plan import CrdSpec
from ..report import StepLog


def _yaml(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def ensure_crd(kube, spec: CrdSpec, log: StepLog, *, dry_run: bool) -> dict:
    """The CRD as served after this call ({} in a dry run that would create it); fails when it differs."""
    body = spec.model_dump()
    with log.step("crd", name=spec.name):
        crd = kube.get_crd(spec.name)
        if crd is None:
            if dry_run:
                log.attach("CRD (dry run, not created)", _yaml(body), "yaml")
                return {}
            crd = kube.create_crd(body)
            log.note(f"created CRD {spec.name}")
        else:
            log.note(f"CRD {spec.name} exists: verifying")
        log.attach(f"CRD {spec.name}", _yaml(crd), "yaml")
        problems = kube.crd_matches(crd, body)
        if problems:
            raise log.failed(f"CRD {spec.name} differs from the guide: {'; '.join(problems)}")
        return crd
