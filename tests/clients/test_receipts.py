"""Receipt coalescing (clients.receipts)."""

from __future__ import annotations

from clients.receipts import Receipt, ReceiptBook


def test_many_messages_cost_one_cumulative_receipt() -> None:
    book = ReceiptBook()
    for seq in range(1, 101):
        book.want("dm:a:b", delivered=seq)
    assert book.pending() == [Receipt("dm:a:b", "delivered", 100)]


def test_a_confirmed_receipt_is_not_sent_again() -> None:
    book = ReceiptBook()
    book.want("dm:a:b", delivered=5)
    [receipt] = book.pending()
    book.confirm(receipt)
    assert book.pending() == []
    book.want("dm:a:b", delivered=4)
    assert book.pending() == []
    book.want("dm:a:b", delivered=6)
    assert book.pending() == [Receipt("dm:a:b", "delivered", 6)]


def test_read_covers_delivered() -> None:
    book = ReceiptBook()
    book.want("dm:a:b", delivered=7, read=7)
    assert book.pending() == [Receipt("dm:a:b", "read", 7)]
    book.want("dm:a:b", delivered=9)
    assert book.pending() == [Receipt("dm:a:b", "read", 7), Receipt("dm:a:b", "delivered", 9)]
    book.confirm(Receipt("dm:a:b", "read", 7))
    assert book.pending() == [Receipt("dm:a:b", "delivered", 9)]


def test_server_report_lower_than_sent_makes_it_owed_again() -> None:
    book = ReceiptBook()
    book.want("dm:a:b", delivered=5)
    book.confirm(Receipt("dm:a:b", "delivered", 5))
    # The broker acknowledged it but died before the backend stored it.
    book.server_has("dm:a:b", delivered=2, read=0)
    assert book.pending() == [Receipt("dm:a:b", "delivered", 5)]


def test_server_having_more_owes_nothing() -> None:
    book = ReceiptBook()
    book.want("dm:a:b", delivered=5)
    book.server_has_at_least("dm:a:b", delivered=6, read=6)
    assert book.pending() == []


def test_receipt_wire_shape() -> None:
    assert Receipt("g:x", "read", 3).to_wire() == {"conv": "g:x", "read": 3}
