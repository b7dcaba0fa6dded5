//! The byte positions of each key and value in a plan's YAML text.
//!
//! serde_yaml reports a location for the errors it finds but keeps none for
//! a value it parsed well, so the checks that run after parsing (duplicate
//! names, unknown dependencies, cycles) would have nothing to point at. This
//! is a small line scanner over block-style YAML, the style plans are
//! written in, that maps paths such as `spec.jobs[1].depends_on[0]` to byte
//! spans. It understands block mappings, block sequences and one-line flow
//! sequences (`[a, b]`). A path inside anything else (flow mappings,
//! multi-line scalars) is not recorded, so `nearest` falls back to its
//! closest recorded parent.

use std::collections::HashMap;

use miette::SourceSpan;

/// Byte spans of the keys and inline values of a YAML text, by path.
#[derive(Debug, Default, Clone)]
pub struct Positions {
    keys: HashMap<String, SourceSpan>,
    values: HashMap<String, SourceSpan>,
    /// The first and one-past-last line of each item of a block sequence,
    /// with the column of its dash.
    items: HashMap<String, ItemLines>,
    line_starts: Vec<usize>,
}

/// The lines of one block sequence item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemLines {
    pub first: usize,
    pub end: usize,
    pub dash_column: usize,
}

struct Frame {
    column: usize,
    path: String,
    is_item: bool,
}

impl Positions {
    /// Scans the text once. A text the scanner does not understand leaves
    /// paths unrecorded rather than failing.
    pub fn scan(text: &str) -> Self {
        let mut positions = Positions { line_starts: line_starts(text), ..Default::default() };
        let mut stack: Vec<Frame> = Vec::new();
        let mut counters: HashMap<String, usize> = HashMap::new();
        let mut open_items: Vec<(String, usize)> = Vec::new();
        let lines: Vec<&str> = text.split('\n').collect();

        for (line_number, line) in lines.iter().enumerate() {
            let line = line.trim_end_matches('\r');
            let trimmed = line.trim_start_matches(' ');
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
                continue;
            }
            let start = positions.line_starts[line_number];
            let mut column = line.len() - trimmed.len();

            // A line at or left of an open item's dash ends that item.
            open_items.retain(|(path, dash_column)| {
                if column <= *dash_column {
                    if let Some(item) = positions.items.get_mut(path) {
                        item.end = line_number;
                    }
                    false
                } else {
                    true
                }
            });

            let mut content = trimmed;
            let mut item_path = None;
            if content == "-" || content.starts_with("- ") {
                while stack.last().is_some_and(|top| top.column > column || (top.column == column && top.is_item)) {
                    stack.pop();
                }
                let parent = stack.last().map(|frame| frame.path.clone()).unwrap_or_default();
                let index = counters.entry(parent.clone()).or_insert(0);
                let path = format!("{parent}[{index}]");
                *index += 1;
                positions.keys.insert(path.clone(), SourceSpan::new((start + column).into(), 1));
                positions.items.insert(path.clone(), ItemLines { first: line_number, end: lines.len(), dash_column: column });
                open_items.push((path.clone(), column));
                stack.push(Frame { column, path: path.clone(), is_item: true });
                let rest = content.get(1..).unwrap_or("");
                let skipped = rest.len() - rest.trim_start_matches(' ').len();
                column += 1 + skipped;
                content = rest.trim_start_matches(' ');
                item_path = Some(path);
            }

            match split_key(content) {
                Some((key, value_offset)) => {
                    while stack.last().is_some_and(|top| top.column >= column) {
                        stack.pop();
                    }
                    let parent = stack.last().map(|frame| frame.path.as_str()).unwrap_or("");
                    let path = if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") };
                    positions.keys.insert(path.clone(), SourceSpan::new((start + column).into(), key.len()));
                    let value_column = column + value_offset;
                    positions.record_value(&path, line, start, value_column);
                    stack.push(Frame { column, path, is_item: false });
                }
                None => {
                    if let Some(path) = item_path {
                        positions.record_value(&path, line, start, column);
                    }
                }
            }
        }
        positions
    }

    /// Returns the span of a key, or of an item's dash for a path ending in `[i]`.
    pub fn key(&self, path: &str) -> Option<SourceSpan> {
        self.keys.get(path).copied()
    }

    /// Returns the span of a one-line value.
    pub fn value(&self, path: &str) -> Option<SourceSpan> {
        self.values.get(path).copied()
    }

    /// Returns the value's span when it is on one line, else the key's.
    pub fn value_or_key(&self, path: &str) -> Option<SourceSpan> {
        self.value(path).or_else(|| self.key(path))
    }

    /// Returns the span of `path`, or of its closest recorded parent, so
    /// that a diagnostic inside a flow mapping still lands on its line.
    pub fn nearest(&self, path: &str) -> Option<SourceSpan> {
        let mut current = path;
        loop {
            if let Some(span) = self.value_or_key(current) {
                return Some(span);
            }
            let cut = current.rfind(['.', '['])?;
            current = &current[..cut];
        }
    }

    pub fn item(&self, path: &str) -> Option<ItemLines> {
        self.items.get(path).copied()
    }

    /// Returns the byte offset of a zero-based line and column.
    pub fn offset(&self, line: usize, column: usize) -> usize {
        self.line_starts.get(line).copied().unwrap_or(0) + column
    }

    fn record_value(&mut self, path: &str, line: &str, line_start: usize, column: usize) {
        let value = strip_comment(line.get(column..).unwrap_or("")).trim_end();
        if value.is_empty() {
            return;
        }
        self.values.insert(path.to_string(), SourceSpan::new((line_start + column).into(), value.len()));
        if let Some(inner) = value.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            let mut offset = column + 1;
            for (index, element) in inner.split(',').enumerate() {
                let leading = element.len() - element.trim_start().len();
                let trimmed = element.trim();
                if !trimmed.is_empty() {
                    let span = SourceSpan::new((line_start + offset + leading).into(), trimmed.len());
                    self.values.insert(format!("{path}[{index}]"), span);
                    self.keys.insert(format!("{path}[{index}]"), span);
                }
                offset += element.len() + 1;
            }
        }
    }
}

