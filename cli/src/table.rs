//! Plain aligned tables for the terminal.

use std::io::Write;

use anyhow::Result;

/// Columns padded to their widest cell, two spaces apart.
pub fn write_rows(out: &mut impl Write, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    let widths = column_widths(header, rows);
    write_row(out, header, &widths)?;
    for row in rows {
        write_row(out, row, &widths)?;
    }
    Ok(())
}

pub fn column_widths(header: &[String], rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widths
}

pub fn write_row(out: &mut impl Write, row: &[String], widths: &[usize]) -> Result<()> {
    let cells: Vec<String> = row
        .iter()
        .zip(widths)
        .map(|(c, &w)| format!("{c:<w$}"))
        .collect();
    writeln!(out, "{}", cells.join("  ").trim_end())?;
    Ok(())
}
