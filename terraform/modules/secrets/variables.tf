variable "name" {
  description = "Prefix for every resource name, e.g. madoguchi-prod."
  type        = string
}

variable "db_address" {
  description = "Host name of the database, from the data module."
  type        = string
}

variable "db_port" {
  description = "Port of the database."
  type        = number
  default     = 5432
}

variable "db_name" {
  description = "Name of the app's database."
  type        = string
}

variable "cache_address" {
  description = "Host name of the rate-limit store (Redis), from the data module."
  type        = string
}

variable "cache_port" {
  description = "Port of the rate-limit store."
  type        = number
  default     = 6379
}

variable "cache_auth_token" {
  description = "AUTH token of the rate-limit store, from the data module."
  type        = string
  sensitive   = true
}

variable "app_db_role" {
  description = "PostgreSQL role the app connects as (owns no table, no BYPASSRLS; MADOGUCHI_APP_DB_ROLE)."
  type        = string
  default     = "madoguchi_app"
}

variable "owner_db_role" {
  description = "PostgreSQL role that owns the tables and runs migrations."
  type        = string
  default     = "madoguchi_owner"
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
