"""Tickets: the timeline of one ticket, its conversation keys and read queries."""
