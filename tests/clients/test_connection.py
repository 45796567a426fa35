"""Identity checks, refusal classification and backoff (clients.connection)."""

from __future__ import annotations

import pytest
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from backend.ids import is_client_msg_id
from clients.connection import (
    RECONNECT_DELAYS_S,
    Identity,
    new_request_id,
    reconnect_delay,
    refused_credentials,
)


def test_client_id_with_and_without_tag() -> None:
    assert Identity("alice", "t").client_id == "alice"
    assert Identity("alice", "t", "phone-1").client_id == "alice:phone-1"


@pytest.mark.parametrize(("user", "tag"), [("Alice", None), ("alice", "has:colon"), ("alice", "")])
def test_bad_identities_are_refused_early(user: str, tag: str | None) -> None:
    with pytest.raises(ValueError, match=r"user id|tag"):
        Identity(user, "t", tag)


@pytest.mark.parametrize(("code", "refused"), [(4, True), (5, True), (3, False), (1, False)])
def test_credential_refusals_in_311_codes(code: int, refused: bool) -> None:
    assert refused_credentials(MqttConnectError(code)) is refused


@pytest.mark.parametrize(
    ("name", "refused"),
    [("Bad user name or password", True), ("Not authorized", True), ("Server unavailable", False)],
)
def test_credential_refusals_as_paho_reason_codes(name: str, refused: bool) -> None:
    code = ReasonCode(PacketTypes.CONNACK, name)
    assert refused_credentials(MqttConnectError(code)) is refused


def test_backoff_grows_to_a_cap_with_jitter() -> None:
    delays = [reconnect_delay(attempt) for attempt in range(20)]
    assert RECONNECT_DELAYS_S[0] <= delays[0] <= RECONNECT_DELAYS_S[0] * 1.25
    assert all(RECONNECT_DELAYS_S[-1] <= d <= RECONNECT_DELAYS_S[-1] * 1.25 for d in delays[10:])


def test_request_ids_are_valid_and_unique() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_client_msg_id(i) for i in ids)
