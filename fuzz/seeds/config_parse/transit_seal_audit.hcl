storage "inmem" {}
listener "tcp" { tls_disable = true }
seal "transit" {
  address = "https://vault.example:8200"
  token = "s.0123456789abcdef"
  key_name = "autounseal"
  mount_path = "transit/"
  namespace = "ns1/"
  tls_ca_cert = "/etc/ca.pem"
}
audit "file" "file/" {
  description = "every request"
  options {
    file_path = "/var/log/strongroom/audit.log"
  }
}
