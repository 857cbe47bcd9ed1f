"""`same <ticket> <ticket>`: the two requesters are one person, whom the cap counts as one."""

from __future__ import annotations

from sqlalchemy import select

from core.channel import CommandReply
from core.commands.act import Act, done
from core.commands.grammar import CommandError
from core.people import link, others, person_of
from core.storage.models import Contact, EventKind, Ticket, Visibility
from core.tickets.timeline import add_event


def describe(contact: Contact) -> str:
    """How agents know a contact: its channel and its address there (`slack U123`)."""
    return f"{contact.channel} {contact.address}"


async def same(act: Act, ticket: Ticket) -> CommandReply:
    """Link the requesters of `ticket` and the second ticket; refused, nothing changes, when
    the second ticket does not exist or both requesters are one person already."""
    number = act.command.other
    other = await act.session.get(Ticket, number) if number is not None else None
    if other is None:
        raise CommandError(f"there is no ticket T-{number}")
    # Locked in id order, so two agents linking the same contacts wait for each other.
    query = select(Contact).where(Contact.id.in_({ticket.requester_id, other.requester_id}))
    found = (await act.session.scalars(query.order_by(Contact.id).with_for_update())).all()
    contacts = {contact.id: contact for contact in found}
    mine, theirs = contacts[ticket.requester_id], contacts[other.requester_id]
    if person_of(mine) == person_of(theirs):
        same_contact = "" if mine.id != theirs.id else f" ({describe(mine)} on both)"
        raise CommandError(
            f"{ticket.ref} and {other.ref} are already from one person{same_contact}; "
            "nothing changed"
        )
    await link(act.session, mine, theirs)
    for one, linked_with in ((ticket, theirs), (other, mine)):
        await add_event(
            act.session, one, EventKind.PERSON_LINKED,
            f"requester linked as one person with {describe(linked_with)}", act.now,
            visibility=Visibility.INTERNAL, author=act.agent,
        )  # fmt: skip
    return done(
        ticket,
        f"{ticket.ref} and {other.ref} are from one person now ({describe(mine)}, "
        f"{describe(theirs)}): automatic messages to them are counted together",
    )


async def also_lines(act: Act, ticket: Ticket) -> list[str]:
    """For `show`: the requester's other contacts, when `same` (or Slack) linked any."""
    requester = await act.session.get(Contact, ticket.requester_id)
    linked = await others(act.session, requester) if requester is not None else []
    if not linked:
        return []
    return ["also: " + ", ".join(describe(contact) for contact in linked)]
