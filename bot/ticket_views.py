"""Tickets as plain text for the terminal: a table with a header row, and one ticket's story."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.texts import Texts


def _when(texts: Texts, stamp: str | None, missing: str = "none") -> str:
    """An ISO 8601 stamp from the JSON views, as a person reads it."""
    if not stamp:
        return missing
    return texts.when(datetime.fromisoformat(stamp.replace("Z", "+00:00")))


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.1f} MB"


def ticket_table(texts: Texts, tickets: list[dict[str, Any]]) -> list[str]:
    """`tickets list`: one line per ticket under a header row."""
    if not tickets:
        return ["no tickets"]
    rows = [("TICKET", "STATUS", "PRIORITY", "CHANNEL", "ASSIGNEE", "NEXT UPDATE", "SUBJECT")]
    for t in tickets:
        due = _when(texts, t["next_update_due"], "-")
        rows.append((t["ref"], t["status"], t["priority"], t["channel"],
                     t["assignee"] or "-", due, t["subject"][:60]))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows]  # fmt: skip


def ticket_story(texts: Texts, ticket: dict[str, Any]) -> list[str]:
    """`tickets show`: the ticket's state, its attachments, then every event in order."""
    requester = ticket["requester"]
    lines = [
        f"{ticket['ref']} [{ticket['status']}, {ticket['priority']}] {ticket['subject']}",
        f"from {requester['name'] or requester['address']} on {ticket['channel']}; "
        f"assignee {ticket['assignee'] or 'nobody'}",
        f"eta {_when(texts, ticket['eta'])}; "
        f"next update due {_when(texts, ticket['next_update_due'])}",
    ]
    if ticket.get("waiting_on"):
        lines.append(f"waiting on {ticket['waiting_on']}")
    attachments = ticket.get("attachments") or []
    if attachments:
        lines.append(f"attachments ({len(attachments)}):")
        for item in attachments:
            lines.append(f"    {item['name']} ({item['content_type']}, {_size(item['size'])}) "
                         f"{item['stored_at']}")  # fmt: skip
    for event in ticket["events"]:
        marker = "  " if event["visibility"] == "public" else "🔒"
        lines.append("")
        lines.append(f"{_when(texts, event['at'])} {marker} {event['kind']} · {event['author']}")
        lines.append("    " + event["text"].replace("\n", "\n    "))
    return lines
