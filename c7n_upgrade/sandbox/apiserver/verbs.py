"""The verbs on resources and their subresources: get, list (limit/continue), watch, create, update,
patch, delete (preconditions) and deletecollection; status, scale, log, proxy, exec and portforward.
Lists, gets and watches answer Tables when asked (`kubectl get`, `get -w`)."""
from __future__ import annotations

from .bodies import PATCH_TYPES, decode_body, patch_type
from .discovery import BUILTIN_KEYS
from .errors import HttpError, not_found
from .logs import pod_log
from .pagination import parse_limit
from .proxy import proxy
from .request import Request
from .resources import present
from .scale import scale
from .streams import exec_stream, portforward_stream
from .tables import table, wants_table
from .watch import watch

NOT_ALLOWED = (405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def resource_request(api, req: Request, group: str, version: str, rest: list[str]):
    """`rest`: the decoded segments after /api/v1 or /apis/GROUP/VERSION. Returns (status, headers, body)."""
    consumed = len(req.parts) - len(rest)
    types = {t.plural: t for t in api.discovery.served_types(group, version)}
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] in types and types[rest[2]].namespaced:
        namespace, rest, consumed = rest[1], rest[2:], consumed + 2
    rtype = types.get(rest[0])
    if rtype is None:
        raise not_found()
    if rtype.namespaced and namespace is None and len(rest) > 1:
        raise not_found()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub and sub not in rtype.subresources:
        raise not_found()
    if sub == "proxy":
        return proxy(api.store, rtype, namespace, name, req.path_after(consumed + 3), req.method, req.raw_query,
                     req.headers, req.body, bound_port=api.pods.bound_port if api.pods else None)
    if len(rest) > 3 or (sub is None and len(rest) > 2):
        raise not_found()
    if name is None:
        return _collection(api, req, rtype, version, namespace)
    if sub == "exec":
        return exec_stream(api.store, api.pods, req, namespace, name)
    if sub == "portforward":
        return portforward_stream(api.store, api.pods, req, namespace, name)
    if sub == "log":
        if req.method != "GET":
            raise HttpError(*NOT_ALLOWED)
        return pod_log(api.store, api.log_provider, namespace, name, req.query)
    if sub == "scale":
        return _scale(api, req, rtype, namespace, name)
    return _object(api, req, rtype, version, namespace, name, sub)


def _object(api, req: Request, rtype, version, namespace, name, sub):
    store, key, dry_run = api.store, rtype.key, bool(req.query.get("dryRun"))
    if req.method == "GET":
        obj = store.get(key, namespace, name)
        if wants_table(req.headers):
            return api.json(200, table(rtype, [obj], store.resource_version, _included(req.query)), req)
        return api.json(200, present(rtype, version, obj), req)
    if req.method == "DELETE":
        options = _delete_options(req)
        obj = store.delete(key, namespace, name, dry_run=dry_run or bool(options.get("dryRun")),
                           preconditions=options.get("preconditions"))
        return api.json(200, present(rtype, version, obj), req)
    if req.method in ("PUT", "PATCH") and not req.body:
        raise HttpError(400, "BadRequest", "the request body is empty")
    if req.method == "PUT":
        obj = decode_body(req.body, req.headers)
        if sub == "status":
            meta = obj.get("metadata") or {}
            result = store.update_status(key, namespace, name, obj.get("status") or {},
                                         resource_version=meta.get("resourceVersion"), uid=meta.get("uid"),
                                         dry_run=dry_run)
        else:
            _check_name(obj, name)
            result = store.replace(key, _stamp(rtype, version, obj), namespace, dry_run=dry_run)
        return api.json(200, present(rtype, version, result), req)
    if req.method == "PATCH":
        kind = patch_type(req.headers)
        if kind is None or (kind == "strategic" and key not in BUILTIN_KEYS):
            raise HttpError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                            f"accepted media types include: {', '.join(PATCH_TYPES)}")
        result = store.patch(key, namespace, name, decode_body(req.body, req.headers), kind, subresource=sub,
                             dry_run=dry_run)
        return api.json(200, present(rtype, version, result), req)
    raise HttpError(*NOT_ALLOWED)


