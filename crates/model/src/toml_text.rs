//! TOML text into serde types, with errors an operator can act on: the key (`zone[1].limit_c`,
//! `beacon.k_hz`) and the line and column. Shared by every file hearth reads as TOML (agent and
//! controller configs, thermal scenarios, fleet files); the caller reads the file and wraps
//! [`TomlError`] with its name. No I/O: the text is given.

use serde::de::DeserializeOwned;

/// Why the text did not deserialize, naming where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TomlError {
    /// 1-based line and column, when the error has a position (a missing key has none: serde
    /// reports it at its whole table).
    pub location: Option<(usize, usize)>,
    /// The key involved, when there is one: for a missing key, the key itself.
    pub key: Option<String>,
    /// What is wrong, on one line (`missing; it is required` for a missing key).
    pub message: String,
}

impl std::fmt::Display for TomlError {
    /// `line 3, column 5: key `heat.headroom`: invalid type …`, leaving out what is unknown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((line, column)) = self.location {
            write!(f, "line {line}, column {column}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for TomlError {}

/// Deserializes `text` into `T`. A missing required key is reported as that key, `missing; it
/// is required`, with no position; every other error with the key at which it occurred and the
/// position of its span. Multi-line parser messages are joined with `: `.
pub fn from_toml<T: DeserializeOwned>(text: &str) -> Result<T, TomlError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let at = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.message().trim().replace('\n', ": ");
        // serde_path_to_error writes the document root as "." (or "?" when it lost track).
        let parent = if at == "." || at == "?" { None } else { Some(at) };
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name)
        {
            let key = match parent {
                Some(parent) => format!("{parent}.{name}"),
                None => name.to_string(),
            };
            return TomlError {
                location: None,
                key: Some(key),
                message: "missing; it is required".to_string(),
            };
        }
        TomlError {
            location: inner.span().map(|span| line_column(text, span.start)),
            key: parent,
            message,
        }
    })
}

/// 1-based line and column (in characters) of byte `offset` in `text`; an offset inside a
/// character or past the end counts from the character boundary before it.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |idx| idx + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // fields are read by the deserializer only
    struct Doc {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        k: u32,
    }

    #[test]
    fn line_column_counts_characters_from_one() {
        let text = "ab\ncé d\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 7), (2, 4), "é is two bytes but one column");
        assert_eq!(line_column(text, 5), (2, 2), "inside é: the boundary before it");
        assert_eq!(line_column(text, 99), (3, 1), "past the end: the end");
    }

    #[test]
    fn errors_name_the_key_and_where() {
        let err = from_toml::<Doc>("name = \"a\"\n[inner]\nk = \"x\"\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("inner.k"));
        assert_eq!(err.location, Some((3, 5)));
        assert!(err.message.starts_with("invalid type: string \"x\""), "{err:?}");

        let err = from_toml::<Doc>("name = \"a\"\n[inner]\n").unwrap_err();
        assert_eq!(
            err,
            TomlError {
                location: None,
                key: Some("inner.k".into()),
                message: "missing; it is required".into()
            }
        );

        let err = from_toml::<Doc>("nam = 1\n").unwrap_err();
        assert_eq!((err.key, err.location), (Some("nam".into()), Some((1, 1))), "{}", err.message);
    }
}
