import pytest

from backend import ids


@pytest.mark.parametrize("user", ["a", "alice", "bob_2", "x.y-z", "0abc", "a" * 32])
def test_valid_user_ids(user: str) -> None:
    assert ids.is_user_id(user)


@pytest.mark.parametrize(
    "user", ["", "Alice", "_x", "-x", ".x", "a" * 33, "a/b", "a+b", "a#b", "a\x00", "al ice", "é"]
)
def test_invalid_user_ids(user: str) -> None:
    assert not ids.is_user_id(user)


@pytest.mark.parametrize("phone", ["+12345678", "+491511234567", "+123456789012345"])
def test_valid_phones(phone: str) -> None:
    assert ids.is_phone(phone)


@pytest.mark.parametrize("phone", ["12345678", "+1234567", "+1234567890123456", "+12-345678", ""])
def test_invalid_phones(phone: str) -> None:
    assert not ids.is_phone(phone)


def test_dm_conv_orders_by_bytes_whichever_side_asks() -> None:
    assert ids.dm_conv("bob", "alice") == "dm:alice:bob"
    assert ids.dm_conv("alice", "bob") == "dm:alice:bob"
    # Byte order, not locale order: digits sort before letters.
    assert ids.dm_conv("zed", "9lives") == "dm:9lives:zed"


def test_dm_members_round_trips_and_rejects_malformed_ids() -> None:
    assert ids.dm_members("dm:alice:bob") == ("alice", "bob")
    for bad in ["dm:bob:alice", "dm:alice:alice", "dm:alice", "dm:a:b:c", "dm:Alice:bob", "g:abc"]:
        assert ids.dm_members(bad) is None


def test_group_conv_ids() -> None:
    conv = ids.new_group_conv()
    assert ids.is_group_conv(conv)
    assert ids.is_conv_id(conv)
    assert conv != ids.new_group_conv()
    assert not ids.is_group_conv("g:short")
    assert not ids.is_group_conv("g:" + "a" * 33)
    assert not ids.is_group_conv("g:abcdefghijklmnop/")


@pytest.mark.parametrize(
    ("client_id", "user"),
    [
        ("alice", "alice"),
        ("alice:phone", "alice"),
        ("alice:a_B-9", "alice"),
        ("bob:" + "x" * 32, "bob"),
    ],
)
def test_client_ids_name_their_user(client_id: str, user: str) -> None:
    assert ids.user_of_client_id(client_id) == user


@pytest.mark.parametrize(
    "client_id",
    ["", "Alice", "alice:", "alice:x:y", "alice:" + "x" * 33, "alice:a b", "_mqchat-backend"],
)
def test_malformed_client_ids(client_id: str) -> None:
    assert ids.user_of_client_id(client_id) is None


@pytest.mark.parametrize("msg_id", ["a", "A-b_9", "x" * 64])
def test_client_message_ids(msg_id: str) -> None:
    assert ids.is_client_msg_id(msg_id)
    assert not ids.is_client_msg_id(msg_id + "!")
