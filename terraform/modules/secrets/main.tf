# Secrets Manager: the app's secret key, the data key that encrypts Individual Numbers, the key that signs
# tenant archives, the audit key, the database URLs of the app role and the owner role, and the URL (with its
# AUTH token) of the shared rate-limit store. Every value is generated here
# (random provider), never written in code; it lives only in Secrets Manager and in the encrypted remote
# state. Tasks receive them as environment variables through the task definition's `secrets` (the values
# never appear in it).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

resource "aws_kms_key" "secrets" {
  description             = "${var.name}: application secrets in Secrets Manager"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersAndGrantsThroughIam"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${var.name}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

# -- generated values -------------------------------------------------------------------------------------------
resource "random_password" "secret_key" {
  length  = 64
  special = false
}

# MADOGUCHI_DATA_KEY: 32 random bytes, urlsafe base64 (madoguchi.crypto.Sealer).
resource "random_bytes" "data_key" {
  length = 32
}

# MADOGUCHI_ARCHIVE_SIGNING_KEY: an Ed25519 private key as the urlsafe base64 of its 32 raw bytes.
resource "random_bytes" "archive_signing_key" {
  length = 32
}

# MADOGUCHI_AUDIT_KEY: the key id, then 32 random bytes in urlsafe base64 (madoguchi.audit.keys). Rotation puts a
# new entry in front of this one (docs/operations.md), so the value is not managed by Terraform after creation.
resource "random_bytes" "audit_key" {
  length = 32
}

# Letters and digits only: the passwords go into URLs unescaped.
resource "random_password" "app_db" {
  length  = 40
  special = false
}

resource "random_password" "owner_db" {
  length  = 40
  special = false
}

locals {
  data_key_urlsafe    = replace(replace(random_bytes.data_key.base64, "+", "-"), "/", "_")
  archive_key_urlsafe = replace(replace(random_bytes.archive_signing_key.base64, "+", "-"), "/", "_")
  audit_key_entry     = "audit-1:${replace(replace(random_bytes.audit_key.base64, "+", "-"), "/", "_")}"
  db_location         = "${var.db_address}:${var.db_port}/${var.db_name}?sslmode=require"
  values = {
    "secret-key"             = random_password.secret_key.result
    "data-key"               = local.data_key_urlsafe
    "archive-signing-key"    = local.archive_key_urlsafe
    "database-url"           = "postgresql+psycopg://${var.app_db_role}:${random_password.app_db.result}@${local.db_location}"
    "migration-database-url" = "postgresql+psycopg://${var.owner_db_role}:${random_password.owner_db.result}@${local.db_location}"
    # rediss: TLS, which the replication group requires (transit encryption).
    "ratelimit-storage-url" = "rediss://:${var.cache_auth_token}@${var.cache_address}:${var.cache_port}/0"
  }
  descriptions = {
    "secret-key"             = "MADOGUCHI_SECRET_KEY: Flask secret key (sessions, CSRF)"
    "data-key"               = "MADOGUCHI_DATA_KEY: encrypts Individual Numbers at rest; rotate only as docs/operations.md describes"
    "archive-signing-key"    = "MADOGUCHI_ARCHIVE_SIGNING_KEY: signs tenant archives (madoguchi tenants export)"
    "database-url"           = "MADOGUCHI_DATABASE_URL: the app role, subject to row-level security"
    "migration-database-url" = "MADOGUCHI_MIGRATION_DATABASE_URL: the table owner, for madoguchi db upgrade"
    "ratelimit-storage-url"  = "MADOGUCHI_RATELIMIT_STORAGE_URL: the shared rate-limit store (Redis on ElastiCache)"
  }
}

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:These values cannot be rotated by a generic Lambda: a new data key must re-encrypt stored Individual Numbers, a new secret key invalidates open forms, a new archive key must first be trusted by the importing installations, and a new database password or cache AUTH token must be set on the server first. docs/operations.md describes each rotation.
  for_each                = local.descriptions
  name                    = "${var.name}/${each.key}"
  description             = each.value
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "this" {
  for_each      = local.descriptions
  secret_id     = aws_secretsmanager_secret.this[each.key].id
  secret_string = local.values[each.key]
}

# The audit key apart: it is rotated by putting a new key in front of the old ones (docs/operations.md), and
# Terraform must never put the first value back, or the newer records would no longer verify.
resource "aws_secretsmanager_secret" "audit_key" {
  #checkov:skip=CKV2_AWS_57:Rotation adds a key in front of the old ones (madoguchi audit new-key) and needs a new deployment and checkpoints; a generic rotation Lambda would replace the keys the existing records need.
  name                    = "${var.name}/audit-key"
  description             = "MADOGUCHI_AUDIT_KEY: MACs the audit chain and signs its checkpoints; keep it from database administrators"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "audit_key" {
  secret_id     = aws_secretsmanager_secret.audit_key.id
  secret_string = local.audit_key_entry
  lifecycle {
    ignore_changes = [secret_string]
  }
}
