//! Parse → print → parse gives back the same AST, for the examples of language.md §3–9
//! collected in `spec_examples.rules`.

use tailor_lang::{FileId, format_file, parse_file, print_file};

#[test]
fn spec_examples_parse_and_round_trip() {
    let src = include_str!("spec_examples.rules");
    let (file, diags) = parse_file(FileId(0), src);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(file.items.len(), 18);
    let printed = print_file(&file);
    let (again, diags) = parse_file(FileId(0), &printed);
    assert!(diags.is_empty(), "{diags:?}\n{printed}");
    assert_eq!(file.without_spans(), again.without_spans(), "{printed}");
    // Formatting keeps every comment and is idempotent.
    let formatted = format_file(&file, src);
    assert!(formatted.contains("# Every example of the language contract"));
    assert!(
        formatted.contains("last_lat: float  # for §9"),
        "{formatted}"
    );
    let (f2, _) = parse_file(FileId(0), &formatted);
    assert_eq!(format_file(&f2, &formatted), formatted);
}

/// What `tailor fmt` must keep as the author wrote it (issue 18): a header comment apart
/// from the first item, blank lines between clauses and segments, column-aligned trailing comments (and section quotas), and the
/// parentheses around a compound operand of `not`. The canonical form is a fixed point.
#[test]
fn format_keeps_header_blank_line_aligned_comments_and_not_parentheses() {
    let src = "\
# The header of the file.
# Its second line.

profile {
  name: string                  # how the reader is greeted
  age: int
  family.grandson.city: string  # nested JSON
}

# Sections, with their quotas.

edition e {
  sections {
    headline 1  # the front page
    current  3  # the news
  }
}

segment a = true

segment b = false
segment c = true

rule old_haunts {
  priority 3

  # Picks, then drops.
  pick 3 from current

  drop where block.section == \"society\" and not (block.title in [\"a\"])
}
";
    let (file, diags) = parse_file(FileId(0), src);
    assert!(diags.is_empty(), "{diags:?}");
    let formatted = format_file(&file, src);
    assert_eq!(formatted, src);
    // Parentheses are added where the author left them out, and misaligned comments
    // are aligned.
    let loose = "segment s = not profile.age > 3 # a\nsegment t = not profile.age exists     # b\n";
    let (file, _) = parse_file(FileId(0), loose);
    assert_eq!(
        format_file(&file, loose),
        "segment s = not (profile.age > 3)     # a\nsegment t = not (profile.age exists)  # b\n"
    );
}
