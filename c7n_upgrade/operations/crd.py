"""The CRD devops-service 0.9 needs: created when missing (as the guide writes it), verified when present."""
from __future__ import annotations

import yaml

from ..kube.errors import KubeTimeout
from ..plan import CrdSpec
from ..report import StepLog
from ..waiters import WaitTimeout, poll

#: how long a CRD may take to be Established (the API server installs its names and REST paths first)
ESTABLISH_TIMEOUT_S = 30.0


def _condition(crd: dict, kind: str):
    return next((str(c.get("status")) for c in ((crd.get("status") or {}).get("conditions") or [])
                 if c.get("type") == kind), None)


def _settled(crd) -> bool:
    """Established, or refused for good (its names conflict: waiting cannot heal that)."""
    return crd is not None and (_condition(crd, "Established") == "True" or _condition(crd, "NamesAccepted") == "False")


def _established(kube, name: str, log: StepLog) -> dict:
    """The CRD once the API server has established it; on timeout the last one read (its condition says why)."""
    try:
        return poll(lambda: kube.get_crd(name), timeout=ESTABLISH_TIMEOUT_S, until=_settled,
                    retry_on=(KubeTimeout,))  # one slow answer is not the CRD's verdict
    except WaitTimeout as exc:
        if exc.last is None:  # never read: the API server's own error is the cause
            raise log.failed(f"CRD {name}: {exc.last_error or 'not found after it was created'}") from None
        log.note(f"CRD {name} not Established within {ESTABLISH_TIMEOUT_S:.0f}s")
        return exc.last


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
            kube.create_crd(body)
            log.note(f"created CRD {spec.name}")
        else:
            log.note(f"CRD {spec.name} exists: verifying")
        crd = _established(kube, spec.name, log)
        log.attach(f"CRD {spec.name}", _yaml(crd), "yaml")
        problems = kube.crd_matches(crd, body)
        if not problems and _condition(crd, "Established") != "True":
            problems.append(f"it is not Established after {ESTABLISH_TIMEOUT_S:.0f}s (no condition says why)")
        if problems:
            raise log.failed(f"CRD {spec.name} differs from the guide: {'; '.join(problems)}")
        return crd
