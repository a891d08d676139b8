storage "raft" { path = "/x" }
listener "tcp" { tls_disable = true }
