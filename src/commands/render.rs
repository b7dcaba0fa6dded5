//! Text rendering shared by the views of `inspect` and `list`: aligned
//! tables and trees that fit the terminal's width.

/// Returns the terminal's width in columns, or `None` when stdout is not a
/// terminal, so that piped output is never cut.
pub fn terminal_width() -> Option<usize> {
    let (terminal_size::Width(width), _) = terminal_size::terminal_size()?;
    Some(usize::from(width))
}

/// Cuts `text` to `width` characters, marking the cut with an ellipsis.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// Lays out rows under headers with columns aligned. The last column is
/// cut to fit `width`, when there is one.
pub fn table(headers: &[&str], rows: &[Vec<String>], width: Option<usize>, indent: usize) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|header| header.chars().count()).collect();
    for row in rows {
        for (column, cell) in row.iter().enumerate().take(columns) {
            widths[column] = widths[column].max(cell.chars().count());
        }
    }

    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|header| header.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = " ".repeat(indent);
        for (column, cell) in row.iter().enumerate().take(columns) {
            if column + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[column]));
            }
        }
        let line = line.trim_end();
        match width {
            Some(width) => out.push_str(&fit(line, width)),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// A node of a tree to draw: its label and its children.
pub struct TreeNode {
    pub label: String,
    pub children: Vec<TreeNode>,
}

/// Draws a tree with box-drawing branches, one node a line, each line cut
/// to `width` when there is one.
pub fn tree(roots: &[TreeNode], width: Option<usize>) -> String {
    let mut out = String::new();
    for (index, root) in roots.iter().enumerate() {
        draw(root, "", index + 1 == roots.len(), width, &mut out);
    }
    out
}

fn draw(node: &TreeNode, prefix: &str, last: bool, width: Option<usize>, out: &mut String) {
    let branch = if last { "└─ " } else { "├─ " };
    let line = format!("{prefix}{branch}{}", node.label);
    match width {
        Some(width) => out.push_str(&fit(&line, width)),
        None => out.push_str(&line),
    }
    out.push('\n');
    let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
    for (index, child) in node.children.iter().enumerate() {
        draw(child, &child_prefix, index + 1 == node.children.len(), width, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![vec!["1".to_string(), "sh".to_string()], vec!["14".to_string(), "sleep".to_string()]];
        assert_eq!(table(&["PID", "COMMAND"], &rows, None, 0), "PID  COMMAND\n1    sh\n14   sleep\n");
    }

    #[test]
    fn long_lines_are_cut_to_width() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }

    #[test]
    fn tree_draws_nested_branches() {
        let leaf = |label: &str| TreeNode { label: label.to_string(), children: vec![] };
        let root = TreeNode { label: "1 sh".into(), children: vec![leaf("9 nc"), leaf("11 httpd")] };
        assert_eq!(tree(&[root], None), "└─ 1 sh\n   ├─ 9 nc\n   └─ 11 httpd\n");
    }
}
