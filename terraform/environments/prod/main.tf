# Production: every module, sized for several municipalities, with a NAT gateway per zone, interface VPC
# endpoints and longer backups. Staging (../staging) composes the same modules, smaller.

provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}

locals {
  tags = {
    Project     = "madoguchi"
    Environment = "prod"
    ManagedBy   = "terraform"
  }
  size = {
    single_nat_gateway  = false
    interface_endpoints = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "kms"]
    db_instance_class   = "db.m7g.large"
    db_storage_gb       = 100
    db_max_storage_gb   = 1000
    cache_node_type     = "cache.m7g.large"
    db_backup_days      = 35
    web                 = { cpu = 1024, memory = 2048, min_tasks = 3, max_tasks = 12 }
    worker              = { cpu = 512, memory = 1024, min_tasks = 2, max_tasks = 6 }
  }
}

module "observability" {
  source                   = "../../modules/observability"
  name                     = var.name
  alarm_email              = var.alarm_email
  load_balancer_arn_suffix = module.app.load_balancer_arn_suffix
  target_group_arn_suffix  = module.app.target_group_arn_suffix
  ecs_cluster_name         = module.app.ecs_cluster_name
  ecs_service_names        = module.app.ecs_service_names
  db_instance_identifier   = module.data.db_instance_identifier
  db_allocated_storage_gb  = module.data.db_allocated_storage_gb
  tags                     = local.tags
}

module "network" {
  source              = "../../modules/network"
  name                = var.name
  cidr_block          = "10.40.0.0/16"
  availability_zones  = var.availability_zones
  single_nat_gateway  = local.size.single_nat_gateway
  interface_endpoints = local.size.interface_endpoints
  logs_kms_key_arn    = module.observability.logs_kms_key_arn
  log_retention_days  = module.observability.log_retention_days
  tags                = local.tags
}

module "data" {
  source                      = "../../modules/data"
  name                        = var.name
  vpc_id                      = module.network.vpc_id
  private_subnet_ids          = module.network.private_subnet_ids
  client_security_group_ids   = [module.app.tasks_security_group_id]
  db_instance_class           = local.size.db_instance_class
  db_allocated_storage_gb     = local.size.db_storage_gb
  db_max_allocated_storage_gb = local.size.db_max_storage_gb
  db_backup_retention_days    = local.size.db_backup_days
  cache_node_type             = local.size.cache_node_type
  logs_kms_key_arn            = module.observability.logs_kms_key_arn
  log_retention_days          = module.observability.log_retention_days
  tags                        = local.tags
}

module "secrets" {
  source     = "../../modules/secrets"
  name       = var.name
  db_address = module.data.db_address
  db_port    = module.data.db_port
  db_name    = module.data.db_name
  # The shared rate-limit store: its URL, AUTH token included, becomes a secret.
  cache_address    = module.data.cache_address
  cache_port       = module.data.cache_port
  cache_auth_token = module.data.cache_auth_token
  tags             = local.tags
}

module "mail" {
  source          = "../../modules/mail"
  name            = var.name
  domain          = var.domain
  route53_zone_id = var.route53_zone_id
  tags            = local.tags
}

module "app" {
  source             = "../../modules/app"
  name               = var.name
  vpc_id             = module.network.vpc_id
  vpc_cidr_block     = module.network.vpc_cidr_block
  public_subnet_ids  = module.network.public_subnet_ids
  private_subnet_ids = module.network.private_subnet_ids
  certificate_arn    = var.certificate_arn
  public_url         = "https://${var.domain}"
  image_tag          = var.image_tag
  web                = local.size.web
  worker             = local.size.worker

  secret_key_arn             = module.secrets.secret_arns["secret-key"]
  data_key_arn               = module.secrets.secret_arns["data-key"]
  database_url_arn           = module.secrets.secret_arns["database-url"]
  migration_database_url_arn = module.secrets.secret_arns["migration-database-url"]
  archive_signing_key_arn    = module.secrets.secret_arns["archive-signing-key"]
  ratelimit_storage_url_arn  = module.secrets.secret_arns["ratelimit-storage-url"]
  audit_key_arn              = module.secrets.secret_arns["audit-key"]
  secrets_kms_key_arn        = module.secrets.kms_key_arn
  signing_kms_alias_prefix   = var.signing_kms_alias_prefix
  environment = concat([
    # Private keys stay in KMS (one per municipality, matched by signing_kms_alias_prefix); never generated on
    # the container's read-only root filesystem.
    { name = "MADOGUCHI_SIGNING_KEY_SOURCE", value = "kms" },
    { name = "MADOGUCHI_SIGNING_KMS_KEY_ID", value = "${var.signing_kms_alias_prefix}{tenant}" },
    { name = "MADOGUCHI_SIGNING_KMS_REGION", value = var.region },
    { name = "MADOGUCHI_STORAGE_REGION", value = var.region },
    { name = "MADOGUCHI_STORAGE_KMS_KEY_ID", value = module.data.documents_kms_key_arn },
    { name = "MADOGUCHI_EMAIL_BACKEND", value = "ses" },
    { name = "MADOGUCHI_EMAIL_FROM", value = "no-reply@${var.domain}" },
    { name = "MADOGUCHI_SES_REGION", value = var.region },
    { name = "MADOGUCHI_SES_CONFIGURATION_SET", value = module.mail.configuration_set_name },
  ], var.app_environment)

  documents_bucket_name         = module.data.documents_bucket_name
  documents_bucket_arn          = module.data.documents_bucket_arn
  audit_checkpoints_bucket_name = module.data.audit_checkpoints_bucket_name
  audit_checkpoints_bucket_arn  = module.data.audit_checkpoints_bucket_arn
  documents_kms_key_arn         = module.data.documents_kms_key_arn
  access_logs_bucket_name       = module.data.access_logs_bucket_name
  ses_identity_arn              = module.mail.identity_arn
  ses_configuration_set_arn     = module.mail.configuration_set_arn
  web_log_group_name            = module.observability.web_log_group_name
  worker_log_group_name         = module.observability.worker_log_group_name
  waf_log_group_arn             = module.observability.waf_log_group_arn
  tags                          = local.tags
}
