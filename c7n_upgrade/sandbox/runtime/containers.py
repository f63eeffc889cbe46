"""What runs inside a sandbox container: its environment and files, the few commands the sandbox can
answer (for exec and for a container's own command), and how long a container's command runs.

Commands: `true`, `false`, `env`, `printenv [NAME]`, `echo ...`, `hostname`, `cat FILE...` (or
stdin), `sleep N`, `exit N`, and `sh|bash|/bin/sh -c SCRIPT` whose script is a sequence of these
joined by `;` or `&&`. Anything else exits 126 with a message naming what the sandbox answers.
"""
from __future__ import annotations

import base64
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable, Optional

from .events import NODE as NODE_NAME
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
COMMAND_SECONDS = 0.5        # how long a generic container's command runs before it exits
NOT_SIMULATED = 126
KNOWN = "true, false, env, printenv, echo, hostname, cat FILE, sleep, exit, and sh -c with these"
SHELLS = {"sh", "bash", "ash", "/bin/sh", "/bin/bash", "/bin/ash", "/usr/bin/env"}


@dataclass
class Container:
    """One container as its processes see it."""
    pod: str
    namespace: str
    env: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)        # absolute path -> bytes

    def run(self, argv: list[str], stdin: Optional[Callable[[], bytes]] = None) -> tuple[int, bytes, bytes, float]:
        """(exit code, stdout, stderr, seconds it sleeps) of one command line."""
        out, err, slept = [], [], 0.0
        script = _script(argv)
        if script is None:
            return NOT_SIMULATED, b"", self._unknown(argv), 0.0
        code = 0
        for connector, words in script:
            if connector == "&&" and code != 0:
                continue
            if words[0] == "exit":
                return (int(words[1]) if len(words) > 1 and words[1].isdigit() else code), \
                    b"".join(out), b"".join(err), slept
            result = self._builtin(words, stdin)
            if result is None:
                return NOT_SIMULATED, b"".join(out), b"".join(err) + self._unknown(words), slept
            code, o, e, s = result
            out.append(o)
            err.append(e)
            slept += s
        return code, b"".join(out), b"".join(err), slept

    def _builtin(self, words, stdin):
        name, args = words[0].rsplit("/", 1)[-1], words[1:]
        if name in ("true", ":"):
            return 0, b"", b"", 0.0
        if name == "false":
            return 1, b"", b"", 0.0
        if name == "env" and not args or name == "printenv" and not args:
            return 0, "".join(f"{k}={v}\n" for k, v in self.env.items()).encode(), b"", 0.0
        if name == "printenv":
            found = [self.env[a] for a in args if a in self.env]
            return (0 if len(found) == len(args) else 1), "".join(v + "\n" for v in found).encode(), b"", 0.0
        if name == "echo":
            newline = not (args[:1] == ["-n"])
            return 0, (" ".join(args[0 if newline else 1:]) + ("\n" if newline else "")).encode(), b"", 0.0
        if name == "hostname":
            return 0, f"{self.pod}\n".encode(), b"", 0.0
        if name == "cat":
            return self._cat(args, stdin)
        if name == "sleep" and len(args) == 1:
            seconds = float("inf") if args[0] == "infinity" else _seconds(args[0])
            return (0, b"", b"", seconds) if seconds is not None else (1, b"", b"sleep: invalid time interval\n", 0.0)
        return None

    def _cat(self, args, stdin):
        if not args or args == ["-"]:
            return 0, (stdin() if stdin else b""), b"", 0.0
        out, err, code = b"", b"", 0
        for path in args:
            if path in self.files:
                out += self.files[path]
            else:
                err += f"cat: {path}: No such file or directory\n".encode()
                code = 1
        return code, out, err, 0.0

    def _unknown(self, argv) -> bytes:
        return (f"sandbox: cannot run {shlex.join(argv)!r} in pod {self.namespace}/{self.pod}: the sandbox's "
                f"containers answer only {KNOWN}\n").encode()


def _script(argv: list[str]) -> Optional[list[tuple[str, list[str]]]]:
    """[(connector, words)] of a command line or an `sh -c` script; None when it is no simple script."""
    if argv and argv[0] in SHELLS and argv[0].endswith("env") and len(argv) > 1:
        argv = argv[1:]                                   # /usr/bin/env CMD...
    if len(argv) >= 3 and argv[0] in SHELLS and argv[1] == "-c":
        try:
            lexer = shlex.shlex(argv[2], posix=True, punctuation_chars=";&|<>()$`")
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:
            return None
    else:
        tokens = list(argv)
    script, words, connector = [], [], ";"
    for token in tokens:
        if token in (";", "&&"):
            if words:
                script.append((connector, words))
            words, connector = [], token
        elif re.fullmatch(r"[;&|<>()$`]+", token) or token.startswith("$"):
            return None                                   # pipes, redirections, expansions: not simulated
        else:
            words.append(token)
    if words:
        script.append((connector, words))
    return script or None


def _seconds(text: str) -> Optional[float]:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text)
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


