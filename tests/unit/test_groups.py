import pytest

from backend.core import groups
from backend.core.groups import Member
from backend.errors import Conflict, Forbidden, InvalidRequest, NotMember, TooLarge


def members(*spec: tuple[str, bool, int]) -> dict[str, Member]:
    return {user: Member(user, admin, joined) for user, admin, joined in spec}


GROUP = members(("ann", True, 1), ("ben", False, 1), ("cat", False, 4))


def test_names_are_trimmed_and_bounded() -> None:
    assert groups.check_name("  Climbing  ") == "Climbing"
    for bad in ["", "   ", "x" * 101, "a\nb"]:
        with pytest.raises(InvalidRequest):
            groups.check_name(bad)


def test_initial_members_put_the_creator_first_once() -> None:
    assert groups.initial_members("ann", ["ben", "ann", "ben", "cat"], 256) == ["ann", "ben", "cat"]
    assert groups.initial_members("ann", [f"u{i}" for i in range(255)], 256)[0] == "ann"
    with pytest.raises(TooLarge):
        groups.initial_members("ann", [f"u{i}" for i in range(256)], 256)


def test_only_admins_manage() -> None:
    groups.require_admin(GROUP, "ann")
    with pytest.raises(Forbidden):
        groups.require_admin(GROUP, "ben")
    with pytest.raises(NotMember):
        groups.require_admin(GROUP, "zed")


def test_adding_skips_current_members_and_respects_the_limit() -> None:
    assert groups.users_to_add(GROUP, "ann", ["ben", "dan", "dan", "eve"], 256) == ["dan", "eve"]
    assert groups.users_to_add(GROUP, "ann", ["ben"], 256) == []
    assert groups.users_to_add(GROUP, "ann", ["dan"], 4) == ["dan"]
    with pytest.raises(TooLarge):
        groups.users_to_add(GROUP, "ann", ["dan", "eve"], 4)
    with pytest.raises(Forbidden):
        groups.users_to_add(GROUP, "ben", ["dan"], 256)


def test_anyone_may_leave_only_admins_remove_others() -> None:
    left = groups.departure(GROUP, "ben", "ben")
    assert (left.event_type, left.promoted) == ("member_left", None)
    removed = groups.departure(GROUP, "ann", "cat")
    assert removed.event_type == "member_removed"
    with pytest.raises(Forbidden):
        groups.departure(GROUP, "ben", "cat")
    with pytest.raises(NotMember):
        groups.departure(GROUP, "ann", "zed")
    with pytest.raises(NotMember):
        groups.departure(GROUP, "zed", "zed")


def test_when_the_last_admin_leaves_the_longest_standing_member_is_promoted() -> None:
    assert groups.departure(GROUP, "ann", "ann").promoted == "ben"
    later_first = members(("ann", True, 1), ("zoe", False, 2), ("bob", False, 3))
    assert groups.departure(later_first, "ann", "ann").promoted == "zoe"
    ties = members(("ann", True, 1), ("zoe", False, 5), ("bob", False, 5))
    assert groups.departure(ties, "ann", "ann").promoted == "bob"
    two_admins = members(("ann", True, 1), ("ben", True, 1), ("cat", False, 1))
    assert groups.departure(two_admins, "ann", "ann").promoted is None
    alone = members(("ann", True, 1))
    assert groups.departure(alone, "ann", "ann").promoted is None


def test_promote_and_demote() -> None:
    assert groups.admin_change(GROUP, "ann", "ben", make_admin=True)
    assert not groups.admin_change(GROUP, "ann", "ann", make_admin=True)
    assert not groups.admin_change(GROUP, "ann", "ben", make_admin=False)
    with pytest.raises(Conflict):
        groups.admin_change(GROUP, "ann", "ann", make_admin=False)
    two_admins = members(("ann", True, 1), ("ben", True, 1))
    assert groups.admin_change(two_admins, "ben", "ann", make_admin=False)
    with pytest.raises(Forbidden):
        groups.admin_change(GROUP, "ben", "cat", make_admin=True)
    with pytest.raises(NotMember):
        groups.admin_change(GROUP, "ann", "zed", make_admin=True)
