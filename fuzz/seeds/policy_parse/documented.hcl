path "secret/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}

path "secret/super-secret" {
  capabilities = ["deny"]
}

path "secret/restricted" {
  capabilities = ["create"]
  allowed_parameters = {
    "foo" = []
    "bar" = ["zip", "zap"]
    "*"   = []
  }
  denied_parameters = {
    "baz" = ["evil-*"]
  }
  required_parameters = ["foo"]
}

path "secret/+/teamb" {
  capabilities = ["read"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "90s"
}
