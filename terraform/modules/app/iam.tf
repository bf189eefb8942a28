# IAM, least privilege: the execution roles (ECS pulls the image, writes logs, reads exactly the secrets of
# their task) and the task role (what the app itself does: its S3 prefix, its KMS keys, sending via SES).

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

locals {
  execution_roles = {
    # web and worker: the app's secrets
    app = [
      var.secret_key_arn, var.data_key_arn, var.database_url_arn, var.archive_signing_key_arn,
      var.ratelimit_storage_url_arn, var.audit_key_arn,
    ]
    # the one-off `madoguchi db upgrade` task: only the owner's database URL
    migrate = [var.migration_database_url_arn]
  }
}

resource "aws_iam_role" "execution" {
  for_each           = local.execution_roles
  name               = "${var.name}-${each.key}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  for_each   = local.execution_roles
  role       = aws_iam_role.execution[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  for_each = local.execution_roles
  statement {
    sid       = "ReadTheTasksSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = each.value
  }
  statement {
    sid       = "DecryptThem"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  for_each = local.execution_roles
  name     = "read-secrets"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution_secrets[each.key].json
}

# -- the app's own permissions ---------------------------------------------------------------------------------
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "DocumentsReadWrite"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.documents_bucket_arn}/${var.documents_prefix}/*"]
  }
  statement {
    sid       = "DocumentsList"
    actions   = ["s3:ListBucket"]
    resources = [var.documents_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.documents_prefix}/*"]
    }
  }
  statement {
    # Write and read checkpoints; no delete (object lock would refuse it anyway), no listing.
    sid       = "AuditCheckpointsWriteRead"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.audit_checkpoints_bucket_arn}/checkpoints/*"]
  }
  statement {
    sid       = "DocumentsKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.documents_kms_key_arn]
  }
  statement {
    sid       = "SendEmail"
    actions   = ["ses:SendEmail", "ses:SendRawEmail"]
    resources = [var.ses_identity_arn, var.ses_configuration_set_arn]
  }
  dynamic "statement" {
    for_each = var.signing_kms_alias_prefix == "" ? [] : [1]
    content {
      # One key per municipality, created as it joins: matched by alias rather than listed here.
      sid       = "SignCertificatesWithTenantKeys"
      actions   = ["kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"]
      resources = ["arn:${data.aws_partition.current.partition}:kms:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:key/*"]
      condition {
        test     = "ForAnyValue:StringLike"
        variable = "kms:ResourceAliases"
        values   = ["${var.signing_kms_alias_prefix}*"]
      }
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "madoguchi-app"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# The migration task touches only the database: it gets a role with no permissions at all.
resource "aws_iam_role" "migrate_task" {
  name               = "${var.name}-migrate-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}
