//! Text helpers shared by every output: characters XML cannot carry, one-line
//! fields, and cutting a summary where a reader expects it to end.
//!
//! Everything here works on grapheme clusters or `char`s, never on bytes, so
//! Traditional Chinese and emoji sequences are never split.

use unicode_segmentation::UnicodeSegmentation;

/// Characters percent-encoded when text becomes one segment of a URL path
/// (a slug, an author's folder): controls, space, and URL syntax. Letters
/// of every script stay, encoded as UTF-8 by the caller.
pub const URL_PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Whether XML 1.0 allows `c` in a document. C1 controls and the
/// non-characters U+FFFE/U+FFFF are dropped too: XML 1.0 tolerates the first
/// but feed validators warn about them, and the second are forbidden.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r')
        || (c >= ' ' && !('\u{7f}'..='\u{9f}').contains(&c) && c != '\u{fffe}' && c != '\u{ffff}')
}

/// Whether every character of `s` passes [`is_xml_char`], read off the
/// UTF-8 bytes: bodies run to thousands of characters and nearly always
/// pass, and decoding each `char` costs several times this scan.
fn all_xml_chars(s: &str) -> bool {
    /// Bytes that may start a character XML refuses: controls, DEL, and the
    /// lead bytes of U+0080..U+009F (C2 80..C2 9F) and of U+FFFE/U+FFFF
    /// (EF BF BE, EF BF BF). In valid UTF-8, C2 and EF only ever lead.
    const SUSPECT: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 0x20 {
            t[b] = !matches!(b as u8, b'\t' | b'\n' | b'\r');
            b += 1;
        }
        t[0x7f] = true;
        t[0xc2] = true;
        t[0xef] = true;
        t
    };
    let refuses = |b: &[u8], at: usize| match b[at] {
        0xc2 => matches!(b.get(at + 1), Some(0x80..=0x9f)),
        0xef => b.get(at + 1) == Some(&0xbf) && matches!(b.get(at + 2), Some(0xbe | 0xbf)),
        _ => true,
    };
    // Eight bytes at a time: a word with no byte below 0x20, no 7F or C2,
    // and no EF followed by BF has nothing to look at, and most words of a
    // body are such. Those that have one are looked at byte by byte, as
    // the rest is. EF alone is not enough to look: it leads every
    // full-width comma, colon and bracket (U+FF01..U+FF5E), a few in each
    // line of Chinese, and only EF BF can start U+FFFE or U+FFFF.
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    // The high bit of each byte of `v` that is zero, and of no other (no
    // carry crosses a byte, unlike in `has_zero`).
    let zeros = |v: u64| !(((v & LOW7) + LOW7) | v) & HIGH;
    // The last byte's follower is in the next word: an EF there is looked at.
    const LAST: u64 = 0x80 << 56;
    let ef_then_bf = |v: u64| zeros(v ^ (ONES * 0xef)) & ((zeros(v ^ (ONES * 0xbf)) >> 8) | LAST);
    let b = s.as_bytes();
    let refused_at = |at: usize| SUSPECT[usize::from(b[at])] && refuses(b, at);
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let v = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let below_space = v.wrapping_sub(ONES * 0x20) & !v & HIGH != 0;
        let flagged = below_space
            || has_zero(v ^ (ONES * 0x7f))
            || has_zero(v ^ (ONES * 0xc2))
            || ef_then_bf(v) != 0;
        if flagged && (at..at + 8).any(refused_at) {
            return false;
        }
        at += 8;
    }
    !(at..b.len()).any(refused_at)
}

/// Whether `refuses` (given the bytes and a position) turns away none of
/// the places in `s` where a byte `suspect` marks starts a character. The
/// scan for suspects is the whole cost when there are none.
fn passes(s: &str, suspect: &[bool; 256], refuses: impl Fn(&[u8], usize) -> bool) -> bool {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = b[from..].iter().position(|&c| suspect[usize::from(c)]) {
        let at = from + p;
        if refuses(b, at) {
            return false;
        }
        from = at + 1;
    }
    true
}

/// `bytes` as text when they are UTF-8, else how many bytes from the start
/// are: the error's place. Every body a feed carries is checked, tens of
/// thousands in a build, and for Chinese text the standard library's check
/// costs several times simdutf8's.
pub fn utf8(bytes: &[u8]) -> Result<&str, usize> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => Ok(s),
        // Rare: the slower check says where.
        Err(_) => std::str::from_utf8(bytes).map_err(|e| e.valid_up_to()),
    }
}

/// Removes the characters XML 1.0 forbids (or validators reject) from `s`.
pub fn strip_control_chars(s: &str) -> String {
    if all_xml_chars(s) {
        return s.to_owned();
    }
    s.chars().filter(|&c| is_xml_char(c)).collect()
}

