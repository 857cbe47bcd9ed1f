"""The verbs: every verb the grammar reads has exactly one handler, and the other way round."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.commands.grammar import DESK_GRAMMAR, TICKET_GRAMMAR, USAGE, CommandError, parse
from core.commands.run import DESK_VERBS, TICKET_VERBS

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_every_verb_has_a_usage_a_reader_and_a_handler() -> None:
    assert set(TICKET_GRAMMAR) == set(TICKET_VERBS)
    assert set(DESK_GRAMMAR) == set(DESK_VERBS)
    assert list(USAGE) == [*TICKET_GRAMMAR, *DESK_GRAMMAR]
    assert all(usage.startswith(verb) for verb, usage in USAGE.items())


@pytest.mark.parametrize("verb", sorted(TICKET_GRAMMAR))
def test_a_ticket_verb_without_its_ticket_says_what_is_missing(verb: str) -> None:
    with pytest.raises(CommandError, match=f"missing ticket; usage: {verb} <ticket>"):
        parse(verb, NOW, ZoneInfo("UTC"))


def test_help_lists_every_usage_in_table_order() -> None:
    with pytest.raises(CommandError) as raised:
        parse("help", NOW, ZoneInfo("UTC"))
    assert str(raised.value) == "commands: " + "; ".join(USAGE.values())
