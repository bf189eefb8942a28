variable "name" {
  description = "Prefix for every resource name, e.g. madoguchi-prod."
  type        = string
}

variable "domain" {
  description = "Domain the app sends email from (MADOGUCHI_* sender addresses live under it)."
  type        = string
}

variable "route53_zone_id" {
  description = "Hosted zone of the domain, to publish the DKIM and MAIL FROM records; empty to publish them by hand (see the dkim_records output)."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