/// [`strip_control_chars`] for text already owned: returned as it is when
/// nothing needs removing, which is nearly always.
pub fn strip_control_chars_owned(s: String) -> String {
    if all_xml_chars(&s) {
        return s;
    }
    s.chars().filter(|&c| is_xml_char(c)).collect()
}

/// A field that must fit on one line (a title, a name, a tag): forbidden
/// characters removed, every run of whitespace (CR and LF included) turned
/// into one space, and the ends trimmed. A title can then never break a
/// header or an XML attribute.
pub fn one_line(s: &str) -> String {
    if is_one_line(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| c.is_whitespace() || !is_xml_char(c)) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Whether [`one_line`] would give `s` back unchanged: no character XML
/// refuses, no whitespace but single spaces between words. Read off the
/// UTF-8 bytes, as [`all_xml_chars`] is: titles, names and tags are read
/// for every article and nearly always pass.
fn is_one_line(s: &str) -> bool {
    /// Bytes that may start a character to look at: controls (tab and line
    /// ends included), space, DEL, and the lead bytes of the non-ASCII
    /// whitespace and refused characters (C2: U+0080..U+00A0; E1: U+1680;
    /// E2: U+2000..U+205F; E3: U+3000; EF: U+FFFE, U+FFFF).
    const SUSPECT: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b <= 0x20 {
            t[b] = true;
            b += 1;
        }
        t[0x7f] = true;
        t[0xc2] = true;
        t[0xe1] = true;
        t[0xe2] = true;
        t[0xe3] = true;
        t[0xef] = true;
        t
    };
    passes(s, &SUSPECT, |b, at| {
        let next = |k: usize| b.get(at + k).copied();
        match b[at] {
            // A space must sit between two other characters.
            b' ' => at == 0 || at + 1 == b.len() || next(1) == Some(b' '),
            0xc2 => matches!(next(1), Some(0x80..=0xa0)),
            0xe1 => next(1) == Some(0x9a) && next(2) == Some(0x80),
            0xe2 => match next(1) {
                Some(0x80) => matches!(next(2), Some(0x80..=0x8a | 0xa8 | 0xa9 | 0xaf)),
                Some(0x81) => next(2) == Some(0x9f),
                _ => false,
            },
            0xe3 => next(1) == Some(0x80) && next(2) == Some(0x80),
            0xef => next(1) == Some(0xbf) && matches!(next(2), Some(0xbe | 0xbf)),
            _ => true,
        }
    })
}

/// Whether `c` is a CJK ideograph, kana, hangul or full-width form: scripts
/// written without spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF      // radicals
        | 0x3000..=0x303F    // CJK punctuation
        | 0x3040..=0x30FF    // kana
        | 0x3100..=0x312F    // bopomofo
        | 0x3190..=0x31FF
        | 0x3400..=0x4DBF    // extension A
        | 0x4E00..=0x9FFF    // unified ideographs
        | 0xAC00..=0xD7AF    // hangul
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0xFE30..=0xFE4F    // compatibility forms
        | 0xFF00..=0xFFEF    // full-width forms
        | 0x20000..=0x3134F) // extensions B..G
}

/// Marks that end a sentence. Full-width ones end a sentence by themselves;
/// ASCII ones only before a space or the end, so "e.g" or "3.5" are not
/// mistaken for an end.
const CJK_SENTENCE_ENDS: &[&str] = &["。", "！", "？", "…", "……"];
const ASCII_SENTENCE_ENDS: &[&str] = &[".", "!", "?"];
/// Closing quotes and brackets that belong to the sentence they close.
const CLOSERS: &[&str] = &["」", "』", "”", "’", "）", ")", "\"", "'", "》", "〉"];

/// Whether `c` is a grapheme cluster by itself next to any other such
/// character: the clusters of a text made only of them are its characters.
/// These are the characters of Chinese and Latin prose whose cluster break
/// property is "Other" (no combining marks, joiners, controls, Hangul
/// jamo or regional indicators); anything else goes to the segmenter.
fn alone(c: char) -> bool {
    matches!(c as u32,
        0x20..=0x7E          // printable ASCII
        | 0xA0..=0xAC        // Latin-1, without the soft hyphen (a control)
        | 0xAE..=0x2FF       // Latin-1 and Latin extended, before the combining marks
        | 0x2010..=0x2027    // dashes, quotes, bullets, ellipsis
        | 0x2030..=0x205E    // per mille, primes, more punctuation
        | 0x3000..=0x3029    // CJK punctuation, before its tone marks
        | 0x3030..=0x303F
        | 0x3041..=0x3096    // hiragana, without the voicing marks
        | 0x309B..=0x30FF    // katakana
        | 0x3400..=0x4DBF    // extension A
        | 0x4E00..=0x9FFF    // unified ideographs
        | 0xFF01..=0xFF60) // full-width forms
}

