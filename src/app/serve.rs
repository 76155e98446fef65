//! `serve`: the subscriber service, sending with the digest's mail
//! settings.

use crate::config::Config;
use crate::server::{self, Clock};
use crate::Error;

/// Runs the subscriber service until SIGTERM or SIGINT (see
/// [`server::serve`]); its emails go out like the digest's, from
/// `digest.from` over `[smtp]` or into the outbox.
pub fn serve(config: Config, clock: Clock) -> Result<(), Error> {
    let sender = crate::mail::Sender::from_config(&config)?;
    let transport = crate::mail::Transport::from_config(&config)?;
    Ok(server::serve(config, clock, sender, transport)?)
}
