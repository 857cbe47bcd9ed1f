"""Contacts that are one person: linking them, and reading who is who (the cap counts people).

A person is named by one of its contacts, the canonical one: every contact of a person with
more than one holds that contact's id in `person_id` (the canonical one too), and a contact
never linked has NULL and is a person of its own. Linking two people keeps the lower canonical
id, so a link is one UPDATE and any links give the same people in any order."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.models import Contact

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


async def link_verified_email(
    session: AsyncSession, contact: Contact, verified_email: str
) -> Contact | None:
    """Link `contact` with the email contact at `verified_email` (the platform vouched that
    this person receives mail there); the email contact linked, or None when there is none or
    they were one person already."""
    wanted = verified_email.strip().lower()
    if not wanted or "@" not in wanted:
        return None
    query = select(Contact).where(Contact.channel == EMAIL, func.lower(Contact.address) == wanted)
    mailbox = (await session.scalars(query.order_by(Contact.id).limit(1))).first()
    if mailbox is None or mailbox.id == contact.id:
        return None
    return mailbox if await link(session, contact, mailbox) else None
