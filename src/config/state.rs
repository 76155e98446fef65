//! `[state]`: how the SQLite state is shared with other processes.

use super::issues::Issues;
use super::raw::RawState;

/// `[state]`.
#[derive(Debug, Clone)]
pub struct State {
    /// How long to wait for another process's write lock on the database.
    pub busy_timeout_seconds: u32,
}

/// `[state]`.
pub(super) fn validate(raw: RawState, issues: &mut Issues) -> State {
    State {
        busy_timeout_seconds: issues.whole(
            "state.busy_timeout_seconds",
            raw.busy_timeout_seconds,
            30,
        ) as u32,
    }
}
