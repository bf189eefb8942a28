# S3: the documents bucket (attachments, issued certificates; SSE-KMS with the documents key, versioned,
# never public, TLS only, access logged) and the access-log bucket it and the load balancer log into.

locals {
  documents_bucket = "${var.name}-documents-${data.aws_caller_identity.current.account_id}"
  logs_bucket      = "${var.name}-access-logs-${data.aws_caller_identity.current.account_id}"
}

# -- documents ------------------------------------------------------------------------------------------------
resource "aws_s3_bucket" "documents" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice per deployment (it doubles storage of personal data abroad of the primary region); versioning and backups cover loss within the region.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events: the app records every stored object in PostgreSQL in the same transaction, so there is no event to react to.
  bucket = local.documents_bucket
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "documents" {
  bucket = aws_s3_bucket.documents.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "documents" {
  bucket                  = aws_s3_bucket.documents.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "documents" {
  bucket = aws_s3_bucket.documents.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "documents" {
  bucket = aws_s3_bucket.documents.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this["documents"].arn
    }
    # One data key per bucket and hour instead of a KMS call per object.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "documents" {
  bucket        = aws_s3_bucket.documents.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.documents_bucket}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "documents" {
  bucket = aws_s3_bucket.documents.id
  rule {
    id     = "old-versions-and-unfinished-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.documents]
}

data "aws_iam_policy_document" "documents" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.documents.arn,
      "${aws_s3_bucket.documents.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "DenyObjectsNotEncryptedWithTheDocumentsKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.documents.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [aws_kms_key.this["documents"].arn]
    }
  }
}

resource "aws_s3_bucket_policy" "documents" {
  bucket     = aws_s3_bucket.documents.id
  policy     = data.aws_iam_policy_document.documents.json
  depends_on = [aws_s3_bucket_public_access_block.documents]
}

# -- access logs (S3 server access logs, load balancer access logs) ----------------------------------------------
resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_145:S3 server access logging and ALB access logs can only be delivered to buckets encrypted with SSE-S3 (AES256), not SSE-KMS (AWS limitation).
  #checkov:skip=CKV_AWS_18:This is the access-log bucket itself; logging it into itself would log every log delivery in a loop.
  #checkov:skip=CKV_AWS_144:Access logs are kept for audits in the primary region only; replicating them abroad is not wanted.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new log objects; they are read on demand (Athena) during investigations.
  bucket = local.logs_bucket
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.logs]
}

data "aws_elb_service_account" "current" {}

data "aws_iam_policy_document" "logs" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.logs.arn,
      "${aws_s3_bucket.logs.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
  statement {
    sid       = "LoadBalancerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      # Regions older than August 2022 (Tokyo and Osaka among them) deliver as the regional ELB account;
      # newer ones as the log delivery service.
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }
  statement {
    sid       = "LoadBalancerAccessLogsNewRegions"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = data.aws_iam_policy_document.logs.json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

# -- audit checkpoints -----------------------------------------------------------------------------------------
# Signed checkpoints of every tenant's audit chain (madoguchi audit checkpoint; the worker, hourly). Object lock in
# compliance mode: no one, the root account included, can delete or overwrite a checkpoint's versions before the
# retention ends, so deleting the newest audit records in the database stays visible (docs/operations.md).
locals {
  checkpoints_bucket = "${var.name}-audit-checkpoints-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket" "audit_checkpoints" {
  #checkov:skip=CKV_AWS_144:Checkpoints are a few hundred bytes per tenant and hour; object lock protects them within the region, and replicating them abroad is a per-deployment disaster-recovery choice.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to a new checkpoint; madoguchi audit verify reads the newest on demand.
  bucket              = local.checkpoints_bucket
  object_lock_enabled = true
  tags                = var.tags
}

resource "aws_s3_bucket_object_lock_configuration" "audit_checkpoints" {
  bucket = aws_s3_bucket.audit_checkpoints.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.audit_checkpoint_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.audit_checkpoints]
}

resource "aws_s3_bucket_ownership_controls" "audit_checkpoints" {
  bucket = aws_s3_bucket.audit_checkpoints.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "audit_checkpoints" {
  bucket                  = aws_s3_bucket.audit_checkpoints.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "audit_checkpoints" {
  bucket = aws_s3_bucket.audit_checkpoints.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "audit_checkpoints" {
  bucket = aws_s3_bucket.audit_checkpoints.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this["documents"].arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "audit_checkpoints" {
  bucket        = aws_s3_bucket.audit_checkpoints.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.checkpoints_bucket}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "audit_checkpoints" {
  bucket = aws_s3_bucket.audit_checkpoints.id
  rule {
    id     = "expire-versions-after-their-lock"
    status = "Enabled"
    filter {}
    # `latest.json` is overwritten hourly; its old versions go once their lock has run out.
    noncurrent_version_expiration {
      noncurrent_days = var.audit_checkpoint_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.audit_checkpoints]
}

data "aws_iam_policy_document" "audit_checkpoints" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.audit_checkpoints.arn,
      "${aws_s3_bucket.audit_checkpoints.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "audit_checkpoints" {
  bucket     = aws_s3_bucket.audit_checkpoints.id
  policy     = data.aws_iam_policy_document.audit_checkpoints.json
  depends_on = [aws_s3_bucket_public_access_block.audit_checkpoints]
}
