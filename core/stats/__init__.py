"""Statistics: one set of figures from aggregate queries, shown as text, JSON and a page."""
