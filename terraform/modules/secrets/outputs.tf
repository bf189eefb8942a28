output "kms_key_arn" {
  description = "KMS key of the secrets (the task execution role may decrypt with it)."
  value       = aws_kms_key.secrets.arn
}

output "secret_arns" {
  description = "Secret ARNs by name: secret-key, data-key, archive-signing-key, audit-key, database-url, migration-database-url, ratelimit-storage-url."
  value = merge(
    { for key, secret in aws_secretsmanager_secret.this : key => secret.arn },
    { "audit-key" = aws_secretsmanager_secret.audit_key.arn },
  )
}
