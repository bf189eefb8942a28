# ECS on Fargate: the image repository, the cluster, the web service (behind the ALB), the outbox worker
# service, and a task definition for one-off `madoguchi db upgrade` runs before a deployment.

data "aws_region" "current" {}

locals {
  container_port = 8000
  image          = startswith(var.image_tag, "sha256:") ? "${aws_ecr_repository.app.repository_url}@${var.image_tag}" : "${aws_ecr_repository.app.repository_url}:${var.image_tag}"
  # Written out as lists (not built with `for`) so that checkov can read the container definitions.
  environment_list = concat([
    # Refuse to start without the production settings (secret and data keys, shared rate-limit store, signing
    # keys that are not generated on the spot): docs/decisions/0015.
    { name = "MADOGUCHI_ENV", value = "production" },
    { name = "MADOGUCHI_PUBLIC_URL", value = var.public_url },
    { name = "MADOGUCHI_STORAGE_URL", value = "s3://${var.documents_bucket_name}/${var.documents_prefix}" },
    { name = "MADOGUCHI_AUDIT_CHECKPOINT_URL", value = "s3://${var.audit_checkpoints_bucket_name}/checkpoints" },
    # The ALB's addresses lie in the VPC; only it can reach the tasks (security group).
    { name = "MADOGUCHI_FORWARDED_ALLOW_IPS", value = var.vpc_cidr_block },
    # One proxy (the ALB) in front: the app takes the client address from its X-Forwarded-For entry.
    { name = "MADOGUCHI_TRUSTED_PROXY_HOPS", value = "1" },
    { name = "AWS_REGION", value = data.aws_region.current.name },
  ], var.environment)
  app_secrets = [
    { name = "MADOGUCHI_SECRET_KEY", valueFrom = var.secret_key_arn },
    { name = "MADOGUCHI_DATA_KEY", valueFrom = var.data_key_arn },
    { name = "MADOGUCHI_DATABASE_URL", valueFrom = var.database_url_arn },
    { name = "MADOGUCHI_ARCHIVE_SIGNING_KEY", valueFrom = var.archive_signing_key_arn },
    { name = "MADOGUCHI_RATELIMIT_STORAGE_URL", valueFrom = var.ratelimit_storage_url_arn },
    { name = "MADOGUCHI_AUDIT_KEY", valueFrom = var.audit_key_arn },
  ]
  migration_secrets = [
    { name = "MADOGUCHI_MIGRATION_DATABASE_URL", valueFrom = var.migration_database_url_arn },
  ]

  # Shared by every container: non-root, read-only root filesystem with a writable /tmp volume, and an init
  # process that forwards SIGTERM and reaps children.
  container_defaults = {
    essential              = true
    user                   = "10001:10001"
    readonlyRootFilesystem = true
    privileged             = false
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    linuxParameters        = { initProcessEnabled = true }
  }
}

resource "aws_ecr_repository" "app" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
  }
  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 50 most recent images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 50 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = var.tags
}

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "Web and worker tasks: the ALB in; HTTPS to AWS APIs and PostgreSQL in the VPC out"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "gunicorn, from the load balancer only"
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS: S3, SES, KMS, Secrets Manager, ECR, CloudWatch, and webhook targets of vendors"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "tasks_redis" {
  security_group_id = aws_security_group.tasks.id
  description       = "Redis (the shared rate-limit store) inside the VPC"
  ip_protocol       = "tcp"
  from_port         = 6379
  to_port           = 6379
  cidr_ipv4         = var.vpc_cidr_block
}

resource "aws_vpc_security_group_egress_rule" "tasks_postgres" {
  security_group_id = aws_security_group.tasks.id
  description       = "PostgreSQL inside the VPC"
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  cidr_ipv4         = var.vpc_cidr_block
}

# -- task definitions ---------------------------------------------------------------------------------------------
# Three explicit resources with their log options written out, rather than a for_each or shared merge()s:
# checkov can only check container definitions (read-only root filesystem, …) that it can resolve.
locals {
}

