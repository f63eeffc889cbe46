"""Pre-flight: GitLab accepts SSH (required by devops-service 0.9)."""
from c7n_upgrade import special


def test_gitlab_ssh(installation):
    """GitLab's SSH port is reachable and answers as SSH."""
    special.check_gitlab_ssh(installation)
