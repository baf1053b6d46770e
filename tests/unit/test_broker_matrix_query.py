"""How ``/matrix`` groups ``q[][...]`` keys into selectors (as Rack does)."""

from __future__ import annotations

from contracts.broker._matrix import parse_matrix_query


def test_a_repeated_key_starts_the_next_selector() -> None:
    query = parse_matrix_query(
        [
            ("q[][pacticipant]", "A"),
            ("q[][version]", "1"),
            ("q[][pacticipant]", "B"),
            ("q[][latest]", "true"),
        ]
    )
    assert [(s.pacticipant, s.version, s.latest) for s in query.selectors] == [
        ("A", "1", False),
        ("B", None, True),
    ]


def test_keys_before_the_pacticipant_belong_to_its_selector() -> None:
    query = parse_matrix_query([("q[][version]", "1"), ("q[][pacticipant]", "A")])
    assert [(s.pacticipant, s.version) for s in query.selectors] == [("A", "1")]