resource "aws_ecs_task_definition" "web" {
  family                   = "${var.name}-web"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.web.cpu
  memory                   = var.web.memory
  execution_role_arn       = aws_iam_role.execution["app"].arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.container_defaults, {
    name        = "web"
    image       = local.image
    environment = local.environment_list
    command     = ["gunicorn", "-c", "infra/gunicorn.conf.py", "madoguchi:create_app()"]
    # local.container_port, written out: checkov cannot resolve a local there and would then skip the checks.
    portMappings = [{ containerPort = 8000, protocol = "tcp" }]
    secrets      = local.app_secrets
    # gunicorn's graceful_timeout is 25 s: ECS waits longer before it sends SIGKILL.
    stopTimeout = 40
    # No container health check: ECS acts on the load balancer's check of /healthz (target group).
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.web_log_group_name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "web"
        # Logs never block the app when CloudWatch is slow; a burst beyond the buffer is dropped instead.
        mode            = "non-blocking"
        max-buffer-size = "25m"
      }
    }
  })])
  tags = var.tags
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker.cpu
  memory                   = var.worker.memory
  execution_role_arn       = aws_iam_role.execution["app"].arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.container_defaults, {
    name        = "worker"
    image       = local.image
    environment = local.environment_list
    command     = ["madoguchi", "worker"]
    secrets     = local.app_secrets
    # On SIGTERM the worker finishes the pass in hand, then exits (cli/worker.py).
    stopTimeout = 60
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.worker_log_group_name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "worker"
        # Logs never block the app when CloudWatch is slow; a burst beyond the buffer is dropped instead.
        mode            = "non-blocking"
        max-buffer-size = "25m"
      }
    }
  })])
  tags = var.tags
}

# Run before rolling out a new image: aws ecs run-task --task-definition <name>-migrate (docs/operations.md).
# Only the owner's database URL, and a task role without any permission.
resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution["migrate"].arn
  task_role_arn            = aws_iam_role.migrate_task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.container_defaults, {
    name        = "migrate"
    image       = local.image
    environment = local.environment_list
    command     = ["madoguchi", "db", "upgrade"]
    secrets     = local.migration_secrets
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.worker_log_group_name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "migrate"
        # Logs never block the app when CloudWatch is slow; a burst beyond the buffer is dropped instead.
        mode            = "non-blocking"
        max-buffer-size = "25m"
      }
    }
  })])
  tags = var.tags
}

# -- services --------------------------------------------------------------------------------------------------------
resource "aws_ecs_service" "web" {
  name                              = "web"
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.web.arn
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  desired_count                     = var.web.min_tasks
  health_check_grace_period_seconds = 60
  enable_execute_command            = false
  propagate_tags                    = "SERVICE"
  # Rolling deployments never drop below the current capacity; a failing release rolls back by itself.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.web.arn
    container_name   = "web"
    container_port   = local.container_port
  }

  lifecycle {
    # Autoscaling owns the task count once the service exists.
    ignore_changes = [desired_count]
  }
  depends_on = [aws_lb_listener.https]
  tags       = var.tags
}

resource "aws_ecs_service" "worker" {
  name                   = "worker"
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.worker.arn
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  desired_count          = var.worker.min_tasks
  enable_execute_command = false
  propagate_tags         = "SERVICE"
  # Workers claim outbox rows with FOR UPDATE SKIP LOCKED, so old and new tasks may overlap safely.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  lifecycle {
    ignore_changes = [desired_count]
  }
  tags = var.tags
}

# -- autoscaling: target tracking -------------------------------------------------------------------------------------
resource "aws_appautoscaling_target" "web" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.web.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.web.min_tasks
  max_capacity       = var.web.max_tasks
}

resource "aws_appautoscaling_policy" "web_cpu" {
  name               = "${var.name}-web-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.web.service_namespace
  resource_id        = aws_appautoscaling_target.web.resource_id
  scalable_dimension = aws_appautoscaling_target.web.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = var.web.cpu_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "web_requests" {
  name               = "${var.name}-web-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.web.service_namespace
  resource_id        = aws_appautoscaling_target.web.resource_id
  scalable_dimension = aws_appautoscaling_target.web.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = var.web.requests_goal
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.web.arn_suffix}"
    }
  }
}

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.worker.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.worker.min_tasks
  max_capacity       = var.worker.max_tasks
}

resource "aws_appautoscaling_policy" "worker_cpu" {
  name               = "${var.name}-worker-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = var.worker.cpu_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
