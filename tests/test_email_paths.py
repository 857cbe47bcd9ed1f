"""Our quick reading of MAIL/RCPT paths gives what aiosmtpd's full parser gives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.email.server import IntakeHandler, TidingsSMTP

PATHS = [
    "<carol@example.org>",
    "<carol@example.org> SIZE=1200 BODY=8BITMIME",
    " <first.last+tag@mail.example.co.uk>  SMTPUTF8",
    "<CAROL@EXAMPLE.ORG>SIZE=1",
    "<o'brien@example.ie>",
    "<a@b>",
    "<>",
    "<@relay.example:carol@example.org>",
    '<"carol smith"@example.org>',
    "<carol@[192.0.2.1]>",
    "<carol@example.org> (a comment) SIZE=1",
    "<carol..x@example.org>",
    "<.carol@example.org>",
    "<carol@-example.org>",
    "<carol@example.org",
    "carol@example.org",
    "<josé@exämple.org> SMTPUTF8",
    "<" + "x" * 80 + "@example.org>",
]


_LOOP = asyncio.new_event_loop()  # the protocol wants one; nothing here runs on it


def _server(local_part_limit: int) -> TidingsSMTP:
    handler = IntakeHandler(lambda address: True, 1024)
    server = TidingsSMTP(handler, max_bytes=1024, loop=_LOOP)
    server.local_part_limit = local_part_limit
    return server


def teardown_module() -> None:
    _LOOP.close()


def _outcome(read: Callable[[str], object], path: str) -> object:
    try:
        return read(path)
    except Exception as exc:  # aiosmtpd's parser raises on some inputs, e.g. a lone "<"
        return type(exc)


def _same(server: TidingsSMTP, path: str) -> None:
    ours = _outcome(server._getaddr, path)
    theirs = _outcome(lambda arg: SMTP._getaddr(server, arg), path)
    assert ours == theirs, path


@pytest.mark.parametrize("limit", [0, 64])
def test_known_paths_read_as_aiosmtpd_reads_them(limit: int) -> None:
    server = _server(limit)
    for path in PATHS:
        _same(server, path)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="<>@.+-_'\" ()[]:ab=Z9é", max_size=40))
def test_any_path_reads_as_aiosmtpd_reads_it(path: str) -> None:
    _same(_server(0), path)


_PART = st.text(alphabet="abcXYZ09.+-_'", min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(_PART, _PART, st.sampled_from(["", " ", " SIZE=10", "SIZE=1 BODY=7BIT ", " (c)"]))
def test_address_like_paths_read_as_aiosmtpd_reads_them(local: str, host: str, rest: str) -> None:
    _same(_server(0), f"<{local}@{host}>{rest}")
