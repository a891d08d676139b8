use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::{Backend, LogicalError, Result};

/// Builds an engine for a mount from the mount's options (e.g. `{"version": "2"}` for KV).
pub trait Factory: Send + Sync {
    /// Creates the engine.
    ///
    /// # Errors
    ///
    /// [`LogicalError::InvalidRequest`] for options the engine does not accept.
    fn create(&self, options: &Map<String, Value>) -> Result<Arc<dyn Backend>>;
}

impl<F> Factory for F
where
    F: Fn(&Map<String, Value>) -> Result<Arc<dyn Backend>> + Send + Sync,
{
    fn create(&self, options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
        self(options)
    }
}

/// Engines by type name (`kv`, `transit`, ...): what `sys/mounts` and `sys/auth` can enable.
/// Embedders register their own next to the built-in ones.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, Arc<dyn Factory>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.factories.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` under `kind`, replacing any previous one.
    pub fn register(&mut self, kind: impl Into<String>, factory: impl Factory + 'static) {
        self.factories.insert(kind.into(), Arc::new(factory));
    }

    /// The registered type names.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Creates an engine of type `kind`.
    ///
    /// # Errors
    ///
    /// [`LogicalError::InvalidRequest`] for an unknown type or options the engine refuses.
    pub fn create(&self, kind: &str, options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
        self.factories
            .get(kind)
            .ok_or_else(|| {
                LogicalError::invalid(format!("plugin not found in the catalog: {kind}"))
            })?
            .create(options)
    }
}
