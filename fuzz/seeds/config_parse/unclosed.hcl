listener "tcp" {
  address = "999.0.0.1:1"
