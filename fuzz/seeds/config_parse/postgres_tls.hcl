storage "postgresql" {
  connection_url = "postgres://vault:hunter2@db:5432/vault?sslmode=require"
  table = "vault_kv"
}
listener "tcp" {
  address = "0.0.0.0:8200"
  tls_cert_file = "/etc/strongroom/cert.pem"
  tls_key_file = "/etc/strongroom/key.pem"
  tls_min_version = "tls13"
}
audit_dir = "/var/log/strongroom"
