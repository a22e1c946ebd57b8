//! Plain aligned tables for the terminal. Every cell is shown escaped (see
//! [`crate::terminal`]): a control character in a cell cannot break the
//! table; callers cut the cells that hold others' text.

use std::io::Write;

use anyhow::Result;

use crate::terminal::{escape, width};

/// Columns padded to their widest cell, two spaces apart.
pub fn write_rows(out: &mut impl Write, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    let widths = column_widths(header, rows);
    write_row(out, header, &widths)?;
    for row in rows {
        write_row(out, row, &widths)?;
    }
    Ok(())
}

/// Each column's width in display columns.
pub fn column_widths(header: &[String], rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = header.iter().map(|h| width(&escape(h))).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(&escape(cell)));
        }
    }
    widths
}

pub fn write_row(out: &mut impl Write, row: &[String], widths: &[usize]) -> Result<()> {
    let cells: Vec<String> = row
        .iter()
        .zip(widths)
        .map(|(c, &w)| {
            let c = escape(c);
            let pad = w.saturating_sub(width(&c));
            format!("{c}{}", " ".repeat(pad))
        })
        .collect();
    writeln!(out, "{}", cells.join("  ").trim_end())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_escaped_and_aligned_by_display_columns() {
        let header = vec!["name".to_owned(), "n".to_owned()];
        let rows = vec![
            vec!["日本".to_owned(), "1".to_owned()],
            vec!["a\r\nb\x1b[2J".to_owned(), "2".to_owned()],
        ];
        let mut out = Vec::new();
        write_rows(&mut out, &header, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name           n\n日本           1\na\\r\\nb\\x1b[2J  2\n"
        );
    }
}
