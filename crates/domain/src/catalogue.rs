//! The message catalogue: every text a person reads, in Chinese (zh-CN, first) and English, from
//! the flat files `crates/domain/messages/*.json` (`{"key": {"zh-CN": "...", "en": "..."}}`),
//! embedded at build time. `server.json` holds what the server names (quarantine reasons as
//! `reason.<code>`, ...).

use std::collections::HashMap;
use std::sync::LazyLock;

/// The languages every text has, Chinese first.
pub const LANGUAGES: [&str; 2] = ["zh-CN", "en"];

/// Every catalogue file: (file name, its text).
const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/messages.rs"));

type Texts = HashMap<String, HashMap<String, String>>;

static CATALOGUE: LazyLock<Texts> = LazyLock::new(|| match load(FILES) {
    Ok(texts) => texts,
    // The files are embedded: a broken one is a build defect the unit tests catch.
    Err(e) => panic!("the message catalogue: {e}"),
});

fn load(files: &[(&str, &str)]) -> Result<Texts, String> {
    let mut all = Texts::new();
    for (name, text) in files {
        let texts: Texts = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        for (key, by_lang) in texts {
            if all.insert(key.clone(), by_lang).is_some() {
                return Err(format!("{name}: `{key}` is also in another file"));
            }
        }
    }
    Ok(all)
}

/// The text `key` names in `lang` (`zh-CN` or `en`), or `None` when the catalogue has none.
pub fn message(key: &str, lang: &str) -> Option<&'static str> {
    CATALOGUE.get(key)?.get(lang).map(String::as_str)
}

/// Every key the catalogue holds.
pub fn keys() -> impl Iterator<Item = &'static str> {
    CATALOGUE.keys().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QuarantineReason;

    #[test]
    fn every_quarantine_reason_has_a_name_in_both_languages() {
        for reason in QuarantineReason::ALL {
            let key = format!("reason.{reason}");
            for lang in LANGUAGES {
                let text = message(&key, lang).unwrap_or_else(|| panic!("{key} in {lang}"));
                assert!(!text.trim().is_empty(), "{key} in {lang} is empty");
            }
            let zh = message(&key, "zh-CN").unwrap();
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{key} in zh-CN is not Chinese: {zh}"
            );
        }
    }

    #[test]
    fn every_text_of_every_file_is_in_both_languages_and_no_key_is_defined_twice() {
        let texts = load(FILES).unwrap();
        for (key, by_lang) in &texts {
            for lang in LANGUAGES {
                assert!(by_lang.contains_key(lang), "{key} has no {lang} text");
            }
        }
        assert!(
            load(&[
                ("a.json", r#"{"k": {"en": "x"}}"#),
                ("b.json", r#"{"k": {"en": "y"}}"#)
            ])
            .is_err()
        );
    }
}
