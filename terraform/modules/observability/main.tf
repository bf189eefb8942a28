# Observability: the KMS key for logs and alarm notifications, every log group the services write to
# (encrypted, with retention), metric filters on the outbox worker's log, and alarms to an SNS topic.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  namespace  = "Madoguchi/${var.name}"
}

resource "aws_kms_key" "logs" {
  description             = "${var.name}: CloudWatch Logs and alarm notifications"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsOfThisAccount"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*" }
        }
      },
      {
        Sid       = "AlarmsPublishToTheEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })
  tags = var.tags
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${var.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

# -- log groups ---------------------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "web" {
  name              = "/madoguchi/${var.name}/web"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/madoguchi/${var.name}/worker"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
  tags              = var.tags
}

# WAF only delivers to log groups whose name starts with aws-waf-logs-.
resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
  tags              = var.tags
}

# -- the outbox worker's log as metrics: retries, give-ups and failed passes mean a growing backlog ------------
locals {
  # Metric name -> log pattern, matching the messages of src/madoguchi/notify/worker.py.
  outbox_log_metrics = {
    # "outbox message <id> failed (attempt <n>): <error>"
    OutboxRetries = "\"outbox message\" \"failed (attempt\""
    # "outbox message <id> gave up after <n> attempts: <error>"
    OutboxGaveUp = "\"outbox message\" \"gave up after\""
    # "outbox worker pass failed": the database or the worker itself is in trouble
    OutboxPassFailed = "\"outbox worker pass failed\""
  }
}

resource "aws_cloudwatch_log_metric_filter" "outbox" {
  for_each       = local.outbox_log_metrics
  name           = "${var.name}-${each.key}"
  log_group_name = aws_cloudwatch_log_group.worker.name
  pattern        = each.value
  metric_transformation {
    name          = each.key
    namespace     = local.namespace
    value         = "1"
    default_value = "0"
  }
}

# -- alarms -------------------------------------------------------------------------------------------------
resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.logs.arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  load_balancer = { LoadBalancer = var.load_balancer_arn_suffix }
  web_targets   = { LoadBalancer = var.load_balancer_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  database      = { DBInstanceIdentifier = var.db_instance_identifier }

  # Every alarm notifies the topic when it fires and when it clears. statistic or extended_statistic (a
  # percentile) is set, never both; missing: how a period without data counts.
  alarms = merge({
    web-5xx = {
      description = "The web service answered 5xx more than ${var.error_rate_threshold} times in 5 minutes."
      namespace   = "AWS/ApplicationELB", metric = "HTTPCode_Target_5XX_Count", dimensions = local.web_targets
      statistic   = "Sum", extended_statistic = null, period = 300, periods = 1
      threshold   = var.error_rate_threshold, comparison = "GreaterThanThreshold", missing = "notBreaching"
    }
    alb-5xx = {
      description = "The load balancer itself answered 5xx (no healthy task, timeouts) more than ${var.error_rate_threshold} times in 5 minutes."
      namespace   = "AWS/ApplicationELB", metric = "HTTPCode_ELB_5XX_Count", dimensions = local.load_balancer
      statistic   = "Sum", extended_statistic = null, period = 300, periods = 1
      threshold   = var.error_rate_threshold, comparison = "GreaterThanThreshold", missing = "notBreaching"
    }
    web-latency-p95 = {
      description = "p95 response time above ${var.latency_threshold_seconds} s for 15 minutes."
      namespace   = "AWS/ApplicationELB", metric = "TargetResponseTime", dimensions = local.web_targets
      statistic   = null, extended_statistic = "p95", period = 300, periods = 3
      threshold   = var.latency_threshold_seconds, comparison = "GreaterThanThreshold", missing = "notBreaching"
    }
    db-cpu = {
      description = "The database's CPU stayed above 80 % for 15 minutes."
      namespace   = "AWS/RDS", metric = "CPUUtilization", dimensions = local.database
      statistic   = "Average", extended_statistic = null, period = 300, periods = 3
      threshold   = 80, comparison = "GreaterThanThreshold", missing = "missing"
    }
    db-free-storage = {
      description = "Less than 10 % of the database's storage is free."
      namespace   = "AWS/RDS", metric = "FreeStorageSpace", dimensions = local.database
      statistic   = "Minimum", extended_statistic = null, period = 300, periods = 1
      threshold   = var.db_allocated_storage_gb * 1024 * 1024 * 1024 * 0.1, comparison = "LessThanThreshold", missing = "breaching"
    }
    outbox-backlog = {
      description = "The outbox worker retried more than ${var.outbox_retry_threshold} deliveries in 15 minutes: notifications and webhooks are piling up."
      namespace   = local.namespace, metric = "OutboxRetries", dimensions = {}
      statistic   = "Sum", extended_statistic = null, period = 900, periods = 1
      threshold   = var.outbox_retry_threshold, comparison = "GreaterThanThreshold", missing = "notBreaching"
    }
    outbox-gave-up = {
      description = "The outbox worker gave up on a message after its last attempt (a notification or webhook was not delivered)."
      namespace   = local.namespace, metric = "OutboxGaveUp", dimensions = {}
      statistic   = "Sum", extended_statistic = null, period = 300, periods = 1
      threshold   = 0, comparison = "GreaterThanThreshold", missing = "notBreaching"
    }
    outbox-stuck = {
      description = "A whole pass of the outbox worker failed (database unreachable?)."
      namespace   = local.namespace, metric = "OutboxPassFailed", dimensions = {}
      statistic   = "Sum", extended_statistic = null, period = 300, periods = 1
      threshold   = 0, comparison = "GreaterThanThreshold", missing = "notBreaching"
    }
    }, {
    for role, service in var.ecs_service_names : "${role}-cpu" => {
      description = "The ${role} service's CPU stayed above 85 % for 15 minutes (autoscaling at its maximum?)."
      namespace   = "AWS/ECS", metric = "CPUUtilization", dimensions = { ClusterName = var.ecs_cluster_name, ServiceName = service }
      statistic   = "Average", extended_statistic = null, period = 300, periods = 3
      threshold   = 85, comparison = "GreaterThanThreshold", missing = "missing"
    }
  })
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended_statistic
  period              = each.value.period
  evaluation_periods  = each.value.periods
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  treat_missing_data  = each.value.missing
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}
