//! A line diff for tests that compare texts: `-` expected, `+` actual.

/// A line diff: `-` expected, `+` actual.
#[expect(
    clippy::indexing_slicing,
    reason = "every index is below the length it is checked against, and the table has a row and a column more than the texts have lines"
)]
pub fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    // Longest common subsequence, fine for outcome-sized texts.
    let mut lcs = vec![vec![0usize; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            out.push_str(&format!("  {}\n", e[i]));
            i += 1;
            j += 1;
        } else if j < a.len() && (i == e.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", a[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", e[i]));
            i += 1;
        }
    }
    out
}
