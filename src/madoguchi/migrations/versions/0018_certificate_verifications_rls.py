"""certificate_verifications under row-level security; the public /verify lookup through one narrow function.

The table was global (decision 0003's reasoning for sessions and tokens applied to it: /verify/<code> has no
tenant), so the app role could list every municipality's codes and document ids. Now it is tenant-owned like any
other table (policy on ``app.tenant_id``), and the one lookup that must cross tenants — a code, or the SHA-256
of an uploaded file, to the document it names — goes through ``certificate_verification_lookup``: SECURITY
DEFINER, owned by the migration owner, returning at most the row with that code and the row with that hash
(decision 0015). On SQLite (no RLS) the ORM's tenant criterion applies and the lookup is a Core query.

Revision ID: 0018
Revises: 0011
"""

from __future__ import annotations

from alembic import op

from madoguchi.migrations import rls

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration puts under row-level security (the table exists since 0008).
TENANT_TABLES: tuple[str, ...] = ("certificate_verifications",)

LOOKUP = "certificate_verification_lookup(text, text)"


def upgrade() -> None:
    # Rows are only ever added (when a certificate is issued), as before.
    rls.protect_tenant_tables(TENANT_TABLES, {"certificate_verifications": "SELECT, INSERT"})
    if not rls.is_postgres():
        return
    # FORCE holds the owner to the policies too; this one lets the owner (so the function below, which runs as
    # the owner) read across tenants. The app role is not the owner, so it gains nothing from it.
    op.execute("CREATE POLICY owner_lookup ON certificate_verifications FOR SELECT TO CURRENT_USER USING (true)")
    op.execute(
        """
        CREATE FUNCTION certificate_verification_lookup(p_code text, p_pdf_sha256 text)
        RETURNS TABLE (code varchar, tenant_id uuid, document_id uuid, pdf_sha256 varchar)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT v.code, v.tenant_id, v.document_id, v.pdf_sha256
            FROM public.certificate_verifications AS v
            WHERE v.code = p_code OR v.pdf_sha256 = p_pdf_sha256
            LIMIT 2
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {LOOKUP} FROM PUBLIC")
    role = rls.app_role()
    op.execute(
        "DO $$ BEGIN "
        f"IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
        f"GRANT EXECUTE ON FUNCTION {LOOKUP} TO {role}; END IF; END $$"
    )


def downgrade() -> None:
    if not rls.is_postgres():
        return
    op.execute(f"DROP FUNCTION {LOOKUP}")
    op.execute("DROP POLICY owner_lookup ON certificate_verifications")
    op.execute("DROP POLICY tenant_isolation ON certificate_verifications")
    op.execute("ALTER TABLE certificate_verifications NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE certificate_verifications DISABLE ROW LEVEL SECURITY")
