from backend.core.coalesce import Coalescer


def test_an_isolated_event_goes_out_at_once() -> None:
    coalescer: Coalescer[str] = Coalescer(window_ms=100)
    assert coalescer.offer("k", "a", rank=1, now=0) == "a"
    assert coalescer.next_deadline() is None
    assert coalescer.due(now=100) == []
    # After a quiet window, the next one goes out at once again.
    assert coalescer.offer("k", "b", rank=2, now=150) == "b"


def test_a_burst_sends_the_first_and_then_the_best_held_one() -> None:
    coalescer: Coalescer[str] = Coalescer(window_ms=100)
    assert coalescer.offer("k", "seq1", rank=1, now=0) == "seq1"
    assert coalescer.offer("k", "seq3", rank=3, now=10) is None
    assert coalescer.offer("k", "seq2", rank=2, now=20) is None  # arrived late: lower rank
    assert coalescer.next_deadline() == 100
    assert coalescer.due(now=99) == []
    assert coalescer.due(now=100) == ["seq3"]
    assert coalescer.offer("k", "seq4", rank=4, now=120) is None  # the burst goes on
    assert coalescer.due(now=200) == ["seq4"]
    assert coalescer.due(now=300) == []
    assert coalescer.next_deadline() is None


def test_keys_are_independent() -> None:
    coalescer: Coalescer[str] = Coalescer(window_ms=100)
    assert coalescer.offer("a", "a1", rank=1, now=0) == "a1"
    assert coalescer.offer("b", "b1", rank=1, now=5) == "b1"
    assert coalescer.offer("a", "a2", rank=2, now=6) is None
    assert coalescer.due(now=100) == ["a2"]
