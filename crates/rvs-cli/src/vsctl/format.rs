//! How `list` and `find` print rows: `ovs-vsctl`'s table options
//! (`--format=list|table|csv|json|html`, `--data=string|bare|json`,
//! `--no-headings`, `--bare`, and the per-command `--columns=`), byte for
//! byte as OVS's `lib/table.c` prints them.

use super::value::{Atom, Datum};
use super::{cmd_err, Ctx, VsctlError};
use serde_json::{json, Value};

/// The layout of a table of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Format {
    /// `column : value` lines, records separated by blank lines (the
    /// default for `list` and `find`).
    #[default]
    List,
    /// Aligned columns under headings and dashes.
    Table,
    /// Comma-separated values, quoted where needed.
    Csv,
    /// `{"data":[[...]],"headings":[...]}`.
    Json,
    /// An HTML `<table>`.
    Html,
}

/// How each cell's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Data {
    /// `ovs-vsctl`'s value syntax (`[1, 2]`, `{a=b}`, quoted strings).
    #[default]
    String,
    /// The atoms only, space-separated, nothing quoted.
    Bare,
    /// RFC 7047 JSON.
    Json,
}

/// The table options of an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Style {
    pub(crate) format: Format,
    pub(crate) data: Data,
    pub(crate) headings: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style { format: Format::List, data: Data::String, headings: true }
    }
}

impl Style {
    /// Applies `--format=VALUE`.
    pub(crate) fn set_format(&mut self, v: &str) -> Result<(), VsctlError> {
        self.format = match v {
            "list" => Format::List,
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "html" => Format::Html,
            _ => return Err(cmd_err(format!("unknown output format \"{v}\""))),
        };
        Ok(())
    }

    /// Applies `--data=VALUE`.
    pub(crate) fn set_data(&mut self, v: &str) -> Result<(), VsctlError> {
        self.data = match v {
            "string" => Data::String,
            "bare" => Data::Bare,
            "json" => Data::Json,
            _ => return Err(cmd_err(format!("unknown data format \"{v}\""))),
        };
        Ok(())
    }

    /// `--bare`: `--format=list --data=bare --no-headings`.
    pub(crate) fn set_bare(&mut self) {
        *self = Style { format: Format::List, data: Data::Bare, headings: false };
    }
}

/// One cell: the value as `ovs-vsctl` text, bare text and JSON.
struct Cell {
    datum: Datum,
    ty: Option<rvs_ovsdb::Type>,
    uuid: Option<String>,
}

fn bare_atom(a: &Atom) -> String {
    match a {
        Atom::Str(s) | Atom::Uuid(s) => s.clone(),
        other => other.to_text(),
    }
}

