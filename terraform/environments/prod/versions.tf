terraform {
  # 1.10+: S3 native state locking (use_lockfile).
  required_version = ">= 1.10, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.90"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Partial configuration: the state bucket and region come from `terraform init -backend-config=backend.hcl`
  # (copy backend.hcl.example), so no account-specific name is written here.
  backend "s3" {
    key          = "madoguchi/prod/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
