"""The images the upgrade will run, asked of their registries before the first write: a tag missing from
the registry (an air-gapped cluster's mirror without the 0.9 images, a typo in image.repository) fails
pre-flight instead of the step, after the steps before it have migrated their databases."""
from __future__ import annotations

from ..parallel import parallel_map
from ..registry import Answer, ImageRef, ask


def target_images(steps, views: dict, pods_by_release: dict) -> tuple[list[ImageRef], list[str]]:
    """Each upgraded release's image repository (what its newest pod runs: mid-rollout, the Deployment's
    current template, not a terminating or outgoing one) at the target tag (the charts tag their image with
    the chart version); and why a step has none to check."""
    images, unchecked = [], []
    for step in steps:
        view = views[step.release]
        if not view.exists:
            unchecked.append(f"{step.release} (installed by the plan: its chart's default image)")
            continue
        # the service's own pods: not a hook Job's (its image is the dbtool's), not one that ended
        running = [p for p in pods_by_release.get(view.name, [])
                   if p.images and p.phase in ("Pending", "Running") and "job-name" not in p.labels]
        if not running:
            unchecked.append(f"{view.name} (no pod to read its image from)")
            continue
        newest = max(running, key=lambda p: (not p.deleting, p.created or ""))
        images.append(ImageRef.parse(newest.images[0], tag=step.version))
    return images, unchecked


def ask_registries(images: list[ImageRef], timeout: float) -> list[Answer]:
    """One answer per distinct image, asked in parallel."""
    distinct = list(dict.fromkeys(images))
    return parallel_map(lambda image: ask(image, timeout=timeout), distinct)
