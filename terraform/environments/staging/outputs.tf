output "load_balancer_dns_name" {
  description = "Point the domain here (CNAME or alias)."
  value       = module.app.load_balancer_dns_name
}

output "ecr_repository_url" {
  description = "Push images here."
  value       = module.app.ecr_repository_url
}

output "ecs_cluster_name" {
  description = "The ECS cluster."
  value       = module.app.ecs_cluster_name
}

output "migrate_task_definition" {
  description = "Run before each rollout: madoguchi db upgrade."
  value       = module.app.migrate_task_definition
}

output "db_master_user_secret_arn" {
  description = "The RDS master password (for the one-time role bootstrap in docs/operations.md)."
  value       = module.data.db_master_user_secret_arn
}

output "ses_dkim_records" {
  description = "DNS records to publish when the zone is not in Route 53."
  value       = module.mail.dkim_records
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.observability.alarm_topic_arn
}

output "db_point_in_time_recovery" {
  description = "What `aws rds restore-db-instance-to-point-in-time` needs (docs/operations.md, Backup and restore)."
  value = {
    source_db_instance_identifier = module.data.db_instance_identifier
    backup_retention_days         = module.data.db_backup_retention_days
    latest_restorable_time        = module.data.db_latest_restorable_time
    db_subnet_group_name          = module.data.db_subnet_group_name
    db_parameter_group_name       = module.data.db_parameter_group_name
    db_security_group_id          = module.data.db_security_group_id
  }
}
