//! The outbox transport: each message written as an `.eml` file into a
//! folder, for a publication with no relay (and for looking at what would
//! be sent). A file is written through a temporary file and a rename, so
//! a reader of the folder never sees half a message; a message written
//! again with the same bytes (a retried delivery) leaves its file alone.

use super::DeliveryError;
use std::path::{Path, PathBuf};

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
