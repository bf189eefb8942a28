variable "name" {
  description = "Prefix for every resource name, e.g. madoguchi-prod."
  type        = string
}

variable "vpc_id" {
  description = "The VPC, from the network module."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (two or more zones) for the database."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect to PostgreSQL (the app's tasks)."
  type        = list(string)
}

variable "db_instance_class" {
  description = "RDS instance class, e.g. db.t4g.medium (staging) or db.m7g.large (prod)."
  type        = string
}

variable "db_engine_version" {
  description = "PostgreSQL major version (minor versions are upgraded automatically in the maintenance window)."
  type        = string
  default     = "16"
}

variable "db_allocated_storage_gb" {
  description = "Initial storage in GiB."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 500
}

variable "db_backup_retention_days" {
  description = "Automated backups (and point-in-time recovery) are kept this many days (1-35)."
  type        = number
  default     = 14
  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "Keep between 7 and 35 days of backups."
  }
}

variable "db_name" {
  description = "The database the app uses."
  type        = string
  default     = "madoguchi"
}

variable "db_master_username" {
  description = "RDS master user: used only to bootstrap the owner and app roles (docs/operations.md). Its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "madoguchi_admin"
}

variable "logs_kms_key_arn" {
  description = "KMS key for the database's CloudWatch log groups (from the observability module)."
  type        = string
}

variable "log_retention_days" {
  description = "How long database logs are kept."
  type        = number
  default     = 365
}

variable "access_log_retention_days" {
  description = "How long S3 and load balancer access logs are kept."
  type        = number
  default     = 400
}

variable "noncurrent_version_retention_days" {
  description = "How long overwritten or deleted document versions stay recoverable."
  type        = number
  default     = 90
}

variable "cache_node_type" {
  description = "ElastiCache node type of the rate-limit store, e.g. cache.t4g.small (staging) or cache.m7g.large (prod)."
  type        = string
  default     = "cache.t4g.small"
}

variable "cache_engine_version" {
  description = "Redis engine version of the rate-limit store."
  type        = string
  default     = "7.1"
}

variable "audit_checkpoint_retention_days" {
  description = "Object-lock (compliance) retention of each audit checkpoint version; 2555 days = 7 years."
  type        = number
  default     = 2555
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