/// Cuts `text` to at most `limit` grapheme clusters (plus an ellipsis).
///
/// When a sentence ends in the last two thirds of the allowance the cut falls
/// there, keeping a closing quote with its sentence; otherwise the text is
/// cut at the limit and "…" added. A cluster (an emoji ZWJ sequence, a
/// character with combining marks) is never split.
pub fn cut_summary(text: &str, limit: usize) -> String {
    // Only the clusters up to the limit (and one past it, to see what
    // follows a full stop) are looked at: a lead runs to twice the limit.
    let graphemes = clusters(text, limit + 2);
    if graphemes.len() <= limit {
        return text.trim().to_owned();
    }
    let mut best_end: Option<usize> = None;
    let min = limit / 3;
    for i in min..limit {
        let g = graphemes[i].1;
        let next = graphemes.get(i + 1).map(|x| x.1);
        let ends = CJK_SENTENCE_ENDS.contains(&g)
            || (ASCII_SENTENCE_ENDS.contains(&g)
                && next.is_none_or(|n| n.chars().all(char::is_whitespace) || CLOSERS.contains(&n)));
        if ends {
            let mut end = i + 1;
            while end < limit && graphemes.get(end).is_some_and(|x| CLOSERS.contains(&x.1)) {
                end += 1;
            }
            best_end = Some(end);
        }
    }
    match best_end {
        Some(end) => byte_prefix(text, &graphemes, end).trim_end().to_owned(),
        None => {
            let cut = byte_prefix(text, &graphemes, limit)
                .trim_end_matches(|c: char| c.is_whitespace() || "，、；：,;:".contains(c));
            format!("{cut}…")
        }
    }
}

/// The first `n` grapheme clusters of `text`, each with where it starts.
fn clusters(text: &str, n: usize) -> Vec<(usize, &str)> {
    if text.chars().take(n + 1).all(alone) {
        // Each character is a cluster of its own (and so is the one after
        // the last one taken): no need to ask the segmenter, which costs
        // more than the rest of a summary.
        text.char_indices()
            .take(n)
            .map(|(at, c)| (at, &text[at..at + c.len_utf8()]))
            .collect()
    } else {
        text.grapheme_indices(true).take(n).collect()
    }
}

/// The first `n` clusters of `text`.
fn byte_prefix<'a>(text: &'a str, graphemes: &[(usize, &str)], n: usize) -> &'a str {
    match graphemes.get(n) {
        Some(&(offset, _)) => &text[..offset],
        None => text,
    }
}

