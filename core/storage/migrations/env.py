"""Alembic environment: runs on the connection the application hands over."""

from alembic import context
from sqlalchemy import create_engine

# Their tables belong to Base.metadata too.
import core.storage.incident_models
import core.storage.similar_models  # noqa: F401
from core.storage.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    # Only `alembic revision --autogenerate` by a developer reaches this: use a sync URL.
    url = config.get_main_option("sqlalchemy.url") or "sqlite:///var/alembic-dev.db"
    with create_engine(url).connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
