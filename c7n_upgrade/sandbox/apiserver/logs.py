"""Pod logs (`…/pods/NAME/log`): the container is checked as the kubelet checks it; `previous` is its
last run's (it fails when none ended), and so is the log of a container waiting to restart;
`tailLines` and `follow` (`kubectl logs -f` streams until the pod ends
or the client leaves)."""
from __future__ import annotations

from .errors import HttpError
from .watch import Stream


PULL_WAITING = {"ErrImagePull": "image can't be pulled", "ImagePullBackOff": "trying and failing to pull image"}


def _bad_request(message: str) -> HttpError:
    return HttpError(400, "BadRequest", message)


def _container(pod: dict, name: str, wanted) -> str:
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
    if wanted:
        if wanted not in names:
            raise _bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    main = [c.get("name") for c in spec.get("containers") or []]
    if len(main) > 1:
        raise _bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(main)}]")
    return main[0] if main else ""


def pod_log(store, log_provider, namespace: str, name: str, query: dict):
    """(status, headers, bytes | Stream) of a log request. log_provider(namespace, name, tail,
    follow=False) -> text, or with follow an iterator of byte chunks (None: nothing new yet)."""
    pod = store.get("pods", namespace, name)
    container = _container(pod, name, query.get("container"))
    statuses = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []}
    state = statuses.get(container) or {}
    tail = int(query["tailLines"]) if query.get("tailLines") else None
    ended = (state.get("lastState") or {}).get("terminated")
    waiting = (state.get("state") or {}).get("waiting")
    if query.get("previous") in ("true", "1") or (waiting and ended):
        if not ended:
            raise _bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        text = log_provider(namespace, name, tail, previous=True) if log_provider is not None else ""
        return 200, {"Content-Type": "text/plain"}, (text or "").encode()
    if waiting:
        reason = waiting.get("reason", "ContainerCreating")
        raise _bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                           f"{PULL_WAITING.get(reason, reason)}")
    if log_provider is None:
        return 200, {"Content-Type": "text/plain"}, b""
    if query.get("follow") in ("true", "1"):
        chunks = log_provider(namespace, name, tail, follow=True)
        if chunks is not None:
            return 200, {"Content-Type": "text/plain"}, Stream(chunks)
    text = log_provider(namespace, name, tail)
    return 200, {"Content-Type": "text/plain"}, (text or "").encode()
