"""Intake: raw payloads stored, decoded and applied to tickets (inbox → decoding → apply)."""
