"""The front end serves the Choerodon page (the guide's `curl <front clusterIP>`)."""
from __future__ import annotations

from .. import probes
from ..access import ClusterAccess
from ..report import StepLog


def check_front_page(access: ClusterAccess, service: str, port: int, log: StepLog) -> None:
    """GET / through the front Service; the page has the guide's title, app div and script bundle."""
    with log.step("front"):
        status, html = access.service_get(service, port, "/")
        log.attach("front page HTML", html[:20000], "html")
        problems = probes.check_front_html(status, html)
        if problems:
            raise log.failed("front page: " + "; ".join(problems))
