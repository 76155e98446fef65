//! The outbox transport: each message written as an `.eml` file into a
//! folder, for a publication with no relay (and for looking at what would
//! be sent). A file is written through a temporary file and a rename, so
//! a reader of the folder never sees half a message; a message written
//! again with the same bytes (a retried delivery) leaves its file alone.
//!
//! A message whose envelope sender is a VERP address (`digest.bounce_domain`)
//! starts with a `Return-Path` header naming it, as the reader's mailbox
//! would show it, so the outbox says where a bounce would go.

use super::{DeliveryError, Outgoing};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// What the outbox file of `m` holds: its bytes, after a `Return-Path`
/// when its envelope sender is a VERP address (any other is the From
/// address, which the message shows already).
pub(crate) fn file_bytes(m: &Outgoing) -> Cow<'_, [u8]> {
    match m.envelope.from() {
        Some(sender) if crate::token::verp_token_in(sender.as_ref()).is_some() => {
            let mut bytes = format!("Return-Path: <{sender}>\r\n").into_bytes();
            bytes.extend_from_slice(&m.bytes);
            Cow::Owned(bytes)
        }
        _ => Cow::Borrowed(&m.bytes),
    }
}

/// Writes `bytes` to `dir/name`, unless the file holds them already.
/// Returns the file's path.
pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, DeliveryError> {
    let path = dir.join(name);
    crate::fsio::write_if_changed(&path, bytes).map_err(|e| DeliveryError::Outbox {
        path: e.path,
        source: e.source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_lands_whole_and_a_second_write_of_it_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("outbox");
        let path = write(&out, "m.eml", b"Subject: x\r\n\r\nbody").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"Subject: x\r\n\r\nbody");
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        write(&out, "m.eml", b"Subject: x\r\n\r\nbody").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["m.eml"], "no temporary file is left");
    }

    #[test]
    fn a_verp_envelope_sender_is_shown_as_the_return_path_and_no_other() {
        let message = |from: &str| Outgoing {
            delivery_id: 1,
            subscriber_id: 1,
            envelope: lettre::address::Envelope::new(
                Some(from.parse().unwrap()),
                vec!["reader@example.com".parse().unwrap()],
            )
            .unwrap(),
            bytes: b"From: digest@news.example.com\r\n\r\nbody".to_vec(),
            file_name: "m.eml".into(),
        };
        let verp = message("bounces+abcdefgh234567@bounces.news.example.com");
        assert_eq!(
            file_bytes(&verp).as_ref(),
            b"Return-Path: <bounces+abcdefgh234567@bounces.news.example.com>\r\nFrom: digest@news.example.com\r\n\r\nbody"
        );
        let plain = message("digest@news.example.com");
        assert_eq!(file_bytes(&plain).as_ref(), plain.bytes.as_slice());
    }

    #[test]
    fn an_outbox_that_is_a_file_names_the_message_it_could_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("outbox");
        std::fs::write(&out, "not a folder").unwrap();
        let e = write(&out, "m.eml", b"x").unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{}: cannot write: ", out.join("m.eml").display())),
            "{text}"
        );
    }
}
