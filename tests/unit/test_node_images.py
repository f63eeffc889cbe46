"""The sandbox node's registry (issue 16): which image references it "pulls", how it normalizes them,
and the pull errors it reports for the rest."""
import pytest
import yaml

from c7n_upgrade.plan import PLANS_DIR
from c7n_sandbox.node import images
from c7n_sandbox.node.container import duration
from c7n_sandbox.node.process import expand


@pytest.mark.parametrize("reference, name", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox:1.28", "docker.io/library/busybox:1.28"),
    ("docker.io/busybox:stable", "docker.io/library/busybox:stable"),
    ("docker.io/library/busybox:1.36.1-musl", "docker.io/library/busybox:1.36.1-musl"),
    ("registry.cn-hangzhou.aliyuncs.com/choerodon/manager-service:0.9.0",
     "registry.cn-hangzhou.aliyuncs.com/choerodon/manager-service:0.9.0"),
    ("registry.cn-hangzhou.aliyuncs.com/choerodon/dbtool:0.5.2", "registry.cn-hangzhou.aliyuncs.com/choerodon/dbtool:0.5.2"),
])
def test_known_images_normalize_as_the_kubelet_reports_them(reference, name):
    image = images.parse(reference)
    assert image.name == name and images.known(image)
    assert image.image_id.startswith(name.rsplit(":", 1)[0] + "@sha256:") and len(image.image_id.split(":")[-1]) == 64


def test_the_images_of_the_sandboxs_own_plan_are_known(tmp_path):
    """`up --plan FILE` (the benchmarks' synthetic plans): that plan's charts can be pulled."""
    data = yaml.safe_load((PLANS_DIR / "0.8-to-0.9.yaml").read_text(encoding="utf-8"))
    data["name"] = "with-synth"
    data["steps"].append({"number": len(data["steps"]) + 1, "release": "synth-017", "chart": "synth-017",
                          "action": "upgrade", "from_version": "0.8.0", "version": "0.9.0", "service_port": 7100,
                          "health_port": 7101, "check": "health", "section": "synthetic"})
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    synth = images.parse("registry.cn-hangzhou.aliyuncs.com/choerodon/synth-017:0.8.0")
    assert images.known(synth, str(plan)) and not images.known(synth)
    assert images.known(images.parse("registry.cn-hangzhou.aliyuncs.com/choerodon/manager-service:0.9.0"), str(plan))


@pytest.mark.parametrize("reference, flavour", [
    ("registry.invalid/nope:1.0", "lookup registry.invalid: no such host"),
    ("busybox:no-such-tag", "docker.io/library/busybox:no-such-tag: not found"),
    ("nginx", "pull access denied"),
    ("localhost:5000/busybox", "dial tcp localhost:5000: connect: connection refused"),
    ("registry.cn-hangzhou.aliyuncs.com/choerodon/manager-service:9.9.9", "manager-service:9.9.9: not found"),
    ("registry.cn-hangzhou.aliyuncs.com/choerodon/no-such-chart:0.9.0", ": not found"),
])
def test_other_images_fail_to_pull_with_a_containerd_error(reference, flavour):
    image = images.parse(reference)
    assert not images.known(image)
    error = images.pull_error(reference, image)
    assert error.startswith(f'failed to pull and unpack image "{image.name}": failed to resolve reference ')
    assert flavour in error


def test_only_choerodon_images_are_services():
    assert images.parse("busybox").generic
    assert not images.parse("registry.cn-hangzhou.aliyuncs.com/choerodon/iam-service:0.9.0").generic


def test_back_off_durations_print_as_go_does():
    assert [duration(s) for s in (10, 20, 40, 80, 160, 300)] == ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s"]


def test_dollar_paren_references_expand_as_the_kubelet_does():
    env = {"POD_IP": "127.77.0.2"}
    assert expand("listen $(POD_IP):8080 $(UNSET) $$(POD_IP)", env) == "listen 127.77.0.2:8080 $(UNSET) $(POD_IP)"


def test_cri_log_records_render_as_the_kubelet_serves_them():
    from c7n_sandbox.node.server import LogView
    raw = (b"2026-12-05T11:00:00.000001Z stdout F one\n"
           b"2026-12-05T11:00:01.5Z stderr F two\n"
           b"2026-12-05T11:00:02.123456789Z stdout P thr\n")
    assert LogView({}).render(raw) == b"one\ntwo\nthr"
    assert LogView({"tailLines": "1"}).render(raw, tail=True) == b"thr"
    assert LogView({"tailLines": "0"}).render(raw, tail=True) == b""
    assert LogView({"timestamps": "true"}).render(raw).splitlines()[1] == b"2026-12-05T11:00:01.5Z two"
    assert LogView({"sinceTime": "2026-12-05T11:00:01Z"}).render(raw) == b"two\nthr"
    view = LogView({"limitBytes": "5"})
    assert view.limit(view.render(raw)) == b"one\nt" and view.exhausted and view.limit(b"more") == b""


def test_a_mirrors_copy_of_a_choerodon_image_is_pulled_when_that_loopback_registry_holds_it(monkeypatch):
    """An operator's mirror (`127.0.0.1:PORT/choerodon/iam-service:0.8.0`) is asked as a pull asks; held, it
    runs as the service; not held, or a registry the sandbox cannot reach, it fails to pull."""
    from c7n_upgrade import registry

    asked = []
    holds = {"127.0.0.1:5000/choerodon/iam-service:0.8.0"}
    monkeypatch.setattr(registry, "ask", lambda ref, timeout: asked.append(ref) or registry.Answer(
        ref, "present" if f"{ref.registry}/{ref.name}:{ref.tag}" in holds else "missing"))
    copy = images.parse("127.0.0.1:5000/choerodon/iam-service:0.8.0")
    assert copy.choerodon_name == "registry.cn-hangzhou.aliyuncs.com/choerodon/iam-service:0.8.0"
    assert not copy.generic and images.known(copy) and len(asked) == 1
    assert not images.known(images.parse("127.0.0.1:5000/choerodon/iam-service:0.9.0"))  # not held there
    assert not images.known(images.parse("127.0.0.1:5000/choerodon/nope:0.8.0")) and len(asked) == 2  # not asked
    assert not images.known(images.parse("mirror.example:5000/choerodon/iam-service:0.8.0")) and len(asked) == 2
    assert images.parse("127.0.0.1:5000/other/thing:1").generic
