//! Fuzz target: the rules parser never panics on arbitrary UTF-8, its diagnostics point
//! inside the text and render, and a file that parses without errors prints and parses
//! back to the same AST.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tailor_lang::{FileId, SourceMap, parse_file, print_file};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let (file, diags) = parse_file(FileId(0), src);
    for d in diags.iter() {
        let label = d.primary.as_ref().expect("every diagnostic has a primary span");
        assert!(
            src.get(label.span.range()).is_some(),
            "{d:?} is not a range of the text"
        );
    }
    let mut sources = SourceMap::new();
    sources.add("fuzz.rules", src);
    let _ = diags.render(&sources, false);
    if diags.has_errors() {
        return;
    }
    let printed = print_file(&file);
    let (again, diags) = parse_file(FileId(0), &printed);
    assert!(!diags.has_errors(), "{diags}\n{printed}");
    assert_eq!(again.without_spans(), file.without_spans(), "{printed}");
});
