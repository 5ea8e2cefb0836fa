//! Parse → print → parse gives back the same AST, for every example of LANGUAGE.md.

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
    assert!(formatted.contains("# Every example of LANGUAGE.md"));
    assert!(
        formatted.contains("last_lat: float # for §9"),
        "{formatted}"
    );
    let (f2, _) = parse_file(FileId(0), &formatted);
    assert_eq!(format_file(&f2, &formatted), formatted);
}
