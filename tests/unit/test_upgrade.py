"""ReleaseUpgrade: rendering the plan's values from the env."""
from c7n_upgrade.upgrade import render_values
from c7n_upgrade.plan import load_plan

PLACEHOLDERS = {"namespace": "ns1", "mysql_service_host": "db.internal", "mysql_service_port": 3307,
                "mysql_user": "choerodon", "mysql_password": "pw-123456", "database": "notify_service",
                "kafka_brokers": "k0:9092,k1:9092", "zookeeper_nodes": "z0:2181", "gitlab_ssh_host": "git.example",
                "gateway_url": "http://gw.example", "minio_url": "http://minio.example", "front_url": "http://front"}


def test_notify_values_follow_the_guide():
    values = render_values(load_plan("0.8-to-0.9").step("notify-service").values, PLACEHOLDERS)
    assert values["preJob.preConfig.mysql.port"] == 3307  # a port stays an integer
    assert values["preJob.preConfig.mysql.database"] == "manager_service"
    assert values["preJob.preInitDB.mysql.database"] == "notify_service"
    assert values["env.open.SPRING_DATASOURCE_URL"] == (
        "jdbc:mysql://db.internal:3307/notify_service?useUnicode=true&characterEncoding=utf-8&useSSL=false")
    assert values["env.open.EUREKA_CLIENT_SERVICEURL_DEFAULTZONE"] == "http://register-server.ns1:8000/eureka/"
    assert values["env.open.SPRING_CLOUD_CONFIG_URI"] == "http://config-server.ns1:8010/"
    assert values["env.open.SPRING_KAFKA_BOOTSTRAP_SERVERS"] == "k0:9092,k1:9092"  # no \, needed in a file
    assert values["env.open.SPRING_CLOUD_CONFIG_ENABLED"] is True
    assert values["env.open.SPRING_DATASOURCE_PASSWORD"] == "pw-123456"


def test_devops_and_front_values():
    plan = load_plan("0.8-to-0.9")
    devops = render_values(plan.step("devops-service").values, PLACEHOLDERS)
    assert devops["env.open.AGENT_VERSION"] == "0.9.6"
    assert devops["env.open.SERVICES_GITLAB_SSHURL"] == "git.example"
    assert devops["env.open.SECURITY_IGNORED"] == "/ci,/webhook,/v2/api-docs,/agent/**,/ws/**,/webhook/**"
    front = render_values(plan.step("choerodon-front").values, PLACEHOLDERS)
    assert front == {"env.open.PRO_FILE_SERVER": "http://minio.example"}
