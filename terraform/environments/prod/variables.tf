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

variable "signing_kms_alias_prefix" {
  description = "Alias prefix of the municipalities' signing keys in KMS (MADOGUCHI_SIGNING_KEY_SOURCE=kms): a municipality's key is <prefix><slug>."
  type        = string
  default     = "alias/madoguchi-signing-"
}

variable "app_environment" {
  description = "Further MADOGUCHI_* settings (not secrets) for every container, e.g. [{ name = \"MADOGUCHI_VIRUS_SCANNER_URL\", value = \"clamav://clamd.internal:3310\" }]."
  type        = list(object({ name = string, value = string }))
  default     = []
}
