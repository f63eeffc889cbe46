"""Probes: Spring Boot 1.5 health bodies, Eureka listings (JSON both shapes, XML), the front page.

Samples come from the guide (shared/seed/upgrade-0.8-to-0.9.zh.md) and from
shared/reference/choerodon-facts.md, copied here as literals."""
from __future__ import annotations

import json

import pytest

from c7n_upgrade.probes import (
    EurekaInstance,
    ProbeError,
    check_front_html,
    eureka_version_problems,
    parse_eureka,
    parse_health,
)

# ---------------------------------------------------------------------------------------------
# health

UP_BODY = ('{"status":"UP","diskSpace":{"status":"UP","total":105553780736,"free":52776890368,'
           '"threshold":10485760},"db":{"status":"UP","database":"MySQL","hello":1}}')
DOWN_BODY = ('{"status":"DOWN","diskSpace":{"status":"UP","total":105553780736,"free":52776890368,'
             '"threshold":10485760},"db":{"status":"DOWN","error":"java.sql.SQLException: Access denied"}}')


def test_health_up():
    health = parse_health(200, UP_BODY)
    assert health.status == "UP" and health.code == 200 and health.up
    assert health.body["db"]["status"] == "UP"
    assert health.error is None


def test_health_down_503():
    health = parse_health(503, DOWN_BODY)
    assert health.status == "DOWN" and health.code == 503 and not health.up
    assert health.body["db"]["status"] == "DOWN"


def test_health_out_of_service_bytes():
    health = parse_health(503, b'{"status":"OUT_OF_SERVICE"}')
    assert health.status == "OUT_OF_SERVICE" and not health.up


def test_health_garbage_is_invalid_not_an_exception():
    health = parse_health(200, "<html><body>Whitelabel Error Page</body></html>")
    assert health.status == "INVALID"
    assert "not JSON" in health.error and "Whitelabel" in health.error


def test_health_empty_body():
    health = parse_health(502, "")
    assert health.status == "INVALID" and "empty body" in health.error and "502" in health.error


def test_health_without_status():
    health = parse_health(200, '{"diskSpace":{"status":"UP"}}')
    assert health.status == "INVALID" and "no 'status' field" in health.error


def test_health_spring_error_page():
    body = '{"timestamp":1528201698,"status":404,"error":"Not Found","path":"/health"}'
    health = parse_health(404, body)
    assert health.status == "INVALID" and "404" in health.error


def test_health_json_array():
    assert parse_health(200, "[1,2]").status == "INVALID"


# ---------------------------------------------------------------------------------------------
# eureka

# The guide's sample (升级register server), verbatim.
GUIDE_EUREKA = """
{
    "name": "go-register-server",
    "instance": [
        {
        "instanceId": "192.168.3.19:go-register-server:8000",
        "hostName": "192.168.3.19",
        "app": "go-register-server",
        "ipAddr": "192.168.3.19",
        "status": "UP",
        "overriddenstatus": "UNKNOWN",
        "port": {
            "@enabled": true,
            "$": 8000
        },
        "securePort": {
            "@enabled": false,
            "$": 443
        },
        "countryId": 8,
        "dataCenterInfo": {
            "name": "MyOwn",
            "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"
        },
        "leaseInfo": {
            "renewalIntervalInSecs": 10,
            "durationInSecs": 90,
            "registrationTimestamp": 1528201698,
            "lastRenewalTimestamp": 1528201698,
            "evictionTimestamp": 0,
            "serviceUpTimestamp": 1528201698
        },
        "metadata": {
            "VERSION": "0.9.0"
        },
        "homePageUrl": "http://192.168.3.19:8000/",
        "statusPageUrl": "http://192.168.3.19:8000/info",
        "healthCheckUrl": "http://192.168.3.19:8000/health",
        "vipAddress": "go-register-server",
        "secureVipAddress": "go-register-server",
        "isCoordinatingDiscoveryServer": true,
        "lastUpdatedTimestamp": 1528201698,
        "lastDirtyTimestamp": 1528201698,
        "actionType": "ADDED"
        }
    ]
}
"""

GUIDE_INSTANCE = EurekaInstance(app="go-register-server", instance_id="192.168.3.19:go-register-server:8000",
                                ip="192.168.3.19", port=8000, status="UP", version="0.9.0")


def _inst(app, ip, version, port=8031):
    return {"instanceId": f"{ip}:{app}:{port}", "app": app, "ipAddr": ip, "status": "UP",
            "port": {"@enabled": True, "$": port}, "metadata": {"VERSION": version}}


