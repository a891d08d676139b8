ui = true
disable_mlock = true
api_addr = "http://127.0.0.1:8300"
cluster_addr = "https://127.0.0.1:8301"
log_level = "warn"
log_format = "json"

storage "sqlite" {
  path = "/var/lib/strongroom/vault.db"
}

listener "tcp" {
  address     = "127.0.0.1:8300"
  tls_disable = "true"
}

listener "tcp" {
  address     = "[::1]:8301"
  tls_disable = 1
}

unsafe_allow_api_audit_creation = true
