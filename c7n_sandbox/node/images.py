"""The sandbox's registry: which images the node can "pull", and how it names them.

Known: busybox in its usual spellings (`busybox`, `busybox:1.36`, `library/busybox`,
`docker.io/library/busybox:latest`, …) and the Choerodon images of the sandbox's plan
(`registry.cn-hangzhou.aliyuncs.com/choerodon/<chart>:<from_version|version>`, and the hook Jobs'
dbtool), and a copy of one in a loopback registry that holds it (a mirror: asked as a pull asks). Any other
image fails to pull with the error a containerd kubelet reports for it.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from ..chart_templates import DBTOOL_IMAGE, IMAGE_REGISTRY

DOCKER_HUB = "docker.io"
BUSYBOX_TAG = re.compile(r"^(latest|stable|musl|glibc|uclibc|\d+(\.\d+){0,2}(-(musl|glibc|uclibc))?)$")


@dataclass(frozen=True)
class Image:
    """A normalized reference, as the kubelet reports it: `docker.io/library/busybox:latest`."""
    domain: str
    path: str
    tag: str

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}:{self.tag}"

    @property
    def image_id(self) -> str:  # a stable invented digest: the same image, the same id
        return f"{self.domain}/{self.path}@sha256:{hashlib.sha256(self.name.encode()).hexdigest()}"

    @property
    def choerodon_name(self) -> str:
        """Its name in the Choerodon registry: itself, or for a mirror's copy (another registry, the same
        `choerodon/<chart>:<tag>`) the original's."""
        project = IMAGE_REGISTRY.split("/", 1)[1] + "/"
        if not self.name.startswith(IMAGE_REGISTRY + "/") and self.path.startswith(project):
            return f"{IMAGE_REGISTRY}/{self.path[len(project):]}:{self.tag}"
        return self.name

    @property
    def generic(self) -> bool:
        """busybox and the like run the container's command; a Choerodon image (or a mirror's copy) is a service."""
        return not self.choerodon_name.startswith(IMAGE_REGISTRY + "/")


def parse(reference: str) -> Image:
    """Docker's normalization: no registry host means docker.io, one path component means library/."""
    ref = reference.split("@", 1)[0]
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, remainder = first, rest
    else:
        domain, remainder = DOCKER_HUB, ref
    path, tag = remainder, "latest"
    if ":" in remainder.rsplit("/", 1)[-1]:
        path, tag = remainder.rsplit(":", 1)
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return Image(domain, path, tag)


@lru_cache(maxsize=8)
def _choerodon_images(plan_ref: str = "0.8-to-0.9") -> frozenset[str]:
    from c7n_upgrade.plan import load_plan
    plan = load_plan(plan_ref)
    names = {DBTOOL_IMAGE}
    for step in plan.steps:
        for version in (step.from_version, step.version):
            if version:
                names.add(f"{IMAGE_REGISTRY}/{step.chart}:{version}")
    return frozenset(names)


def known(image: Image, plan_ref: str = "0.8-to-0.9") -> bool:
    """busybox, or a Choerodon image of the sandbox's plan (a name in plans/ or a plan file's path)."""
    if image.domain == DOCKER_HUB and image.path == "library/busybox":
        return bool(BUSYBOX_TAG.match(image.tag))
    if image.name in _choerodon_images(plan_ref):
        return True
    return image.choerodon_name in _choerodon_images(plan_ref) and _mirror_holds(image)


def _mirror_holds(image: Image) -> bool:
    """A loopback registry (an operator's mirror in a test) holds this copy: asked as a pull asks it."""
    host = image.domain.rsplit(":", 1)[0]
    if not (host == "localhost" or host.startswith("127.")):
        return False  # the sandbox reaches no other registry
    from c7n_upgrade.registry import ImageRef, ask

    return ask(ImageRef.parse(image.name), timeout=5.0).status == "present"


def pull_error(reference: str, image: Image) -> str:
    """What containerd says when the pull fails (the kubelet puts it in the waiting message)."""
    ref = image.name
    host = image.domain
    if IMAGE_REGISTRY.startswith(host + "/") or (host == DOCKER_HUB and image.path == "library/busybox"):
        return f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": {ref}: not found'
    if host == DOCKER_HUB:
        return (f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
                "pull access denied, repository does not exist or may require authorization: "
                "server message: insufficient_scope: authorization failed")
    failure = (f"dial tcp {host}: connect: connection refused" if ":" in host
               else f"dial tcp: lookup {host}: no such host")
    return (f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
            f'failed to do request: Head "https://{host}/v2/{image.path}/manifests/{image.tag}": {failure}')