# The real top level of go-register-server 0.9.0 (choerodon-facts.md).
REAL_EUREKA = json.dumps({"applications": {
    "versions__delta": "1",
    "apps__hashcode": "UP_3_",
    "application": [
        json.loads(GUIDE_EUREKA),
        {"name": "iam-service", "instance": [_inst("iam-service", "10.0.0.5", "0.9.0"),
                                             _inst("iam-service", "10.0.0.6", "0.8.0")]},
    ],
}})

XML_EUREKA = """<?xml version="1.0" encoding="UTF-8"?>
<applications>
  <versions__delta>1</versions__delta>
  <apps__hashcode>UP_2_</apps__hashcode>
  <application>
    <name>GO-REGISTER-SERVER</name>
    <instance>
      <instanceId>192.168.3.19:go-register-server:8000</instanceId>
      <hostName>192.168.3.19</hostName>
      <app>GO-REGISTER-SERVER</app>
      <ipAddr>192.168.3.19</ipAddr>
      <status>UP</status>
      <port enabled="true">8000</port>
      <securePort enabled="false">443</securePort>
      <metadata>
        <VERSION>0.9.0</VERSION>
      </metadata>
    </instance>
  </application>
  <application>
    <name>CONFIG-SERVER</name>
    <instance>
      <instanceId>10.0.0.9:config-server:8010</instanceId>
      <app>CONFIG-SERVER</app>
      <ipAddr>10.0.0.9</ipAddr>
      <status>UP</status>
      <port enabled="true">8010</port>
      <metadata><VERSION>0.9.0</VERSION></metadata>
    </instance>
  </application>
</applications>
"""


def test_eureka_guide_single_app_shape():
    assert parse_eureka(GUIDE_EUREKA, "application/json") == [GUIDE_INSTANCE]


def test_eureka_real_shape():
    instances = parse_eureka(REAL_EUREKA.encode(), "application/json;charset=UTF-8")
    assert instances[0] == GUIDE_INSTANCE
    assert [(i.app, i.ip, i.version) for i in instances[1:]] == [
        ("iam-service", "10.0.0.5", "0.9.0"), ("iam-service", "10.0.0.6", "0.8.0")]


def test_eureka_single_objects_instead_of_lists():
    one = {"applications": {"application": {"name": "iam-service",
                                            "instance": _inst("iam-service", "10.0.0.5", "0.9.0")}}}
    instances = parse_eureka(json.dumps(one), None)
    assert [(i.app, i.port, i.version) for i in instances] == [("iam-service", 8031, "0.9.0")]


def test_eureka_empty_registry():
    assert parse_eureka('{"applications":{"versions__delta":"1","apps__hashcode":"","application":[]}}') == []


def test_eureka_xml():
    instances = parse_eureka(XML_EUREKA, "application/xml")
    assert instances == [
        EurekaInstance(app="GO-REGISTER-SERVER", instance_id="192.168.3.19:go-register-server:8000",
                       ip="192.168.3.19", port=8000, status="UP", version="0.9.0"),
        EurekaInstance(app="CONFIG-SERVER", instance_id="10.0.0.9:config-server:8010",
                       ip="10.0.0.9", port=8010, status="UP", version="0.9.0"),
    ]
    # sniffed without a content type too
    assert parse_eureka(XML_EUREKA.encode(), None) == instances


def test_eureka_xml_with_doctype_is_refused():
    evil = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><applications/>'
    with pytest.raises(ProbeError, match="DOCTYPE"):
        parse_eureka(evil, "application/xml")


@pytest.mark.parametrize("body", ["", "<html>502 Bad Gateway", "not json at all", '{"foo": 1}', "[1, 2]"])
def test_eureka_garbage(body):
    with pytest.raises(ProbeError) as err:
        parse_eureka(body, None)
    assert str(err.value).startswith("eureka:")
    if body:
        assert body[:20] in str(err.value)


def test_eureka_garbage_excerpt_is_bounded():
    body = "x" * 1000
    with pytest.raises(ProbeError) as err:
        parse_eureka(body, None)
    assert "x" * 200 in str(err.value) and "x" * 201 not in str(err.value)


