output "db_instance_identifier" {
  description = "The RDS instance (CloudWatch dimension)."
  value       = aws_db_instance.this.identifier
}

output "db_address" {
  description = "Host name of the database."
  value       = aws_db_instance.this.address
}

output "db_port" {
  description = "Port of the database."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Name of the app's database."
  value       = aws_db_instance.this.db_name
}

output "db_allocated_storage_gb" {
  description = "Allocated storage, for the free-storage alarm."
  value       = aws_db_instance.this.allocated_storage
}

output "db_master_user_secret_arn" {
  description = "Secrets Manager secret (managed and rotated by RDS) with the master user's password, for bootstrapping roles."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "documents_bucket_name" {
  description = "Bucket for attachments and certificates (MADOGUCHI_STORAGE_URL=s3://<this>/documents)."
  value       = aws_s3_bucket.documents.id
}

output "documents_bucket_arn" {
  description = "ARN of the documents bucket, for the task role's policy."
  value       = aws_s3_bucket.documents.arn
}

output "documents_kms_key_arn" {
  description = "KMS key of the documents bucket, for the task role's policy."
  value       = aws_kms_key.this["documents"].arn
}

output "access_logs_bucket_name" {
  description = "Bucket the load balancer writes its access logs to (prefix alb/)."
  value       = aws_s3_bucket.logs.id
}

output "cache_address" {
  description = "Primary endpoint of the rate-limit store (Redis, TLS)."
  value       = aws_elasticache_replication_group.cache.primary_endpoint_address
}

output "cache_port" {
  description = "Port of the rate-limit store."
  value       = aws_elasticache_replication_group.cache.port
}

output "cache_auth_token" {
  description = "AUTH token of the rate-limit store (the secrets module puts it into MADOGUCHI_RATELIMIT_STORAGE_URL)."
  value       = random_password.cache_auth_token.result
  sensitive   = true
}

output "audit_checkpoints_bucket_name" {
  description = "Object-locked bucket for signed audit checkpoints (MADOGUCHI_AUDIT_CHECKPOINT_URL=s3://<this>/checkpoints)."
  value       = aws_s3_bucket.audit_checkpoints.id
}

output "audit_checkpoints_bucket_arn" {
  description = "ARN of the audit checkpoint bucket, for the task role's policy."
  value       = aws_s3_bucket.audit_checkpoints.arn
}

# Point-in-time recovery (docs/operations.md, "Backup and restore"): automated backups are kept
# db_backup_retention_days days; `aws rds restore-db-instance-to-point-in-time` creates a new instance from any
# moment between the earliest backup and db_latest_restorable_time, into the subnet group, parameter group and
# security group below (the KMS key and encryption are inherited from the source).

output "db_backup_retention_days" {
  description = "Days of automated backups, i.e. how far back point-in-time recovery reaches."
  value       = aws_db_instance.this.backup_retention_period
}

output "db_latest_restorable_time" {
  description = "The latest moment point-in-time recovery can restore to (a few minutes behind now)."
  value       = aws_db_instance.this.latest_restorable_time
}

output "db_subnet_group_name" {
  description = "Subnet group for an instance restored from a point in time."
  value       = aws_db_subnet_group.this.name
}

output "db_parameter_group_name" {
  description = "Parameter group (TLS only, logging) for an instance restored from a point in time."
  value       = aws_db_parameter_group.this.name
}

output "db_security_group_id" {
  description = "Security group for an instance restored from a point in time."
  value       = aws_security_group.database.id
}
