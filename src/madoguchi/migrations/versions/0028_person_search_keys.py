"""Every person carries the keys the counter searches by: ``persons.name_search_key`` and ``kana_search_key``.

吉田 must find 𠮷田, 高橋 髙橋, 葛西 葛󠄀西 (葛 + U+E0100), やまだ and ﾔﾏﾀﾞ ヤマダ; folding every name in SQL at each
search would read the whole register, so the folded family + given name and reading are stored per person
(``jp.name_search_key``, ``jp.kana_search_key``), kept in step by the model on every insert and update, and indexed
after ``tenant_id``. On PostgreSQL the keys use the "C" collation: code-point order, so the keys that begin with a
query are one range of the index whatever the database's locale. Existing rows get their keys here, computed in
Python by the same functions. Decision 0035.

Revision ID: 0028
Revises: 0023
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from madoguchi import jp
from madoguchi.migrations import rls

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

KEYS = ("name_search_key", "kana_search_key")
KEY_LENGTH = 200
BATCH = 5000

_persons = sa.table(
    "persons",
    sa.column("id", sa.Uuid()),
    sa.column("family_name", sa.String()),
    sa.column("given_name", sa.String()),
    sa.column("family_name_kana", sa.String()),
    sa.column("given_name_kana", sa.String()),
    sa.column("name_search_key", sa.String()),
    sa.column("kana_search_key", sa.String()),
)


def _key_type() -> sa.types.TypeEngine[Any]:
    return sa.String(KEY_LENGTH, collation="C") if rls.is_postgres() else sa.String(KEY_LENGTH)


def _fill_keys() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            _persons.c.id,
            _persons.c.family_name,
            _persons.c.given_name,
            _persons.c.family_name_kana,
            _persons.c.given_name_kana,
        )
    ).all()
    update = (
        _persons.update()
        .where(_persons.c.id == sa.bindparam("person_id"))
        .values(name_search_key=sa.bindparam("name_key"), kana_search_key=sa.bindparam("kana_key"))
    )
    for start in range(0, len(rows), BATCH):
        bind.execute(
            update,
            [
                {
                    "person_id": row.id,
                    "name_key": jp.name_search_key(row.family_name + row.given_name)[:KEY_LENGTH],
                    "kana_key": jp.kana_search_key(row.family_name_kana + row.given_name_kana)[:KEY_LENGTH],
                }
                for row in rows[start : start + BATCH]
            ],
        )


def upgrade() -> None:
    for key in KEYS:
        op.add_column("persons", sa.Column(key, _key_type(), nullable=False, server_default=""))
    if rls.is_postgres():
        # FORCE row-level security holds the owner too, and a migration runs with no tenant set: lift it briefly.
        op.execute("ALTER TABLE persons NO FORCE ROW LEVEL SECURITY")
    _fill_keys()
    if rls.is_postgres():
        op.execute("ALTER TABLE persons FORCE ROW LEVEL SECURITY")
        for key in KEYS:
            # The model writes every key; the default was only for the rows that existed before.
            op.alter_column("persons", key, server_default=None)
    for key in KEYS:
        op.create_index(f"ix_persons_tenant_{key}", "persons", ["tenant_id", key])


def downgrade() -> None:
    for key in KEYS:
        op.drop_index(f"ix_persons_tenant_{key}", table_name="persons")
        op.drop_column("persons", key)
