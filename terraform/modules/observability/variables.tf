variable "name" {
  description = "Prefix for every resource name, e.g. madoguchi-prod."
  type        = string
}

variable "log_retention_days" {
  description = "How long application, WAF and database logs are kept (at least a year: audits and incident reviews)."
  type        = number
  default     = 365
  validation {
    condition     = var.log_retention_days >= 365
    error_message = "Keep logs for at least 365 days."
  }
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (confirm the subscription once); empty for none."
  type        = string
  default     = ""
}

variable "load_balancer_arn_suffix" {
  description = "The ALB's ARN suffix (CloudWatch dimension), from the app module."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "The web target group's ARN suffix, from the app module."
  type        = string
}

variable "ecs_cluster_name" {
  description = "The ECS cluster, from the app module."
  type        = string
}

variable "ecs_service_names" {
  description = "ECS services to watch for CPU, e.g. { web = \"...\", worker = \"...\" }."
  type        = map(string)
}

variable "db_instance_identifier" {
  description = "The RDS instance, from the data module."
  type        = string
}

variable "db_allocated_storage_gb" {
  description = "The database's allocated storage, to alarm when less than 10 % is left."
  type        = number
}

variable "latency_threshold_seconds" {
  description = "Alarm when the p95 response time of the web service stays above this."
  type        = number
  default     = 1.5
}

variable "error_rate_threshold" {
  description = "Alarm when more than this many 5xx answers (from targets or the ALB) happen in 5 minutes."
  type        = number
  default     = 10
}

variable "outbox_retry_threshold" {
  description = "Alarm when the outbox worker retries more deliveries than this in 15 minutes (a growing backlog)."
  type        = number
  default     = 50
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
