"""Pre-flight: GitLab accepts SSH (required by devops-service 0.9)."""
from c7n_upgrade import operations


def test_gitlab_ssh(settings, step_log):
    """GitLab's SSH port is reachable and answers as SSH."""
    operations.check_gitlab_ssh(settings.gitlab, step_log, timeout=settings.http.timeout)
