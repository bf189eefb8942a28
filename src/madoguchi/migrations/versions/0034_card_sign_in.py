"""Card sign-in: pending authorizations, cards linked to accounts, identity evidence, variant-name match reviews.

Four tenant-owned tables under row-level security, each pointing at its account (and person) by a composite foreign
key (tenant, id). ``identity_evidence`` is append-only for the app role; a linked card can be removed by its
resident (``card_links`` allows delete), and expired authorizations are deleted. Decision 0048.

Revision ID: 0034
Revises: 0033
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations import rls

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

TENANT_TABLES: tuple[str, ...] = ("card_authorizations", "card_links", "identity_evidence", "card_match_reviews")
PRIVILEGES = {
    "card_authorizations": "SELECT, INSERT, UPDATE, DELETE",
    "card_links": "SELECT, INSERT, UPDATE, DELETE",
    "identity_evidence": "SELECT, INSERT",
    "card_match_reviews": "SELECT, INSERT, UPDATE",
}

TIMESTAMP = sa.DateTime(timezone=True)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="RESTRICT"
    )


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "account_id"],
        ["accounts.tenant_id", "accounts.id"],
        name=op.f(f"fk_{table}_tenant_id_account_id_accounts"),
        ondelete="CASCADE",
    )


def _person_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "person_id"],
        ["persons.tenant_id", "persons.id"],
        name=op.f(f"fk_{table}_tenant_id_person_id_persons"),
    )


def upgrade() -> None:
    op.create_table(
        "card_authorizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_binding_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("return_to", sa.String(length=500), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.Column("identity_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("match", sa.String(length=20), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        _account_fk("card_authorizations"),
        _tenant_fk("card_authorizations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_authorizations")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_card_authorizations_state_hash")),
    )
    op.create_table(
        "card_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("linked_at", TIMESTAMP, nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        _account_fk("card_links"),
        _tenant_fk("card_links"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_links")),
        sa.UniqueConstraint("tenant_id", "account_id", name=op.f("uq_card_links_tenant_id_account_id")),
        sa.UniqueConstraint(
            "tenant_id", "issuer", "subject_hash", name=op.f("uq_card_links_tenant_id_issuer_subject_hash")
        ),
    )
    op.create_table(
        "card_match_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("card_details_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("authenticated_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        _account_fk("card_match_reviews"),
        _person_fk("card_match_reviews"),
        _tenant_fk("card_match_reviews"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_match_reviews")),
    )
    op.create_index(
        "ix_card_match_reviews_open", "card_match_reviews", ["tenant_id", "decided_at", "created_at"], unique=False
    )
    op.create_table(
        "identity_evidence",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=True),
        sa.Column("subject_hash", sa.String(length=64), nullable=True),
        sa.Column("match", sa.String(length=20), nullable=True),
        sa.Column("authenticated_at", TIMESTAMP, nullable=True),
        sa.Column("acr", sa.String(length=200), nullable=True),
        sa.Column("verified_by", sa.String(length=200), nullable=False),
        sa.Column("verified_at", TIMESTAMP, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        _account_fk("identity_evidence"),
        _person_fk("identity_evidence"),
        _tenant_fk("identity_evidence"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_evidence")),
    )
    op.create_index(
        "ix_identity_evidence_account", "identity_evidence", ["tenant_id", "account_id", "verified_at"], unique=False
    )
    rls.protect_tenant_tables(TENANT_TABLES, PRIVILEGES)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
