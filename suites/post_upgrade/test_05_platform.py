"""Post-upgrade proof: the front page, the OAuth client and the smooth-upgrade log."""
from c7n_upgrade import operations


def test_front_page(access, releases, plan, step_log):
    """The front service serves the Choerodon HTML page."""
    step = plan.step("choerodon-front")
    operations.check_front_page(access, releases.name_of(step), step.service_port, step_log)


def test_oauth_client_exists(platform, settings):
    """The OAuth client 'choerodon' exists with the guide's grant types and redirect URI."""
    problems = operations.oauth_client_problems(platform, settings.front_oauth)
    assert not problems, "; ".join(problems)


def test_smooth_upgrade_logged(mysql_app):
    """devops_check_log holds the smooth-upgrade run (read as the services' user)."""
    row = mysql_app.latest_devops_check_log()
    assert row is not None, "devops_check_log has no row: the smooth-upgrade API was not called"
    assert row.get("log"), "the devops_check_log row has an empty log"
