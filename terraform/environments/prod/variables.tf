variable "region" {
  description = "AWS region (Tokyo by default; Osaka for a second site)."
  type        = string
  default     = "ap-northeast-1"
}

variable "availability_zones" {
  description = "Zones of the region to use (Tokyo has a, c and d)."
  type        = list(string)
  default     = ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]
}

variable "name" {
  description = "Prefix for every resource name."
  type        = string
  default     = "madoguchi-prod"
}

variable "domain" {
  description = "Public host name of the service and sender domain of its email, e.g. madoguchi.example.jp."
  type        = string
}

variable "route53_zone_id" {
  description = "Hosted zone of the domain, for the SES DNS records; empty to publish them by hand."
  type        = string
  default     = ""
}

variable "certificate_arn" {
  description = "ACM certificate for the domain, in the same region."
  type        = string
}

variable "image_tag" {
  description = "Image tag or digest (sha256:...) to deploy from the ECR repository."
  type        = string
}

variable "alarm_email" {
  description = "Address that receives alarms."
  type        = string
  default     = ""
}

variable "ratelimit_storage_url" {
  description = "Shared storage for the app's rate limits (MADOGUCHI_RATELIMIT_STORAGE_URL), e.g. a Redis/Valkey URL; memory:// counts per worker process."
  type        = string
  default     = "memory://"
}

variable "signing_kms_alias_prefix" {
  description = "With MADOGUCHI_SIGNING_KEY_SOURCE=kms in app_environment: the alias prefix of the tenants' signing keys (e.g. alias/madoguchi-signing-). Empty: no KMS signing."
  type        = string
  default     = ""
}

variable "app_environment" {
  description = "Further MADOGUCHI_* settings (not secrets) for every container, e.g. [{ name = \"MADOGUCHI_SIGNING_KEY_SOURCE\", value = \"kms\" }]."
  type        = list(object({ name = string, value = string }))
  default     = []
}
