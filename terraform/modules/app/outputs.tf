output "load_balancer_dns_name" {
  description = "Point the public host name (CNAME or Route 53 alias) here."
  value       = aws_lb.this.dns_name
}

output "load_balancer_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "load_balancer_arn_suffix" {
  description = "CloudWatch dimension of the load balancer."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "CloudWatch dimension of the web target group."
  value       = aws_lb_target_group.web.arn_suffix
}

output "ecr_repository_url" {
  description = "Push the image (docker build -f infra/Dockerfile .) here."
  value       = aws_ecr_repository.app.repository_url
}

output "ecs_cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_names" {
  description = "The ECS services by role."
  value       = { web = aws_ecs_service.web.name, worker = aws_ecs_service.worker.name }
}

output "migrate_task_definition" {
  description = "Run this task definition (aws ecs run-task) before rolling out a new image."
  value       = aws_ecs_task_definition.migrate.family
}

output "tasks_security_group_id" {
  description = "Security group of the tasks (allowed into the database)."
  value       = aws_security_group.tasks.id
}

output "private_subnet_ids" {
  description = "Subnets to run one-off tasks in."
  value       = var.private_subnet_ids
}
