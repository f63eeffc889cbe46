"""Post-upgrade proof: the front page, the OAuth client and the smooth-upgrade log."""
from c7n_upgrade import special


def test_front_page(installation, plan):
    """The front service serves the Choerodon HTML page."""
    special.check_front_page(installation, plan.step("choerodon-front"))


def test_oauth_client_exists(installation, env):
    """The OAuth client 'choerodon' exists with the guide's grant types and redirect URI."""
    platform = installation.platform()
    client = platform.query_client(env.platform.organization_id, "choerodon")
    assert client, "OAuth client 'choerodon' not found"
    differences = platform.client_differences(client, special.oauth_client_body(installation))
    assert not differences, "; ".join(differences)


def test_smooth_upgrade_logged(mysql_admin):
    """devops_check_log holds the smooth-upgrade run."""
    row = mysql_admin.latest_devops_check_log()
    assert row is not None, "devops_check_log has no row: the smooth-upgrade API was not called"
    assert row.get("log"), "the devops_check_log row has an empty log"
