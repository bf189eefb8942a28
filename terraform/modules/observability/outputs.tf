output "logs_kms_key_arn" {
  description = "KMS key for log groups created elsewhere (flow logs, database logs)."
  value       = aws_kms_key.logs.arn
}

output "web_log_group_name" {
  description = "Log group of the web tasks."
  value       = aws_cloudwatch_log_group.web.name
}

output "worker_log_group_name" {
  description = "Log group of the worker tasks (and one-off tasks such as migrations)."
  value       = aws_cloudwatch_log_group.worker.name
}

output "waf_log_group_arn" {
  description = "Log group the WAF writes to."
  value       = aws_cloudwatch_log_group.waf.arn
}

output "log_retention_days" {
  description = "Retention used for every log group, for modules that create their own."
  value       = var.log_retention_days
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = aws_sns_topic.alarms.arn
}
