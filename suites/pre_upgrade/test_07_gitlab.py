"""Pre-flight: GitLab accepts SSH (required by devops-service 0.9)."""
from c7n_upgrade import special
from fixtures.steps import _run


def test_gitlab_ssh(installation):
    """GitLab's SSH port is reachable and answers as SSH."""
    _run(special.check_gitlab_ssh, installation)
