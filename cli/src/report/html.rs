//! The report page: one HTML file with its data, style and script inlined,
//! so it opens from disk on a machine with no network.

use anyhow::Result;

use super::data::ReportData;

const STYLE: &str = include_str!("assets/report.css");
const SCRIPT: &str = include_str!("assets/report.js");

pub fn render(data: &ReportData) -> Result<String> {
    let json = script_safe(&serde_json::to_string(data)?);
    let title = escape(&format!("{}: sweep report", data.sweep.name));
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"generator\" content=\"sweepctl report {version}\">\n\
         <title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <noscript>This report draws its plots with JavaScript; the data is in the \
         script element with id \"sweep-data\".</noscript>\n\
         <main id=\"report\"></main>\n\
         <script type=\"application/json\" id=\"sweep-data\">{json}</script>\n\
         <script>\n{SCRIPT}</script>\n</body>\n</html>\n",
        version = env!("CARGO_PKG_VERSION"),
    ))
}

/// JSON that cannot end its `<script>` element early or open a comment.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_break_out_of_its_script() {
        let evil = r#"{"name":"</script><script>alert(1)</script><!--"}"#;
        let safe = script_safe(evil);
        assert!(!safe.contains('<') && !safe.contains('>'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(
            back["name"], "</script><script>alert(1)</script><!--",
            "the text itself is kept"
        );
    }
}