impl Cell {
    fn text(&self, data: Data, is_new: &dyn Fn(&str) -> bool) -> String {
        if let Some(u) = &self.uuid {
            return match data {
                Data::Json => self.json(is_new).to_string(),
                _ if is_new(u) => format!("<{u}>"),
                _ => u.clone(),
            };
        }
        let Some(ty) = &self.ty else { return String::new() };
        match data {
            Data::String => self.datum.to_text(ty),
            Data::Json => self.json(is_new).to_string(),
            Data::Bare => self
                .datum
                .0
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{}={}", bare_atom(k), bare_atom(v)),
                    None => bare_atom(k),
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    fn json(&self, is_new: &dyn Fn(&str) -> bool) -> Value {
        if let Some(u) = &self.uuid {
            return json!(["uuid", u]);
        }
        match &self.ty {
            Some(ty) => self.datum.to_json(ty, is_new),
            None => json!(["set", []]),
        }
    }
}

/// OVS's `csv` quoting: only a cell with a newline, a quote or a comma is
/// quoted, quotes doubled.
fn csv_cell(s: &str) -> String {
    if s.contains(['\n', '"', ',']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A cell for HTML: escaped, and each UUID made a link to its row,
/// shown by its first 8 digits, as OVS does.
fn html_cell(s: &str) -> String {
    let esc = html_escape(s);
    let mut out = String::new();
    let mut rest = esc.as_str();
    while let Some((i, u)) = find_uuid(rest) {
        out.push_str(&rest[..i]);
        out.push_str(&format!("<a href=\"#{u}\">{}</a>", &u[..8]));
        rest = &rest[i + 36..];
    }
    out.push_str(rest);
    out
}

fn find_uuid(s: &str) -> Option<(usize, &str)> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(35)).find_map(|i| {
        let cand = s.get(i..i + 36)?;
        super::value::is_uuid(cand).then_some((i, cand))
    })
}

impl Ctx {
    /// The columns `--columns=SPEC` names in `table` (`_uuid` included), or
    /// every column (`_uuid` first, then by name) without it.
    pub(crate) fn columns_of(
        &self,
        table: &str,
        spec: Option<&str>,
    ) -> Result<Vec<String>, VsctlError> {
        match spec {
            Some(spec) => spec
                .split(',')
                .filter(|c| !c.is_empty())
                .map(|c| self.column_name(table, c))
                .collect(),
            None => {
                let Some(ts) = self.schema.table(table) else { return Ok(Vec::new()) };
                let mut cols: Vec<String> =
                    ts.user_columns().map(|c| c.name().to_string()).collect();
                cols.sort();
                cols.insert(0, "_uuid".to_string());
                Ok(cols)
            }
        }
    }

    /// Prints rows `uuids` of `table` in the invocation's style.
    pub(crate) fn print_rows(&mut self, table: &str, uuids: &[String], columns: &[String]) {
        let style = self.style;
        let new_rows = self.new_rows.clone();
        let is_new = move |u: &str| new_rows.contains_key(u);
        let rows: Vec<Vec<Cell>> = uuids
            .iter()
            .map(|u| {
                columns
                    .iter()
                    .map(|c| {
                        if c == "_uuid" {
                            Cell { datum: Datum::default(), ty: None, uuid: Some(u.clone()) }
                        } else {
                            Cell {
                                datum: self.read(table, u, c),
                                ty: self.col_type(table, c),
                                uuid: None,
                            }
                        }
                    })
                    .collect()
            })
            .collect();
        let mut s = String::new();
        match style.format {
            Format::List => {
                for (i, row) in rows.iter().enumerate() {
                    if i > 0 {
                        s.push('\n');
                    }
                    for (c, cell) in columns.iter().zip(row) {
                        let text = cell.text(style.data, &is_new);
                        if style.headings {
                            s.push_str(&format!("{c:<20}: {text}\n"));
                        } else {
                            s.push_str(&format!("{text}\n"));
                        }
                    }
                }
            }
            Format::Table => {
                let texts: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| r.iter().map(|c| c.text(style.data, &is_new)).collect())
                    .collect();
                let mut widths: Vec<usize> = columns
                    .iter()
                    .map(|c| if style.headings { c.chars().count() } else { 0 })
                    .collect();
                for r in &texts {
                    for (w, t) in widths.iter_mut().zip(r) {
                        *w = (*w).max(t.chars().count());
                    }
                }
                let line = |cells: &mut dyn Iterator<Item = String>| -> String {
                    let l: Vec<String> =
                        cells.zip(&widths).map(|(t, w)| format!("{t:<w$}", w = *w)).collect();
                    format!("{}\n", l.join(" ").trim_end_matches(' '))
                };
                if style.headings {
                    s.push_str(&line(&mut columns.iter().cloned()));
                    s.push_str(&line(&mut widths.iter().map(|w| "-".repeat(*w))));
                }
                for r in texts {
                    s.push_str(&line(&mut r.into_iter()));
                }
            }
            Format::Csv => {
                if style.headings {
                    let h: Vec<String> = columns.iter().map(|c| csv_cell(c)).collect();
                    s.push_str(&format!("{}\n", h.join(",")));
                }
                for r in &rows {
                    let l: Vec<String> =
                        r.iter().map(|c| csv_cell(&c.text(style.data, &is_new))).collect();
                    s.push_str(&format!("{}\n", l.join(",")));
                }
            }
            Format::Json => {
                let data: Vec<Value> = rows
                    .iter()
                    .map(|r| Value::Array(r.iter().map(|c| c.json(&is_new)).collect()))
                    .collect();
                s.push_str(&format!("{}\n", json!({"data": data, "headings": columns})));
            }
            Format::Html => {
                s.push_str("<table border=1>\n");
                if style.headings {
                    s.push_str("  <tr>\n");
                    for c in columns {
                        s.push_str(&format!("    <th>{}</th>\n", html_escape(c)));
                    }
                    s.push_str("  </tr>\n");
                }
                for r in &rows {
                    s.push_str("  <tr>\n");
                    for c in r {
                        let text = c.text(style.data, &is_new);
                        let cell = match &c.uuid {
                            // A row's own UUID is the anchor the links point to.
                            // (OVS shows the first 8 characters of the text,
                            // whatever the data format.)
                            Some(_) => {
                                let short: String = text.chars().take(8).collect();
                                format!(
                                    "<a name=\"{}\">{}</a>",
                                    html_escape(&text),
                                    html_escape(&short)
                                )
                            }
                            _ => html_cell(&text),
                        };
                        s.push_str(&format!("    <td>{cell}</td>\n"));
                    }
                    s.push_str("  </tr>\n");
                }
                s.push_str("</table>\n");
            }
        }
        self.out.push_str(&s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_like_ovs() {
        assert_eq!(csv_cell("{a=b}"), "{a=b}");
        assert_eq!(csv_cell("{x=\"y z\"}"), "\"{x=\"\"y z\"\"}\"");
        assert_eq!(csv_cell("[a, b]"), "\"[a, b]\"");
    }

    #[test]
    fn html_links_uuids() {
        assert_eq!(
            html_cell("[0aa7e333-d1d8-410d-8459-fe446922b1a2]"),
            "[<a href=\"#0aa7e333-d1d8-410d-8459-fe446922b1a2\">0aa7e333</a>]"
        );
    }
}
