"""Step 16: choerodon-front 0.9.1 with PRO_FILE_SERVER; the page; the OAuth client 'choerodon'."""
import pytest

from c7n_upgrade import special
from fixtures import steps
from fixtures.steps import skip_if_dry_run

pytestmark = pytest.mark.step(16)

test_upgrade = steps.test_upgrade
test_rollout = steps.test_rollout


def test_front_page(step_work, ctx):
    """The front service serves the Choerodon HTML: title, app div, scripts."""
    skip_if_dry_run(ctx, "the front end was not upgraded")
    special.check_front_page(step_work.inst, step_work.step)


def test_oauth_client(step_work, ctx):
    """Create (or verify) the OAuth client 'choerodon' through iam-service."""
    special.ensure_oauth_client(step_work.inst, dry_run=ctx.dry_run)
