output "identity_arn" {
  description = "The SES domain identity (the task role may send as it)."
  value       = aws_sesv2_email_identity.domain.arn
}

output "configuration_set_name" {
  description = "SES configuration set the app sends with."
  value       = aws_sesv2_configuration_set.this.configuration_set_name
}

output "configuration_set_arn" {
  description = "ARN of the configuration set, for the task role's policy."
  value       = aws_sesv2_configuration_set.this.arn
}

output "dkim_records" {
  description = "CNAME records to publish when the zone is not in Route 53."
  value = [for token in aws_sesv2_email_identity.domain.dkim_signing_attributes[0].tokens :
  { name = "${token}._domainkey.${var.domain}", type = "CNAME", value = "${token}.dkim.amazonses.com" }]
}
