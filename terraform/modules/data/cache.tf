# The shared store of the app's rate limits (Flask-Limiter through `limits`): Redis on ElastiCache, two nodes in
# two zones with automatic failover, encrypted at rest (customer managed key) and in transit, behind an AUTH
# token, reachable only from the app's tasks. `limits` has no PostgreSQL storage, and memory:// would count per
# worker process (docs/decisions/0015). Rate-limit counters are disposable: no snapshots are kept beyond a day.

resource "aws_elasticache_subnet_group" "cache" {
  name        = "${var.name}-cache"
  description = "Private subnets of ${var.name} for the rate-limit store"
  subnet_ids  = var.private_subnet_ids
  tags        = var.tags
}

resource "aws_security_group" "cache" {
  name        = "${var.name}-cache"
  description = "Redis (rate limits), reachable only from the app's tasks"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "cache_from_clients" {
  count                        = length(var.client_security_group_ids)
  security_group_id            = aws_security_group.cache.id
  description                  = "Redis from the app's tasks"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = var.client_security_group_ids[count.index]
}

# Letters and digits only: the token goes into the rediss:// URL unescaped (the secrets module builds it).
resource "random_password" "cache_auth_token" {
  length  = 64
  special = false
}

resource "aws_elasticache_replication_group" "cache" {
  replication_group_id = "${var.name}-cache"
  description          = "${var.name}: rate-limit counters shared by every web task"
  engine               = "redis"
  engine_version       = var.cache_engine_version
  node_type            = var.cache_node_type
  port                 = 6379
  num_cache_clusters   = 2

  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.cache.name
  security_group_ids         = [aws_security_group.cache.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.this["cache"].arn
  transit_encryption_enabled = true
  auth_token                 = random_password.cache_auth_token.result

  snapshot_retention_limit   = 1
  snapshot_window            = "16:00-17:00" # 01:00-02:00 JST, before the database's backup window
  maintenance_window         = "sun:19:30-sun:20:30"
  auto_minor_version_upgrade = true
  apply_immediately          = false
  tags                       = var.tags
}
