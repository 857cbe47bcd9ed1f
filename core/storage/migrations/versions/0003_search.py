"""Full-text search over ticket subjects and the messages on their timelines, kept by the database.

SQLite: two external-content FTS5 tables (the text stays in `tickets` and `ticket_events`; the
FTS tables hold only the index), kept in step by triggers. PostgreSQL: GIN indexes on the same
`to_tsvector('simple', …)` expressions the search query uses. Only messages people wrote are
indexed (customer messages, agent replies, notes): acknowledgements and reminders are the same
words on every ticket and would match everything.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must not change when the application's list does.
_KINDS = "('customer_message', 'agent_reply', 'note')"

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE ticket_subject_fts USING fts5("
    "subject, content='tickets', content_rowid='id')",
    "CREATE VIRTUAL TABLE ticket_event_fts USING fts5("
    "text, content='ticket_events', content_rowid='id')",
    "INSERT INTO ticket_subject_fts(rowid, subject) SELECT id, subject FROM tickets",
    "INSERT INTO ticket_event_fts(rowid, text) SELECT id, text FROM ticket_events "
    f"WHERE kind IN {_KINDS}",
    # An external-content index forgets a row only when told the exact text it indexed, so
    # every trigger removes the old text before adding the new one.
    "CREATE TRIGGER ticket_subject_fts_insert AFTER INSERT ON tickets BEGIN "
    "INSERT INTO ticket_subject_fts(rowid, subject) VALUES (new.id, new.subject); END",
    "CREATE TRIGGER ticket_subject_fts_delete AFTER DELETE ON tickets BEGIN "
    "INSERT INTO ticket_subject_fts(ticket_subject_fts, rowid, subject) "
    "VALUES ('delete', old.id, old.subject); END",
    "CREATE TRIGGER ticket_subject_fts_update AFTER UPDATE OF subject ON tickets BEGIN "
    "INSERT INTO ticket_subject_fts(ticket_subject_fts, rowid, subject) "
    "VALUES ('delete', old.id, old.subject); "
    "INSERT INTO ticket_subject_fts(rowid, subject) VALUES (new.id, new.subject); END",
    "CREATE TRIGGER ticket_event_fts_insert AFTER INSERT ON ticket_events BEGIN "
    "INSERT INTO ticket_event_fts(rowid, text) SELECT new.id, new.text "
    f"WHERE new.kind IN {_KINDS}; END",
    "CREATE TRIGGER ticket_event_fts_delete AFTER DELETE ON ticket_events BEGIN "
    "INSERT INTO ticket_event_fts(ticket_event_fts, rowid, text) "
    f"SELECT 'delete', old.id, old.text WHERE old.kind IN {_KINDS}; END",
    "CREATE TRIGGER ticket_event_fts_update AFTER UPDATE OF text, kind ON ticket_events BEGIN "
    "INSERT INTO ticket_event_fts(ticket_event_fts, rowid, text) "
    f"SELECT 'delete', old.id, old.text WHERE old.kind IN {_KINDS}; "
    "INSERT INTO ticket_event_fts(rowid, text) SELECT new.id, new.text "
    f"WHERE new.kind IN {_KINDS}; END",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS ticket_event_fts_update",
    "DROP TRIGGER IF EXISTS ticket_event_fts_delete",
    "DROP TRIGGER IF EXISTS ticket_event_fts_insert",
    "DROP TRIGGER IF EXISTS ticket_subject_fts_update",
    "DROP TRIGGER IF EXISTS ticket_subject_fts_delete",
    "DROP TRIGGER IF EXISTS ticket_subject_fts_insert",
    "DROP TABLE IF EXISTS ticket_event_fts",
    "DROP TABLE IF EXISTS ticket_subject_fts",
]
_POSTGRESQL_UP = [
    "CREATE INDEX ix_tickets_subject_search ON tickets "
    "USING gin (to_tsvector('simple', subject))",
    "CREATE INDEX ix_events_text_search ON ticket_events "
    f"USING gin (to_tsvector('simple', text)) WHERE kind IN {_KINDS}",
]
_POSTGRESQL_DOWN = [
    "DROP INDEX IF EXISTS ix_events_text_search",
    "DROP INDEX IF EXISTS ix_tickets_subject_search",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_UP if dialect == "sqlite" else _POSTGRESQL_UP:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_DOWN if dialect == "sqlite" else _POSTGRESQL_DOWN:
        op.execute(statement)
