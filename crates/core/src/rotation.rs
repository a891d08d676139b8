//! Scheduled rotations the core runs itself, through `strongroom-rotation`: today the barrier's
//! keyring (a new encryption term on a schedule, tested before it counts as done).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use strongroom_barrier::Barrier;
use strongroom_rotation::{Rotator, StepContext, StepError, StepResult};
use strongroom_storage::Storage;

use crate::Clock;

/// The id of the barrier keyring in the rotation scheduler.
pub(crate) const BARRIER_SECRET: &str = "barrier-keyring";

/// Where the core's rotation states live (inside the barrier).
pub(crate) const ROTATION_PREFIX: &str = "core/rotation/";

/// The core's clock, as the rotation scheduler sees it.
pub(crate) struct ClockAdapter(pub(crate) Arc<dyn Clock>);

impl strongroom_rotation::Clock for ClockAdapter {
    fn now(&self) -> SystemTime {
        self.0.now()
    }
}

/// Rotates the barrier keyring: `set` installs a new term (writes use it at once; older terms
/// stay to decrypt what they wrote), `test` proves the active term seals and opens. `create`,
/// `finish` and `revoke_previous` have nothing to do: terms are never revoked, since data
/// written under them must stay readable (re-encryption is a separate, explicit operation).
/// A `set` repeated after a crash installs one more term, which is harmless.
pub(crate) struct BarrierRotator {
    pub(crate) barrier: Arc<Barrier<Arc<dyn Storage>>>,
}

fn failed(err: impl std::fmt::Display) -> StepError {
    StepError::new(err.to_string())
}

#[async_trait]
impl Rotator for BarrierRotator {
    async fn create(&self, _ctx: &StepContext) -> StepResult {
        Ok(())
    }

    async fn set(&self, _ctx: &StepContext) -> StepResult {
        self.barrier.rotate().await.map(drop).map_err(failed)
    }

    async fn test(&self, _ctx: &StepContext) -> StepResult {
        const PROBE: &str = "core/rotation-probe";
        let sealed = self
            .barrier
            .encrypt(PROBE, b"probe")
            .await
            .map_err(failed)?;
        let opened = self.barrier.decrypt(PROBE, sealed).map_err(failed)?;
        if opened == b"probe" {
            Ok(())
        } else {
            Err(StepError::new("the new term does not round-trip"))
        }
    }

    async fn finish(&self, _ctx: &StepContext) -> StepResult {
        Ok(())
    }

    async fn revoke_previous(&self, _ctx: &StepContext) -> StepResult {
        Ok(())
    }
}
