//! Placeholders: values a shipped example leaves for the operator to fill in, written as a
//! string that starts with [`MARKER`] and says what belongs there, e.g.
//! `host = "FILL IN: the SMTP submission server, e.g. smtp.example.com"`.
//!
//! A file that still holds any is reported by its placeholders alone, one error each with its
//! line and field (`smtp.host: placeholder to fill in: the SMTP submission server, ...`): the
//! other errors such a file would give (a host that is not a host name, a password file that
//! does not exist) are only consequences of the placeholders. The rest of the file is checked
//! once they are filled in.

use super::error::{ConfigError, Source};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// How a placeholder value begins.
pub const MARKER: &str = "FILL IN:";

/// Every placeholder in the file, in file order; none when the file does not parse (the parser's
/// own error is reported instead).
pub(super) fn find(src: &Source) -> Vec<ConfigError> {
    let mut found = Vec::new();
    if let Ok(table) = DeTable::parse(src.text) {
        table_values(table.get_ref(), src, &mut found);
    }
    found.sort_by_key(|e| (e.line, e.column));
    found
}

fn table_values(table: &DeTable, src: &Source, found: &mut Vec<ConfigError>) {
    for value in table.values() {
        value_placeholders(value, src, found);
    }
}

fn value_placeholders(value: &Spanned<DeValue>, src: &Source, found: &mut Vec<ConfigError>) {
    match value.get_ref() {
        DeValue::String(s) => {
            if let Some(what) = s.strip_prefix(MARKER) {
                found.push(src.error_at(
                    Some(value.span()),
                    format!("placeholder to fill in: {}", what.trim()),
                ));
            }
        }
        DeValue::Array(items) => {
            for item in items {
                value_placeholders(item, src, found);
            }
        }
        DeValue::Table(table) => table_values(table, src, found),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn placeholders(text: &str) -> Vec<String> {
        let src = Source {
            path: Path::new("p.toml"),
            text,
        };
        find(&src).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn each_placeholder_is_reported_with_its_line_and_field() {
        let text = "clients = [\"thunderbird\", \"FILL IN: a client profile\"]\n\
                    from = \"canary@example.com\"\n\n\
                    [smtp]\nhost = \"FILL IN: the SMTP server\"\nport = 587\n\n\
                    [imap]\nhost = \"imap.example.com\"\n\
                    password_file = \"FILL IN:  the password's file \"\n";
        assert_eq!(
            placeholders(text),
            [
                "p.toml:1:27: clients: placeholder to fill in: a client profile",
                "p.toml:5:8: smtp.host: placeholder to fill in: the SMTP server",
                "p.toml:10:17: imap.password_file: placeholder to fill in: the password's file",
            ]
        );
    }

    #[test]
    fn a_file_without_placeholders_or_that_does_not_parse_has_none() {
        assert!(placeholders("[smtp]\nhost = \"smtp.example.com\" # FILL IN: no\n").is_empty());
        assert!(placeholders("host = \"FILL IN: x\"\nhost = [").is_empty());
        // The marker must begin the value.
        assert!(placeholders("to = \"x FILL IN: y\"\n").is_empty());
    }
}
