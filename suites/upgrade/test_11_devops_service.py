"""Step 11: the CRD, GitLab SSH, devops-service 0.9.3 with the new values, then the smooth upgrade."""
import pytest

from c7n_upgrade import special
from fixtures import steps

pytestmark = pytest.mark.step(11)


def test_crd(step_work, ctx):
    """Create or verify the CRD c7nhelmreleases.choerodon.io as the guide writes it."""
    special.ensure_crd(step_work.inst, dry_run=ctx.dry_run)


def test_gitlab_ssh(step_work):
    """GitLab accepts SSH (the guide: required before devops-service 0.9)."""
    special.check_gitlab_ssh(step_work.inst)


test_upgrade = steps.test_upgrade
test_rollout = steps.test_rollout


def test_smooth_upgrade(step_work, ctx):
    """As admin, call the smooth-upgrade API with version=0.9; its devops_check_log row appears."""
    special.smooth_upgrade(step_work.inst, version="0.9", dry_run=ctx.dry_run)