/// Splits `key: value` into the key and the value's offset from the key's
/// start; `None` for a line that is not a simple mapping key.
fn split_key(content: &str) -> Option<(&str, usize)> {
    let (key, quoted) = match content.as_bytes().first()? {
        b'"' | b'\'' => {
            let quote = content.chars().next()?;
            let close = content[1..].find(quote)? + 1;
            (&content[1..close], close + 1)
        }
        _ => {
            let colon = content.find(':')?;
            (&content[..colon], colon)
        }
    };
    let after = content.get(quoted..)?;
    let rest = after.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) || key.is_empty() || key.contains(' ') && !content.starts_with(['"', '\'']) {
        return None;
    }
    let value_offset = quoted + 1 + (rest.len() - rest.trim_start_matches(' ').len());
    Some((key, value_offset))
}

/// Cuts a trailing ` # comment` outside quotes.
fn strip_comment(value: &str) -> &str {
    if value.starts_with(['"', '\'']) {
        return value;
    }
    match value.find(" #") {
        Some(at) => &value[..at],
        None if value.starts_with('#') => "",
        None => value,
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
apiVersion: docker-cr/v1
spec:
  jobs:
    - name: db   # the database
      action: checkpoint
      depends_on: [cache, web]
    - name: web
      restore:
        new_name: web-2
      depends_on:
        - db
  other: 1
";

    fn text_at(span: SourceSpan) -> &'static str {
        &TEXT[span.offset()..span.offset() + span.len()]
    }

    #[test]
    fn keys_of_nested_items() {
        let positions = Positions::scan(TEXT);
        assert_eq!(text_at(positions.key("spec.jobs[0].action").unwrap()), "action");
        assert_eq!(text_at(positions.key("spec.jobs[1].restore.new_name").unwrap()), "new_name");
        assert_eq!(text_at(positions.key("spec.other").unwrap()), "other");
    }

    #[test]
    fn values_without_comments() {
        let positions = Positions::scan(TEXT);
        assert_eq!(text_at(positions.value("spec.jobs[0].name").unwrap()), "db");
        assert_eq!(text_at(positions.value("spec.jobs[1].restore.new_name").unwrap()), "web-2");
    }

    #[test]
    fn flow_and_block_sequence_elements() {
        let positions = Positions::scan(TEXT);
        assert_eq!(text_at(positions.value("spec.jobs[0].depends_on[1]").unwrap()), "web");
        assert_eq!(text_at(positions.value("spec.jobs[1].depends_on[0]").unwrap()), "db");
    }

    #[test]
    fn item_lines_end_at_the_next_item() {
        let positions = Positions::scan(TEXT);
        assert_eq!(positions.item("spec.jobs[0]"), Some(ItemLines { first: 3, end: 6, dash_column: 4 }));
        assert_eq!(positions.item("spec.jobs[1]"), Some(ItemLines { first: 6, end: 11, dash_column: 4 }));
    }
}
