"""Promises: the schedule, the loop that finds what is owed, and its actions."""
