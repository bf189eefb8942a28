"""Applicant and person concerned apart: an agent or a third party files under their own account for someone else.

``applications`` gets the person the application is about (``subject_person_id``, 本人), the applicant's relation
to them (``relation``: self, household_member, agent, legal_representative, third_party), the clerk's review of the
evidence (委任状, 疎明資料: ``evidence_review`` accepted or not_accepted, its reason, who and when) and a delivery the
rules force over the one chosen (``forced_delivery``: an agent's copy with 個人番号 goes by post to the person).
The table keeps its row-level security policy; the new columns need no grant of their own. Decision 0036.

Existing rows: the relation is read from the answers (``/requester/relationship``); an application filed for
oneself or one's household is about the applicant's own entry, as the certificate was built before. One filed as an
agent or a third party was modelled on the applicant's own entry too, which is wrong: it gets no person concerned,
so a clerk matches the person before anything is issued. SQLite cannot add a foreign key to an existing table
without rebuilding it (see 0022): there the column is unconstrained, and the code writes only persons it has read.

Revision ID: 0029
Revises: 0023
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_applications_subject_person"
COLUMNS: dict[str, sa.types.TypeEngine[Any]] = {
    "subject_person_id": sa.Uuid(),
    "relation": sa.String(30),
    "evidence_review": sa.String(20),
    "evidence_review_reason": sa.Text(),
    "evidence_reviewed_at": sa.DateTime(timezone=True),
    "evidence_reviewed_by_account_id": sa.Uuid(),
    "forced_delivery": sa.String(20),
}
#: Relations whose applicant is the person concerned or of their household: the certificate was about them.
OWN_RELATIONS = "('self', 'household_member')"


def _lift_force(on: bool) -> None:
    # FORCE row-level security holds the owner too, and a migration runs with no tenant set: lift it briefly.
    op.execute(f"ALTER TABLE applications {'' if on else 'NO '}FORCE ROW LEVEL SECURITY")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, type_ in COLUMNS.items():
        op.add_column("applications", sa.Column(name, type_, nullable=True))
    relationship = (
        "data -> 'requester' ->> 'relationship'" if postgresql else "json_extract(data, '$.requester.relationship')"
    )
    if postgresql:
        _lift_force(False)
    op.execute(f"UPDATE applications SET relation = {relationship}")
    op.execute(
        "UPDATE applications SET subject_person_id = applicant_person_id "
        f"WHERE relation IS NULL OR relation IN {OWN_RELATIONS}"
    )
    if postgresql:
        _lift_force(True)
        op.create_foreign_key(
            FOREIGN_KEY, "applications", "persons", ["tenant_id", "subject_person_id"], ["tenant_id", "id"]
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(FOREIGN_KEY, "applications", type_="foreignkey")
    # Not batch mode: on SQLite it would rebuild the table and lose the queue's expression indexes (0023's
    # downgrade drops them); SQLite drops an unindexed, unconstrained column in place.
    for name in reversed(COLUMNS):
        op.drop_column("applications", name)
