"""Pre-flight: the registries hold the images the upgrade will run, where they answer this machine."""
from c7n_upgrade import operations


def test_target_images_are_in_their_registries(plan, releases, access, settings, reporter):
    """Each release's image repository at its target tag is in its registry (asked read-only, anonymously,
    as a pull starts); a registry that does not answer from here, or wants credentials, is noted, not failed."""
    steps = plan.steps
    views = {s.release: releases.view(s) for s in steps}
    images, unchecked = operations.target_images(steps, views, access.pods_by_release())
    answers = operations.ask_registries(images, settings.http.timeout)
    for answer in answers:
        reporter.note(f"{answer.image}: {answer.status}" + (f" ({answer.detail})" if answer.detail else ""))
    if unchecked:
        reporter.note("not checked: " + ", ".join(unchecked))
    unasked = [a for a in answers if a.status in ("unanswered", "refused")]
    if unasked:
        reporter.note(f"{len(unasked)} image(s) could not be checked from this machine: make sure the cluster's "
                      "registry holds them (docs/real-cluster.md, 'An air-gapped cluster')")
    missing = [a for a in answers if a.status == "missing"]
    assert not missing, ("the upgrade would stop at these steps with ErrImagePull: "
                         + "; ".join(f"{a.image} is not in its registry ({a.detail})" for a in missing))
