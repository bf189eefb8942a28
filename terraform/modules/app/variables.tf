variable "name" {
  description = "Prefix for every resource name, e.g. madoguchi-prod."
  type        = string
}

variable "vpc_id" {
  description = "The VPC, from the network module."
  type        = string
}

variable "vpc_cidr_block" {
  description = "The VPC's address range: the load balancer's addresses (trusted for X-Forwarded-*) and the database lie inside it."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets for the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets for the tasks."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener (issued for the public host name)."
  type        = string
}

variable "public_url" {
  description = "Public base URL, e.g. https://madoguchi.example.jp (MADOGUCHI_PUBLIC_URL)."
  type        = string
}

variable "image_tag" {
  description = "Tag (or digest, as sha256:...) of the image in this module's ECR repository to run."
  type        = string
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64 (Graviton; build the image for linux/arm64)."
  type        = string
  default     = "X86_64"
}

variable "web" {
  description = "Web service size: task CPU units and memory (MiB), and the autoscaling range."
  type = object({
    cpu           = number
    memory        = number
    min_tasks     = number
    max_tasks     = number
    cpu_target    = optional(number, 60)
    requests_goal = optional(number, 500)
  })
}

variable "worker" {
  description = "Outbox worker service size and autoscaling range."
  type = object({
    cpu        = number
    memory     = number
    min_tasks  = number
    max_tasks  = number
    cpu_target = optional(number, 60)
  })
}

variable "secret_key_arn" {
  description = "Secrets Manager ARN of MADOGUCHI_SECRET_KEY (secrets module)."
  type        = string
}

variable "audit_key_arn" {
  description = "Secrets Manager ARN of MADOGUCHI_AUDIT_KEY."
  type        = string
}

variable "audit_checkpoints_bucket_name" {
  description = "Object-locked bucket for signed audit checkpoints (prefix checkpoints/)."
  type        = string
}

variable "audit_checkpoints_bucket_arn" {
  description = "ARN of the audit checkpoint bucket, for the task role's policy."
  type        = string
}

variable "data_key_arn" {
  description = "Secrets Manager ARN of MADOGUCHI_DATA_KEY."
  type        = string
}

variable "database_url_arn" {
  description = "Secrets Manager ARN of MADOGUCHI_DATABASE_URL (the app role)."
  type        = string
}

variable "migration_database_url_arn" {
  description = "Secrets Manager ARN of MADOGUCHI_MIGRATION_DATABASE_URL (the owner role): only the migration task gets it."
  type        = string
}

variable "archive_signing_key_arn" {
  description = "Secrets Manager ARN of MADOGUCHI_ARCHIVE_SIGNING_KEY (signs tenant exports)."
  type        = string
}

variable "ratelimit_storage_url_arn" {
  description = "Secrets Manager ARN of MADOGUCHI_RATELIMIT_STORAGE_URL (the shared Redis of the rate limits)."
  type        = string
}

variable "secrets_kms_key_arn" {
  description = "KMS key of those secrets."
  type        = string
}

variable "environment" {
  description = "Extra MADOGUCHI_* settings (not secrets) for every container, as name/value pairs (the task definition's own format)."
  type        = list(object({ name = string, value = string }))
  default     = []
}

variable "documents_bucket_name" {
  description = "Bucket for attachments and certificates, from the data module."
  type        = string
}

variable "documents_bucket_arn" {
  description = "ARN of that bucket."
  type        = string
}

variable "documents_prefix" {
  description = "Key prefix of the app's objects in the bucket."
  type        = string
  default     = "documents"
}

variable "documents_kms_key_arn" {
  description = "KMS key of the documents bucket."
  type        = string
}

variable "signing_kms_alias_prefix" {
  description = "Certificates signed in KMS (MADOGUCHI_SIGNING_KEY_SOURCE=kms): the app may sign with keys whose alias starts with this, e.g. alias/madoguchi-signing-. Empty: no KMS signing."
  type        = string
  default     = ""
}

variable "ses_identity_arn" {
  description = "SES identity the app may send as, from the mail module."
  type        = string
}

variable "ses_configuration_set_arn" {
  description = "SES configuration set the app sends with."
  type        = string
}

variable "access_logs_bucket_name" {
  description = "Bucket for the load balancer's access logs (prefix alb/), from the data module."
  type        = string
}

variable "web_log_group_name" {
  description = "Log group of the web containers, from the observability module."
  type        = string
}

variable "worker_log_group_name" {
  description = "Log group of the worker and one-off containers."
  type        = string
}

variable "waf_log_group_arn" {
  description = "Log group of the WAF (name starting with aws-waf-logs-)."
  type        = string
}

variable "waf_rate_limit_per_5_minutes" {
  description = "Requests one IP address may send in 5 minutes before the WAF blocks it (the app has finer limits of its own)."
  type        = number
  default     = 2000
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
