"""Alembic environment: runs on the connection pbstats hands over (warehouse.db.upgrade)."""

from alembic import context

from pbstats.warehouse.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic upgrade head` from the command line
    from pbstats.warehouse.db import make_engine

    with make_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
else:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
