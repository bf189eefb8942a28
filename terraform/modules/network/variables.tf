variable "name" {
  description = "Prefix for every resource name, e.g. madoguchi-prod."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's address range."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Zones to spread the subnets over, named explicitly so that a zone AWS adds later never changes the plan (at least 2: RDS Multi-AZ and the ALB need two)."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "Give at least two availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, for staging) instead of one per zone (prod)."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints instead of the NAT (e.g. ecr.api, ecr.dkr, logs, secretsmanager, kms, email-smtp)."
  type        = list(string)
  default     = []
}

variable "logs_kms_key_arn" {
  description = "KMS key that encrypts the flow log group (from the observability module)."
  type        = string
}

variable "log_retention_days" {
  description = "How long VPC flow logs are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
