"""Tenant archives: everything of one municipality, moved between installations as a signed file.

``madoguchi tenants export`` writes and ``madoguchi tenants import`` reads a gzip-compressed tar (format 1)::

    tables/<table>.jsonl   one JSON object per row, keys sorted, rows ordered by primary key
    files/<storage key>    the document bytes that rows name in a ``storage_key`` column
    manifest.json          format and version, source installation, tenant, created_at, each table's columns
                           and row count, each member's size and SHA-256, how sealed columns are carried
    manifest.sig           Ed25519 signature over the exact bytes of manifest.json, and the signer's key id

What is in it is found, not listed: every table of ``Base.metadata`` with a ``tenant_id`` column (so tables
added later travel without code changes), the tenant's own row, and the catalog versions its rows point at,
in foreign-key order — minus ``EXCLUDED_TABLES``. Columns travel as they are unless ``COLUMN_POLICY`` says
otherwise; a column whose name looks secret (``SECRET_LOOKING``) must have an entry there, or export refuses.

Trust (docs/portability.md): the exporting installation signs the manifest with its private key; the importing
one accepts only signatures of public keys it lists, and the manifest pins every member's SHA-256. Import checks
the signature and every hash before it writes anything, then writes all rows in one transaction and the files
beside it; any failure leaves the target database and storage as they were. Ids are kept (the audit chain's
hashes cover the tenant id), so an archive cannot be imported where its tenant, slug or code already exists.

The package: ``archive`` (the format, the column policies, the JSON form of values), ``keys`` (signing and transfer
keys), ``export`` (writing) and ``importing`` (verifying and restoring).
"""

from madoguchi.platform.portability.archive import (
    COLUMN_POLICY,
    EXCLUDED_TABLES,
    MANIFEST,
    REFERENCE_TABLES,
    SIGNATURE,
    ArchiveError,
    ArchiveSummary,
    ColumnPolicy,
    Progress,
    Treatment,
    archived_tables,
    unreviewed_secret_columns,
)
from madoguchi.platform.portability.export import export_tenant
from madoguchi.platform.portability.importing import VerifiedArchive, import_tenant, verify_archive
from madoguchi.platform.portability.keys import ArchiveKeys, TransferCipher, generate_keys, key_id, public_key_text

__all__ = [
    "COLUMN_POLICY",
    "EXCLUDED_TABLES",
    "MANIFEST",
    "REFERENCE_TABLES",
    "SIGNATURE",
    "ArchiveError",
    "ArchiveKeys",
    "ArchiveSummary",
    "ColumnPolicy",
    "Progress",
    "TransferCipher",
    "Treatment",
    "VerifiedArchive",
    "archived_tables",
    "export_tenant",
    "generate_keys",
    "import_tenant",
    "key_id",
    "public_key_text",
    "unreviewed_secret_columns",
    "verify_archive",
]
