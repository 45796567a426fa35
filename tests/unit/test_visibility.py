from backend.core.visibility import Window, sync_window, visible_window


def test_a_current_member_sees_from_joining_to_the_last_seq() -> None:
    window = visible_window(joined_seq=4, left_seq=None, last_seq=10)
    assert window == Window(4, 10)
    assert 4 in window and 10 in window
    assert 3 not in window and 11 not in window


def test_a_removed_member_sees_up_to_its_removal() -> None:
    assert visible_window(joined_seq=1, left_seq=7, last_seq=10) == Window(1, 7)


def test_a_new_conversation_is_empty() -> None:
    assert visible_window(joined_seq=1, left_seq=None, last_seq=0).empty


def test_sync_starts_past_what_was_confirmed_and_since() -> None:
    window = Window(4, 10)
    assert sync_window(window, confirmed=0, since=0) == Window(4, 10)
    assert sync_window(window, confirmed=6, since=0) == Window(7, 10)
    assert sync_window(window, confirmed=6, since=8) == Window(9, 10)
    assert sync_window(window, confirmed=10, since=0).empty
