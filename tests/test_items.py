"""A campaign's inputs: how each item is known, whatever order or edits the input has."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gupshup_async import ButtonMessage, Recipient, ValidationError
from gupshup_async.items import fingerprint, in_shard, job_of, shard_of

HELLO = ButtonMessage("Hello", ["OK"])
BYE = ButtonMessage("Bye", ["OK"])


def test_an_item_is_known_by_recipient_and_message_never_by_position() -> None:
    first = job_of(0, ("+91 98765 43210", HELLO), None)
    moved = job_of(57, ("919876543210", HELLO), None)  # another place, written another way
    assert first.key == moved.key == f"919876543210:{fingerprint(HELLO)}"
    assert job_of(0, ("+91 98765 43210", BYE), None).key != first.key


def test_with_a_journal_a_deliberate_repeat_gets_a_key_of_its_own() -> None:
    seen: dict[int, int] = {}
    keys = [job_of(n, ("+91 98765 43210", HELLO), seen).key for n in range(3)]
    assert keys[1] == f"{keys[0]}#2"
    assert keys[2] == f"{keys[0]}#3"


def test_a_key_given_by_the_user_names_the_item() -> None:
    job = job_of(3, (Recipient("+91 98765 43210", key="customer-42"), HELLO), {})
    assert job.key == "customer-42"
    assert job.to == "919876543210"


@pytest.mark.parametrize(
    ("item", "path"),
    [
        ("not a pair", "item"),
        (("12", HELLO), "to"),
        (("+91 98765 43210", "not a message"), "interactive"),
        (
            (Recipient("+91 98765 43210", callback_data="x" * 513), HELLO),
            "biz_opaque_callback_data",
        ),
    ],
)
def test_an_item_that_cannot_be_sent_is_refused_with_its_path_and_keeps_a_key(
    item: object, path: str
) -> None:
    job = job_of(4, item, None)  # type: ignore[arg-type]
    assert isinstance(job.error, ValidationError)
    assert job.error.errors[0].path == path
    assert job.key  # an outcome names it all the same


@given(st.integers(min_value=6_000_000_000, max_value=9_999_999_999), st.integers(2, 16))
def test_one_person_falls_in_one_shard_however_the_number_is_written(
    number: int, shards: int
) -> None:
    assume(phonenumbers.is_valid_number(phonenumbers.parse(f"+91{number}")))
    written = [f"+91{number}", f"0091 {number}", f"91-{number}"]
    assert len({shard_of(w, shards) for w in written}) == 1
    assert sum(in_shard((f"+91{number}", HELLO), s, shards) for s in range(shards)) == 1


def test_one_person_written_locally_and_internationally_is_one_recipient() -> None:
    seen: dict[int, int] = {}
    jobs = [
        job_of(n, (written, HELLO), seen, "IN")
        for n, written in enumerate(["098765 43210", "+91 98765 43210", "9876543210"])
    ]
    assert {job.to for job in jobs} == {"919876543210"}
    assert len({shard_of(written, 4, "IN") for written in ("098765 43210", "+919876543210")}) == 1
