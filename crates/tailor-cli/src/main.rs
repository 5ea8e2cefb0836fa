//! The tailor CLI.
fn main() {}
