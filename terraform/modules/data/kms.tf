# Customer managed keys, rotated yearly: one for the database (storage, Performance Insights, the master
# password secret), one for the documents bucket, one for the rate-limit store. Usage is granted through IAM (the root statement).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
}

locals {
  kms_keys = {
    database  = "RDS storage, Performance Insights and the master password secret"
    documents = "attachments and issued certificates in S3"
    cache     = "rate-limit counters in ElastiCache (Redis)"
  }
}

resource "aws_kms_key" "this" {
  for_each                = local.kms_keys
  description             = "${var.name}: ${each.value}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersAndGrantsThroughIam"
      Effect    = "Allow"
      Principal = { AWS = local.account_root }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

resource "aws_kms_alias" "this" {
  for_each      = local.kms_keys
  name          = "alias/${var.name}-${each.key}"
  target_key_id = aws_kms_key.this[each.key].key_id
}
