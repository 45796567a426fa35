from backend.core.presence import Flip, PresenceTracker


def test_with_broker_events_a_user_is_online_while_any_connection_is_open() -> None:
    tracker = PresenceTracker(uses_broker_events=True)
    assert tracker.connected("ann", "ann:phone") == Flip("ann", online=True)
    assert tracker.connected("ann", "ann:laptop") is None
    assert tracker.disconnected("ann", "ann:phone") is None
    assert tracker.is_online("ann")
    assert tracker.disconnected("ann", "ann:laptop") == Flip("ann", online=False)
    assert not tracker.is_online("ann")


def test_with_broker_events_reports_and_wills_change_nothing() -> None:
    tracker = PresenceTracker(uses_broker_events=True)
    tracker.connected("ann", "ann:phone")
    tracker.connected("ann", "ann:laptop")
    # The phone's will arrives while the laptop is still connected.
    assert tracker.reported("ann", online=False) is None
    assert tracker.is_online("ann")


def test_unknown_disconnects_and_duplicate_connects_are_harmless() -> None:
    tracker = PresenceTracker(uses_broker_events=True)
    assert tracker.disconnected("ann", "ann") is None
    assert tracker.connected("ann", "ann") == Flip("ann", True)
    assert tracker.connected("ann", "ann") is None  # a takeover by the same client id
    assert tracker.disconnected("ann", "ann") == Flip("ann", False)
    assert tracker.disconnected("ann", "ann") is None


def test_a_snapshot_replaces_what_was_known() -> None:
    tracker = PresenceTracker(uses_broker_events=True)
    tracker.connected("ann", "ann")
    tracker.connected("ben", "ben")
    flips = tracker.snapshot({"ben": ["ben:x"], "cat": ["cat"], "dan": []})
    assert flips == [Flip("ann", False), Flip("cat", True)]
    assert tracker.online_users() == {"ben", "cat"}


def test_without_broker_events_the_last_report_decides() -> None:
    tracker = PresenceTracker(uses_broker_events=False)
    assert tracker.connected("ann", "ann") is None
    assert tracker.reported("ann", online=True) == Flip("ann", True)
    assert tracker.reported("ann", online=True) is None
    assert tracker.reported("ann", online=False) == Flip("ann", False)
    assert tracker.reported("ann", online=False) is None
    assert tracker.snapshot({"ann": ["ann"]}) == []


def test_restore_only_applies_to_reports() -> None:
    reports = PresenceTracker(uses_broker_events=False)
    reports.restore(["ann"])
    assert reports.online_users() == {"ann"}
    events = PresenceTracker(uses_broker_events=True)
    events.restore(["ann"])
    assert events.online_users() == set()
