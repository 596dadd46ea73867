"""Alembic environment: runs on the connection pbstats hands over (warehouse.db.upgrade), or on the
`sqlalchemy.url` of an alembic.ini when Alembic's own command line runs it."""

from alembic import context

from pbstats.warehouse.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic upgrade head` from the command line
    from pbstats.warehouse.db import make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    engine.dispose()
else:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