# ---------------------------------------------------------------------------- from the pod's object

def container_of(store, pod: dict, container_name: str, pod_ip: str = "") -> Container:
    """The container's environment (as the kubelet computes it: env, envFrom, the downward API, service
    links) and files (/etc/hostname, /etc/hosts, /etc/resolv.conf, the service account's namespace,
    mounted ConfigMaps and Secrets), from the store as it is now."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    ns, name = meta.get("namespace", ""), meta["name"]
    containers = spec.get("containers") or [{}]
    c = next((c for c in containers if c.get("name") == container_name), containers[0])
    ip = pod_ip or (pod.get("status") or {}).get("podIP", "")
    env = {"PATH": PATH, "HOSTNAME": name}
    if spec.get("enableServiceLinks", True):
        env.update(_service_links(store, ns))
    for source in c.get("envFrom") or []:
        env.update({(source.get("prefix") or "") + k: v for k, v in _from_source(store, ns, source).items()})
    fields = {"metadata.name": name, "metadata.namespace": ns, "metadata.uid": meta.get("uid", ""),
              "status.podIP": ip, "spec.nodeName": spec.get("nodeName") or NODE_NAME,
              "spec.serviceAccountName": spec.get("serviceAccountName") or "default", "status.hostIP": "127.0.0.1"}
    for e in c.get("env") or []:
        if "value" in e or "valueFrom" not in e:
            env[e.get("name", "")] = str(e.get("value", ""))
        else:
            value = _value_from(store, ns, e["valueFrom"], fields)
            if value is not None:
                env[e.get("name", "")] = value
    env.setdefault("HOME", "/root")
    files = {"/etc/hostname": f"{name}\n".encode(),
             "/etc/hosts": f"127.0.0.1\tlocalhost\n{ip}\t{name}\n".encode(),
             "/etc/resolv.conf": f"nameserver 127.0.0.53\nsearch {ns}.svc.cluster.local svc.cluster.local "
                                 "cluster.local\noptions ndots:5\n".encode(),
             "/var/run/secrets/kubernetes.io/serviceaccount/namespace": ns.encode()}
    files.update(_mounted_files(store, ns, spec, c))
    return Container(name, ns, env, files)


def _service_links(store, ns) -> dict:
    env = {}
    for svc in store.list("services", ns):
        spec = svc.get("spec") or {}
        ip, ports = spec.get("clusterIP"), spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        prefix = svc["metadata"]["name"].upper().replace("-", "_")
        env[f"{prefix}_SERVICE_HOST"], env[f"{prefix}_SERVICE_PORT"] = ip, str(ports[0].get("port"))
        env[f"{prefix}_PORT"] = f"{ports[0].get('protocol', 'TCP').lower()}://{ip}:{ports[0].get('port')}"
        for p in ports:
            proto = p.get("protocol", "TCP")
            base = f"{prefix}_PORT_{p.get('port')}_{proto}"
            env.update({base: f"{proto.lower()}://{ip}:{p.get('port')}", f"{base}_PROTO": proto.lower(),
                        f"{base}_PORT": str(p.get("port")), f"{base}_ADDR": ip})
            if p.get("name"):
                env[f"{prefix}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p.get("port"))
    return env


def _data(store, ns, kind: str, name: str) -> dict[str, str]:
    """A ConfigMap's data or a Secret's decoded data ({} when it does not exist)."""
    obj = store.get_or_none("configmaps" if kind == "configMap" else "secrets", ns, name) or {}
    if kind == "configMap":
        return {k: str(v) for k, v in (obj.get("data") or {}).items()}
    return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}


def _from_source(store, ns, source) -> dict:
    for kind, ref in (("configMap", source.get("configMapRef")), ("secret", source.get("secretRef"))):
        if ref:
            return _data(store, ns, kind, ref.get("name", ""))
    return {}


def _value_from(store, ns, value_from, fields) -> Optional[str]:
    if "fieldRef" in value_from:
        return fields.get(value_from["fieldRef"].get("fieldPath", ""))
    for kind, key in (("configMap", "configMapKeyRef"), ("secret", "secretKeyRef")):
        if key in value_from:
            ref = value_from[key]
            return _data(store, ns, kind, ref.get("name", "")).get(ref.get("key", ""))
    return None


def _mounted_files(store, ns, spec, container) -> dict:
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    files = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name")) or {}
        kind = "configMap" if "configMap" in volume else "secret" if "secret" in volume else None
        if kind is None:
            continue
        source = volume[kind]
        data = _data(store, ns, kind, source.get("name") or source.get("secretName", ""))
        paths = {i["key"]: i.get("path", i["key"]) for i in source.get("items") or []} or {k: k for k in data}
        base = mount.get("mountPath", "").rstrip("/")
        for key, path in paths.items():
            if key not in data:
                continue
            if mount.get("subPath"):
                if mount["subPath"] == path:
                    files[base] = data[key].encode()
            else:
                files[f"{base}/{path}"] = data[key].encode()
    return files
