//! A value that must not reach a log line or an error message: a password, a key, a token.

use std::fmt;

/// A secret: `Debug` and `Display` show `***`, so a configuration or an error that holds one
/// can be logged whole. [`Secret::expose`] is the one way to read it. Serde reads and writes the
/// value itself (configuration files and their defaults need it).
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The value itself, for where it is used (never for a message).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_but_reads_back_from_configuration() {
        #[derive(Debug, serde::Deserialize)]
        struct Provider {
            #[allow(dead_code)]
            key: Secret,
        }
        let p: Provider =
            figment::Figment::from(figment::providers::Serialized::default("key", "s3cret"))
                .extract()
                .unwrap();
        assert_eq!(p.key.expose(), "s3cret");
        assert_eq!(format!("{p:?}"), "Provider { key: *** }");
        assert_eq!(p.key.to_string(), "***");
    }
}
