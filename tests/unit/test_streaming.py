"""The streaming protocols' negotiation and final Status (sandbox/streaming), without a connection:
what a client reads when an exec ends, and what it is told when the upgrade is refused."""
import json
from email.message import Message

import pytest

from c7n_sandbox.streaming import portforward, remotecommand
from c7n_sandbox.streaming.websocket import Refused, negotiate


def _headers(**values) -> Message:
    headers = Message()
    for name, value in values.items():
        for one in value if isinstance(value, list) else [value]:
            headers[name.replace("_", "-")] = one
    return headers


def test_an_exit_code_ends_the_exec_as_kubectl_reads_it():
    assert json.loads(remotecommand.exit_status(0, ["true"])) == {"metadata": {}, "status": "Success"}
    failed = json.loads(remotecommand.exit_status(3, ["sh", "-c", "exit 3"]))
    assert (failed["status"], failed["reason"]) == ("Failure", "NonZeroExitCode")
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


def test_a_command_that_cannot_start_is_an_internal_error_not_an_exit_code():
    status = json.loads(remotecommand.exit_status(remotecommand.ExecFailed('exec: "x": not found'), ["x"]))
    assert (status["status"], status["reason"], status["code"]) == ("Failure", "InternalError", 500)
    assert status["message"] == 'Internal error occurred: exec: "x": not found'


def test_spdy_takes_the_first_protocol_the_client_offers_that_the_server_speaks():
    offered = _headers(Upgrade="SPDY/3.1", X_Stream_Protocol_Version=["v5.channel.k8s.io", "v4.channel.k8s.io"])
    assert remotecommand.spdy_headers(offered)["X-Stream-Protocol-Version"] == "v4.channel.k8s.io"
    with pytest.raises(Refused) as none:
        remotecommand.spdy_headers(_headers(Upgrade="SPDY/3.1", X_Stream_Protocol_Version="v2.channel.k8s.io"))
    assert none.value.code == 403 and "protocol negotiation failed" in none.value.message
    with pytest.raises(Refused) as plain:
        remotecommand.spdy_headers(_headers())
    assert (plain.value.code, plain.value.message) == (400, "Upgrade request required")


def test_a_websocket_without_a_common_protocol_is_refused_as_the_server_does():
    request = _headers(Sec_WebSocket_Key="dGhlIHNhbXBsZSBub25jZQ==", Sec_WebSocket_Version="13",
                       Sec_WebSocket_Protocol="v5.channel.k8s.io, v4.channel.k8s.io")
    assert negotiate(request, ("v4.channel.k8s.io",))["Sec-WebSocket-Protocol"] == "v4.channel.k8s.io"
    assert negotiate(request, ("v4.channel.k8s.io",))["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    with pytest.raises(Refused) as refused:
        negotiate(request, ("v3.channel.k8s.io",))
    assert refused.value.code == 400 and "unable to negotiate protocol" in refused.value.message


@pytest.mark.parametrize("values, expected", [(["8080"], [8080]), (["80,443", "9000"], [80, 443, 9000])])
def test_port_forward_ports_from_the_query(values, expected):
    assert portforward.ports(values) == expected


@pytest.mark.parametrize("values", [[], ["http"], ["0"], ["70000"], [",".join(["1"] * 17)]])
def test_port_forward_refuses_bad_or_missing_ports(values):
    with pytest.raises(Refused) as refused:
        portforward.ports(values)
    assert refused.value.code == 400
