"""Contacts that are one person: linking them, and reading who is who (the cap counts people).

A person is named by one of its contacts, the canonical one: every contact of a person with
more than one holds that contact's id in `person_id` (the canonical one too), and a contact
never linked has NULL and is a person of its own. Linking two people keeps the lower canonical
id, so a link is one UPDATE and any links give the same people in any order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core import channel
from core.storage.models import Contact
from core.tickets.timeline import contact_upsert

EMAIL = "email"


def person_of(contact: Contact) -> int:
    return contact.person_id or contact.id


def people_of(connection: Connection, contact_ids: Iterable[int]) -> dict[int, int]:
    """contact -> person for these contacts and for every other contact of the same people."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    rows = connection.execute(
        select(Contact.id, Contact.person_id).where(Contact.id.in_(ids))
    ).all()
    persons = {contact_id: person_id or contact_id for contact_id, person_id in rows}
    linked = sorted({person_id for _, person_id in rows if person_id is not None})
    if linked:
        members = select(Contact.id, Contact.person_id).where(Contact.person_id.in_(linked))
        for contact_id, person_id in connection.execute(members):
            persons[contact_id] = person_id or contact_id
    return persons


async def others(session: AsyncSession, contact: Contact) -> list[Contact]:
    """The person's other contacts, oldest first."""
    if contact.person_id is None:
        return []
    query = select(Contact).where(Contact.person_id == contact.person_id, Contact.id != contact.id)
    return list((await session.scalars(query.order_by(Contact.id))).all())


async def link(session: AsyncSession, first: Contact, second: Contact) -> bool:
    """Make the two contacts' people one person; False when they already were."""
    a, b = person_of(first), person_of(second)
    if a == b:
        return False
    await session.execute(
        update(Contact)
        .where(or_(Contact.id.in_([first.id, second.id]), Contact.person_id.in_([a, b])))
        .values(person_id=min(a, b))
        .execution_options(synchronize_session="fetch")
    )
    return True


async def _mailbox(session: AsyncSession, email: str) -> Contact | None:
    # Email contacts are stored lowercased (channels/email), so the unique index answers this.
    query = select(Contact).where(Contact.channel == EMAIL, Contact.address == email)
    return (await session.scalars(query)).first()


async def needs_email_link(session: AsyncSession, contact: channel.Contact, email: str) -> bool:
    """Whether an email contact at `email` exists and is not yet one person with `contact`:
    a read, so the usual answer (linked already, or no such mailbox) writes nothing."""
    mailbox = await _mailbox(session, email)
    if mailbox is None:
        return False
    query = select(Contact).where(
        Contact.channel == contact.channel, Contact.address == contact.address
    )
    known = (await session.scalars(query)).first()
    return known is None or person_of(known) != person_of(mailbox)


async def link_verified_email(
    session: AsyncSession, contact: channel.Contact, email: str, now: datetime
) -> Contact | None:
    """Link `contact` with the email contact at `email`, which the platform vouched this
    person receives mail at; the email contact when a link was made, else None. The contact
    is created when it has not written yet (its first message may still be in the inbox)."""
    mailbox = await _mailbox(session, email)
    if mailbox is None or (contact.channel, contact.address) == (EMAIL, email):
        return None
    dialect = session.get_bind().dialect.name
    await session.execute(
        contact_upsert(dialect).values(
            channel=contact.channel, address=contact.address, name=contact.name[:200],
            created_at=now,
        )
    )  # fmt: skip
    query = select(Contact).where(
        Contact.channel == contact.channel, Contact.address == contact.address
    )
    known = (await session.scalars(query.with_for_update())).one()
    return mailbox if await link(session, known, mailbox) else None
