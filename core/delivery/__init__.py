"""Delivery: queuing customer and agent messages in the outbox, and sending them."""