def _collection(api, req: Request, rtype, version, namespace):
    store, key, query = api.store, rtype.key, req.query
    gv, dry_run = rtype.api_version(version), bool(query.get("dryRun"))
    if req.method == "GET":
        if query.get("watch") in ("true", "1"):
            render = None
            if wants_table(req.headers):   # `kubectl get -w`: each event a one-row Table
                render = (lambda obj: table(rtype, [obj], obj["metadata"].get("resourceVersion", ""),
                                            _included(query)))
            stream = watch(store, rtype, version, namespace, query, api.stopping, req.client_gone,
                           api.bookmark_interval, render)
            return 200, {"Content-Type": "application/json"}, stream
        page = store.list_page(key, namespace, query.get("labelSelector"), query.get("fieldSelector"),
                               limit=parse_limit(query.get("limit")), continue_token=query.get("continue", ""))
        meta = {"resourceVersion": page.resource_version}
        if page.continue_token:
            meta["continue"] = page.continue_token
            if page.remaining is not None:
                meta["remainingItemCount"] = page.remaining
        if wants_table(req.headers):
            answer = table(rtype, page.items, page.resource_version, _included(query))
            answer["metadata"].update(meta)
            return api.json(200, answer, req)
        return api.json(200, {"kind": f"{rtype.kind}List", "apiVersion": gv, "metadata": meta,
                              "items": [present(rtype, version, o) for o in page.items]}, req)
    if req.method == "POST":
        obj = decode_body(req.body, req.headers)
        if isinstance(obj, dict) and obj.get("kind") and obj["kind"] != rtype.kind:
            raise HttpError(400, "BadRequest", f"the kind {obj['kind']!r} does not match the URL ({rtype.kind})")
        created = store.create(key, _stamp(rtype, version, obj), namespace, dry_run=dry_run)
        return api.json(201, present(rtype, version, created), req)
    if req.method == "DELETE":
        dry_run = dry_run or bool(_delete_options(req).get("dryRun"))
        items = store.list(key, namespace, query.get("labelSelector"), query.get("fieldSelector"))
        deleted = [store.delete(key, o["metadata"].get("namespace"), o["metadata"]["name"], dry_run=dry_run)
                   for o in items]
        return api.json(200, {"kind": f"{rtype.kind}List", "apiVersion": gv,
                              "metadata": {"resourceVersion": store.resource_version},
                              "items": [present(rtype, version, o) for o in deleted]}, req)
    raise HttpError(*NOT_ALLOWED)


def _scale(api, req: Request, rtype, namespace, name):
    kind = None
    if req.method == "PATCH":
        kind = patch_type(req.headers)
        if kind is None:
            raise HttpError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                            f"accepted media types include: {', '.join(PATCH_TYPES)}")
    if req.method in ("PUT", "PATCH") and not req.body:
        raise HttpError(400, "BadRequest", "the request body is empty")
    decoded = decode_body(req.body, req.headers) if req.method in ("PUT", "PATCH") else None
    return api.json(200, scale(api.store, rtype, namespace, name, req.method, decoded, kind,
                               bool(req.query.get("dryRun"))), req)


def _included(query) -> str:
    """What a Table row's `object` holds: None, Metadata (the default) or Object."""
    return query.get("includeObject") or "Metadata"


def _delete_options(req: Request) -> dict:
    """The DELETE body (DeleteOptions, JSON or protobuf), or {} when there is none."""
    if not req.body or not req.body.strip():
        return {}
    options = decode_body(req.body, req.headers)
    if not isinstance(options, dict):
        raise HttpError(400, "BadRequest", "the request body must be a DeleteOptions object")
    return options


def _check_name(obj, name):
    given = (obj.get("metadata") or {}).get("name") if isinstance(obj, dict) else None
    if given != name:
        raise HttpError(400, "BadRequest", f"the name of the object ({given}) does not match the name on the URL ({name})")


def _stamp(rtype, version, obj):
    if not isinstance(obj, dict):
        raise HttpError(400, "BadRequest", "the request body must be a JSON object")
    obj.setdefault("kind", rtype.kind)
    obj.setdefault("apiVersion", rtype.api_version(version))
    return obj