/// Escapes text for XML or HTML content and attribute values.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The candidate one or two edits from `word` ("did you mean
/// `published`?"), the nearest first and, at a tie, the first in order;
/// never one the edits would rewrite whole (`zz` is not `ai`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2 && *d < c.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `1 draft`, `2 drafts`: English copy counts with the right noun.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_kept_as_it_is_exactly_when_one_line_would_keep_it() {
        let mut edges: Vec<char> = (0..=0x3000u32)
            .chain([0xfeff, 0xfffd, 0xfffe, 0xffff, 0x1f600, 0xff0c])
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace() || !is_xml_char(*c))
            .collect();
        edges.extend([
            'a', '論', '。', '\u{3001}', '\u{2010}', '\u{200d}', '\u{e000}',
        ]);
        for a in &edges {
            for b in &edges {
                for s in [format!("{a}{b}"), format!("x{a}{b}論"), format!("x{a}y{b}")] {
                    let slow = {
                        let words: Vec<&str> = s
                            .split(|c: char| c.is_whitespace() || !is_xml_char(c))
                            .filter(|w| !w.is_empty())
                            .collect();
                        words.join(" ")
                    };
                    assert_eq!(is_one_line(&s), slow == s, "{s:?}");
                    assert_eq!(one_line(&s), slow, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn a_character_taken_as_a_cluster_of_its_own_is_one_beside_any_other() {
        let ranges = [
            0x20..=0x7E,
            0xA0..=0x2FF,
            0x2000..=0x206F,
            0x3000..=0x30FF,
            0x3400..=0x4DBF,
            0x4E00..=0x9FFF,
            0xFF00..=0xFFEF,
        ];
        let all: Vec<char> = ranges
            .into_iter()
            .flatten()
            .filter_map(char::from_u32)
            .collect();
        let alone_ones: Vec<char> = all.iter().copied().filter(|&c| alone(c)).collect();
        // Each kind of neighbour the set holds: ASCII, Latin, CJK, a
        // pictograph (‼), punctuation.
        let neighbours = ['a', 'é', '論', '\u{203c}', '“', '。'];
        for &c in &alone_ones {
            for n in neighbours.into_iter().chain([c]) {
                for s in [format!("{n}{c}"), format!("{c}{n}"), format!("{n}{c}{n}")] {
                    let clusters: Vec<&str> = s.graphemes(true).collect();
                    let chars: Vec<String> = s.chars().map(String::from).collect();
                    assert_eq!(clusters, chars, "U+{:04X} in {s:?}", c as u32);
                }
            }
        }
        // The marks that join the character before them are not taken.
        for joins in [
            '\u{301}', '\u{200d}', '\u{302a}', '\u{3099}', '\u{ff9e}', '\u{ad}',
        ] {
            assert!(!alone(joins), "U+{:04X}", joins as u32);
        }
    }

    #[test]
    fn clusters_are_the_segmenters_whether_or_not_it_is_asked() {
        // Clusters of several characters before, at and after the count.
        let texts = [
            "第一句。第二句，「引文」……還有English words, 3.5%。",
            "家庭👨\u{200d}👩\u{200d}👧很長很長很長。",
            "很長很長很長e\u{301}很長。",
            "很長很長很長很長\u{301}",
            "CR\r\nLF 한국어 ﾊﾟ",
            "",
        ];
        for text in texts {
            for n in 0..=text.chars().count() + 1 {
                let segmenter: Vec<(usize, &str)> = text.grapheme_indices(true).take(n).collect();
                assert_eq!(clusters(text, n), segmenter, "{text:?}, {n} clusters");
            }
        }
    }

    #[test]
    fn the_byte_scan_agrees_with_the_character_test() {
        let edges = [
            '\0',
            '\t',
            '\n',
            '\r',
            '\u{1f}',
            ' ',
            '~',
            '\u{7f}',
            '\u{80}',
            '\u{9f}',
            '\u{a0}',
            '\u{ff}',
            '\u{100}',
            '\u{bf}',
            '\u{fffd}',
            '\u{fffe}',
            '\u{ffff}',
            '\u{fefe}',
            '\u{efbf}',
            '，',
            '\u{ffc0}',
            '\u{ffbf}',
            '\u{feff}',
            '\u{10000}',
            '\u{10ffff}',
            '論',
            '\u{200d}',
            '😀',
        ];
        // The scan goes eight bytes at a time: each pair is put at every
        // place in a word, across two words, and in the bytes after the
        // last whole word.
        for pad in [
            "",
            "x",
            "論",
            "xx",
            "論x",
            "xxx",
            "論論",
            "xxxxxxx",
            "論論論論論",
        ] {
            for a in edges {
                for b in edges {
                    for s in [format!("{pad}{a}{b}論"), format!("{pad}{a}{b}")] {
                        assert_eq!(all_xml_chars(&s), s.chars().all(is_xml_char), "{s:?}");
                        assert_eq!(
                            strip_control_chars(&s),
                            strip_control_chars_owned(s.clone())
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn forbidden_characters_are_removed_and_lines_joined() {
        assert_eq!(strip_control_chars("a\u{0}b\u{1b}c\td"), "abc\td");
        assert_eq!(one_line("  論壇\r\n標題\u{7}\t二 "), "論壇 標題 二");
    }

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(cut_summary("一句話。", 10), "一句話。");
    }

    #[test]
    fn the_cut_falls_at_a_sentence_end_near_the_limit() {
        let text = "香港的創科發展正處於關鍵時刻。「人才從何而來？」這是業界最常問的問題。往後十年的路向如何";
        let cut = cut_summary(text, 30);
        assert_eq!(cut, "香港的創科發展正處於關鍵時刻。「人才從何而來？」");
    }

    #[test]
    fn without_a_sentence_end_the_cut_adds_an_ellipsis() {
        let text = "一二三四五六七八九十一二三四五六七八九十";
        assert_eq!(cut_summary(text, 8), "一二三四五六七八…");
    }

    #[test]
    fn an_emoji_sequence_is_never_split() {
        let family = "👨\u{200d}👩\u{200d}👧";
        let text = format!("一二三{family}四五六");
        let cut = cut_summary(&text, 4);
        assert_eq!(cut, format!("一二三{family}…"));
    }

    #[test]
    fn ascii_periods_inside_numbers_do_not_end_a_sentence() {
        let text = "Growth was 3.5 per cent this year and it will be more next year";
        assert_eq!(cut_summary(text, 20), "Growth was 3.5 per c…");
    }
}