def test_eureka_version_problems():
    instances = parse_eureka(REAL_EUREKA)
    assert eureka_version_problems(instances, {"go-register-server": "0.9.0"}) == []
    problems = eureka_version_problems(instances, {"iam-service": "0.9.0"})
    assert len(problems) == 1 and "10.0.0.6:8031 VERSION 0.8.0" in problems[0]
    problems = eureka_version_problems(instances, {"go-register-server": "0.9.1"})
    assert problems == ["go-register-server: VERSION is 0.9.0, expected 0.9.1 (1 instance(s): 192.168.3.19:8000)"]
    problems = eureka_version_problems(instances, {"notify-service": "0.9.0"})
    assert len(problems) == 1 and problems[0].startswith("notify-service: not registered in Eureka")


def test_eureka_version_problems_case_insensitive_apps():
    instances = parse_eureka(XML_EUREKA)
    assert eureka_version_problems(instances, {"go-register-server": "0.9.0", "config-server": "0.9.0"}) == []


# ---------------------------------------------------------------------------------------------
# front page

# The guide's page (整合前端升级), verbatim: note the missing spaces between attributes.
GUIDE_HTML = ('<!DOCTYPE html><html><head><meta http-equiv="Content-type"content="text/html; charset=utf-8">'
              '<title>Choerodon</title><link rel="shortcut icon"href="favicon.ico"></head><body>'
              '<div id="app"></div><script type="text/javascript"src="app/vendor_19e4b950.js"></script>'
              '<script type="text/javascript"src="app/main_19e4b950.js"></script></body></html>')


def test_front_guide_html_passes():
    assert check_front_html(200, GUIDE_HTML) == []
    assert check_front_html(200, GUIDE_HTML.encode()) == []


def test_front_wrong_status():
    problems = check_front_html(502, GUIDE_HTML)
    assert problems == ["HTTP 502, expected 200"]


def test_front_wrong_title():
    problems = check_front_html(200, GUIDE_HTML.replace("<title>Choerodon</title>", "<title>nginx</title>"))
    assert len(problems) == 1 and "missing <title>Choerodon</title>" in problems[0] and "'nginx'" in problems[0]


def test_front_missing_app_div():
    problems = check_front_html(200, GUIDE_HTML.replace('<div id="app"></div>', '<div id="root"></div>'))
    assert len(problems) == 1 and 'missing <div id="app"></div>' in problems[0]


def test_front_no_script():
    html = GUIDE_HTML.split("<script")[0] + "</body></html>"
    problems = check_front_html(200, html)
    assert len(problems) == 1 and "no <script src=...js>" in problems[0]


def test_front_nginx_default_page():
    html = "<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>"
    assert len(check_front_html(200, html)) == 3


def test_front_empty():
    assert check_front_html(200, "") == ["empty page"]


# ---------------------------------------------------------------------------------------------
# HTTP helpers against a local server


@pytest.mark.parametrize("status, body, expected", [
    (200, '{"build": {"artifact": "iam-service", "version": "0.9.0"}}', "0.9.0"),
    (200, '{"app": {"version": "0.8.1"}}', "0.8.1"),
    (200, '{}', None),                 # Spring Boot without build info states nothing
    (404, '{"status": 404}', None),
    (200, "<html>", None),
    (None, "", None),
])
def test_info_version(status, body, expected):
    from c7n_upgrade.probes import parse_info_version

    assert parse_info_version(status, body) == expected


# ---- image references, as docker reads them --------------------------------------------------------
@pytest.mark.parametrize("image, tag, expected", [
    ("registry.cn-hangzhou.aliyuncs.com/choerodon/iam-service:0.8.0", "0.9.0",
     ("registry.cn-hangzhou.aliyuncs.com", "choerodon/iam-service", "0.9.0")),
    ("harbor.local:5000/c7n/iam-service:0.8.0", None, ("harbor.local:5000", "c7n/iam-service", "0.8.0")),
    ("busybox", None, ("registry-1.docker.io", "library/busybox", "latest")),
    ("choerodon/iam-service@sha256:abc", "0.9.0", ("registry-1.docker.io", "choerodon/iam-service", "0.9.0")),
    ("localhost/x/y:1", None, ("localhost", "x/y", "1")),
    ("docker.io/choerodon/iam-service:0.8.0", None, ("registry-1.docker.io", "choerodon/iam-service", "0.8.0")),
    ("index.docker.io/library/busybox", None, ("registry-1.docker.io", "library/busybox", "latest")),
])
def test_image_references_parse_as_docker_reads_them(image, tag, expected):
    from c7n_upgrade.registry import ImageRef

    ref = ImageRef.parse(image, tag=tag)
    assert (ref.registry, ref.name, ref.tag) == expected
