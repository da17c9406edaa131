//! Config errors that name the file, the line, the column and the field.
//!
//! Every error the loader produces is a [`ConfigError`]; the loader collects them all rather than
//! stopping at the first, and `mailcanary check` prints one per line in the form
//! `probes/a.toml:7:8: smtp.port: must be between 1 and 65535, got 70000`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in one file, at one position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the offending key, e.g. `smtp.port`; empty when the whole file is at fault.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// All errors found in a config, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A source file being read, able to turn byte spans into positioned errors.
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    /// An error at `span`, with the field path worked out from the text around it.
    pub fn error_at(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let message = message.into();
        let offset = span.map(|s| s.start).unwrap_or(0).min(self.text.len());
        let (line, column) = line_col(self.text, offset);
        let mut field = field_path(self.text, offset);
        // serde names a missing key in the message; the span is the enclosing table.
        if let Some(key) = backticked_key(&message).filter(|_| message.starts_with("missing field"))
        {
            field = join(&table_path(self.text, offset), key);
        }
        ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            field,
            message,
        }
    }

    /// An error from the TOML parser or the serde layer.
    pub fn parse_error(&self, e: &toml::de::Error) -> ConfigError {
        self.error_at(e.span(), e.message().trim_end().to_string())
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset;
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// The `[table]` header in force at `offset` (empty at the top level).
fn table_path(text: &str, offset: usize) -> String {
    let mut table = String::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if pos > offset {
            break;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            if let Some(close) = header.trim_start_matches('[').find(']') {
                table = header.trim_start_matches('[')[..close].trim().to_string();
            }
        }
        pos += line.len();
    }
    table
}

/// The dotted key path at `offset`: the enclosing `[table]` header plus the key(s) on that line.
fn field_path(text: &str, offset: usize) -> String {
    let mut table = String::new();
    let mut pos = 0;
    let mut line_text = "";
    let mut col = 0;
    for line in text.split_inclusive('\n') {
        let end = pos + line.len();
        let trimmed = line.trim();
        if trimmed.starts_with('[') && pos <= offset {
            let header = trimmed.trim_start_matches('[');
            if let Some(close) = header.find(']') {
                table = header[..close].trim().to_string();
            }
        }
        if offset < end || end == text.len() {
            line_text = line;
            col = offset.saturating_sub(pos).min(line.len());
            break;
        }
        pos = end;
    }
    let mut keys = keys_before(line_text, col);
    if line_text.trim_start().starts_with('[') {
        keys.clear();
    }
    let mut path = table;
    for k in keys {
        path = join(&path, &k);
    }
    path
}

/// Keys assigned on a line before column `col`: `id = { name = "x" }` gives `["id", "name"]`.
fn keys_before(line: &str, col: usize) -> Vec<String> {
    let mut col = col;
    while !line.is_char_boundary(col) {
        col -= 1;
    }
    let head = &line[..col];
    let mut keys = Vec::new();
    let mut in_str = false;
    let mut token_start = 0;
    for (i, c) in head.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '{' | ',' | '[' if !in_str => token_start = i + 1,
            '=' if !in_str => {
                let k = head[token_start..i].trim().trim_matches('"').to_string();
                if !k.is_empty() {
                    keys.push(k);
                }
                token_start = i + 1;
            }
            _ => {}
        }
    }
    // The span may point at a key itself (an unknown field): take the word under it.
    if keys.is_empty() || head.trim_end().ends_with(['{', ',']) || !head.contains('=') {
        let rest = line[col..]
            .split(['=', ' ', '\t'])
            .next()
            .unwrap_or("")
            .trim();
        if !rest.is_empty() && line[col..].contains('=') && !rest.starts_with('"') {
            keys.push(rest.to_string());
        }
    }
    keys
}

fn backticked_key(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else if b.is_empty() {
        a.to_string()
    } else {
        format!("{a}.{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> ConfigError {
        let src = Source {
            path: Path::new("f.toml"),
            text,
        };
        let start = text.find(needle).unwrap();
        src.error_at(Some(start..start + needle.len()), "bad")
    }

    #[test]
    fn positions_and_paths() {
        let text = "name = \"a\"\n[smtp]\nhost = \"h\"\nplain_port = 70000\n";
        let e = at(text, "70000");
        assert_eq!(
            (e.line, e.column, e.field.as_str()),
            (4, 14, "smtp.plain_port")
        );
        assert_eq!(e.to_string(), "f.toml:4:14: smtp.plain_port: bad");
        let e = at(text, "\"a\"");
        assert_eq!((e.line, e.field.as_str()), (1, "name"));
    }

    #[test]
    fn inline_tables_and_key_spans() {
        let text = "[clients.x]\nid = { name = 5 }\nbogus = 1\n";
        assert_eq!(at(text, "5 }").field, "clients.x.id.name");
        assert_eq!(at(text, "bogus").field, "clients.x.bogus");
    }

    #[test]
    fn multibyte_text_does_not_panic() {
        let text = "name = \"é\"\nx = 1\n";
        let src = Source {
            path: Path::new("f.toml"),
            text,
        };
        for i in 0..=text.len() + 3 {
            let _ = src.error_at(Some(i..i + 1), "m");
        }
    }
}
