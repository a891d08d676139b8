use std::net::IpAddr;

use serde_json::{Map, Value};

/// What a request asks for. These are Vault's logical operations; `capability` names the policy
/// capability each needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Read (GET).
    Read,
    /// Create: a write to a path that holds nothing yet (PUT/POST).
    Create,
    /// Update: a write to a path that holds something (PUT/POST).
    Update,
    /// Patch (PATCH).
    Patch,
    /// Delete (DELETE).
    Delete,
    /// List (LIST, or GET with `?list=true`).
    List,
}

impl Operation {
    /// The policy capability this operation needs.
    pub fn capability(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Create => "create",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::List => "list",
        }
    }

    /// Whether the operation writes.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::Create | Self::Update | Self::Patch | Self::Delete
        )
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.capability())
    }
}

/// Who is asking, as the engine may see it. Never the token itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The token's accessor.
    pub accessor: String,
    /// The token's policies.
    pub policies: Vec<String>,
    /// The token's display name.
    pub display_name: String,
    /// The token's metadata.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// Where the request came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connection {
    /// The client's address, when known (an embedded call has none).
    pub remote_addr: Option<IpAddr>,
}

impl Connection {
    /// A connection from `addr`.
    pub fn from_addr(addr: IpAddr) -> Self {
        Self {
            remote_addr: Some(addr),
        }
    }
}

/// A request as an engine receives it: the path is relative to the engine's mount. `Debug`
/// shows the data's keys, not its values.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Request {
    /// The operation.
    pub operation: Operation,
    /// The path below the mount, without a leading `/` (may be empty: the mount itself).
    pub path: String,
    /// The request body's fields (and, for reads and lists, the query parameters).
    pub data: Map<String, Value>,
    /// Who is asking; `None` on unauthenticated paths (such as a login).
    pub client: Option<ClientInfo>,
    /// Where the request came from.
    pub connection: Connection,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data", &crate::Redacted(&self.data))
            .field("client", &self.client)
            .field("connection", &self.connection)
            .finish()
    }
}

impl Request {
    /// A request with no data, no client and no connection information.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            operation,
            path: path.into(),
            data: Map::new(),
            client: None,
            connection: Connection::default(),
        }
    }

    /// Sets the data.
    #[must_use]
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }

    /// Sets the client.
    #[must_use]
    pub fn with_client(mut self, client: ClientInfo) -> Self {
        self.client = Some(client);
        self
    }

    /// Sets the connection.
    #[must_use]
    pub fn with_connection(mut self, connection: Connection) -> Self {
        self.connection = connection;
        self
    }

    /// The string field `name`, if present and a string.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.data.get(name).and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_name_their_capability() {
        assert_eq!(Operation::List.to_string(), "list");
        assert!(Operation::Patch.is_write());
        assert!(!Operation::Read.is_write());
    }
}
