//! What is kept of a report: the message or payload as it came, up to a
//! bound. A bounce may carry back a 30 MB attachment; what says why an
//! address bounced (the headers, the status part) comes first, so the
//! first [`MAX_EVIDENCE_BYTES`] are kept, cut at a line's end, with a last
//! line saying how much was left out.

/// The most bytes kept of one report.
pub const MAX_EVIDENCE_BYTES: usize = 1 << 20;

/// `raw` as kept.
pub fn keep(raw: &[u8]) -> Vec<u8> {
    if raw.len() <= MAX_EVIDENCE_BYTES {
        return raw.to_vec();
    }
    let head = &raw[..MAX_EVIDENCE_BYTES];
    let end = memchr::memrchr(b'\n', head).map_or(head.len(), |i| i + 1);
    let mut kept = head[..end].to_vec();
    kept.extend_from_slice(
        format!(
            "\r\n[broadsheet kept the first {end} of the {} bytes of this report]\r\n",
            raw.len()
        )
        .as_bytes(),
    );
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_report_is_kept_whole_and_a_big_one_cut_at_a_line_saying_so() {
        assert_eq!(keep(b"Subject: x\r\n\r\nbody"), b"Subject: x\r\n\r\nbody");
        let big = "line of a report\r\n".repeat(MAX_EVIDENCE_BYTES / 10);
        let kept = keep(big.as_bytes());
        assert!(kept.len() < MAX_EVIDENCE_BYTES + 200);
        let text = String::from_utf8(kept).unwrap();
        assert!(text.contains("line of a report\r\n\r\n[broadsheet kept the first"));
        assert!(text.ends_with(&format!("of the {} bytes of this report]\r\n", big.len())));
    }
}
