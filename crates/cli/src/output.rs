//! Output for people (aligned tables) and for scripts (`-o json`).

use serde_json::Value;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// Something printable both ways: the JSON value and the table columns.
#[derive(Debug)]
pub struct Listing {
    pub json: Value,
    pub headers: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

impl Listing {
    /// For a command about one thing (created, changed, fetched): that thing's object rather
    /// than a list of one, so a script reads `.id` at once. Listing commands keep their
    /// array, even of one item, so a script never has to tell the two shapes apart.
    #[must_use]
    pub fn one(mut self) -> Self {
        if let Value::Array(items) = &mut self.json
            && items.len() == 1
        {
            self.json = items.remove(0);
        }
        self
    }

    pub fn print(&self, format: Format) {
        match format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&self.json).unwrap_or_default()
            ),
            Format::Table => print!("{}", table(self.headers, &self.rows)),
        }
    }
}

/// Left-aligned columns separated by three spaces, kubectl style.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// RFC 3339 in UTC, or empty.
pub fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    keyroute_proto::rfc3339(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let rendered = table(
            &["ID", "NAME"],
            &[
                vec!["a".into(), "first".into()],
                vec!["long-id".into(), "x".into()],
            ],
        );
        assert_eq!(rendered, "ID        NAME\na         first\nlong-id   x\n");
    }

    #[test]
    fn times_are_rfc3339() {
        let ts = prost_types::Timestamp {
            seconds: 1_764_000_000,
            nanos: 0,
        };
        assert_eq!(time(Some(&ts)), "2025-11-24T16:00:00Z");
        assert_eq!(
            time(Some(&prost_types::Timestamp::default())),
            "1970-01-01T00:00:00Z"
        );
    }
}
