//! A compiled package: the immutable, shareable result of loading a directory of
//! `.rules` files. Loading reads files; evaluating never does.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tailor_lang::{Diagnostic, Diagnostics, SourceMap, ast};

use crate::check::{Compiled, compile};
use crate::data::{Block, Catalog, Profile, RecordKind, parse_records};
use crate::script::{NoScripts, ScriptHost};

/// A loaded, checked and compiled package. Immutable, `Send + Sync`, cheap to share
/// through `Arc`.
#[derive(Debug, Clone)]
pub struct Package {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: Option<PathBuf>,
    sources: SourceMap,
    files: Vec<ast::File>,
    compiled: Compiled,
    warnings: Diagnostics,
    host: Arc<dyn ScriptHost>,
}

/// A package (or data) that was rejected: every diagnostic, with the sources needed to
/// render them.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
}

impl Rejected {
    /// Render every diagnostic; `color` adds ANSI colours.
    pub fn render(&self, color: bool) -> String {
        self.diagnostics.render(&self.sources, color)
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Rejected {}

/// How a host loads a package. Script limits are the host's to set, not the package's:
/// they protect the host, so a package cannot raise them. A host that trusts one package
/// more than another loads each with its own options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The limits every script call of the package runs under.
    pub script_limits: crate::rhai_host::Limits,
}

/// Counts for `tailor check`'s summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub rules: usize,
    pub segments: usize,
    pub scripts: usize,
    pub sections: usize,
    pub learns: usize,
}

/// Every `*.rules` file below `dir`, sorted by path.
pub fn rules_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rules") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

impl Package {
    /// Load every `*.rules` file below `dir` (recursively), check and compile them, with
    /// the default [`LoadOptions`].
    pub fn load(dir: impl AsRef<Path>) -> Result<Package, Rejected> {
        Package::load_with(dir, LoadOptions::default())
    }

    /// [`Package::load`] with options chosen by the host (e.g. its own script limits).
    pub fn load_with(dir: impl AsRef<Path>, options: LoadOptions) -> Result<Package, Rejected> {
        let dir = dir.as_ref();
        let io_error = |what: String| Rejected {
            sources: SourceMap::new(),
            diagnostics: Diagnostic::error("tailor::io", what)
                .help("a package is a directory holding `.rules` files (in subdirectories too)")
                .into(),
        };
        let paths = rules_files(dir)
            .map_err(|e| io_error(format!("cannot read package `{}`: {e}", dir.display())))?;
        if paths.is_empty() {
            return Err(io_error(format!(
                "no `.rules` files in `{}`",
                dir.display()
            )));
        }
        let mut files = Vec::new();
        for p in &paths {
            let text = std::fs::read_to_string(p)
                .map_err(|e| io_error(format!("cannot read `{}`: {e}", p.display())))?;
            let name = p
                .strip_prefix(dir)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned();
            files.push((name, text));
        }
        let mut pkg = Package::from_sources_at(files, Some(dir.to_path_buf()))?;
        // Scripts are read, compiled and checked by the script host, once (language.md §8).
        if !pkg.inner.compiled.scripts.is_empty() {
            let host = crate::rhai_host::RhaiHost::load(
                dir,
                &pkg.inner.compiled,
                &pkg.inner.sources,
                options.script_limits,
            )?;
            pkg = pkg.with_script_host(Arc::new(host));
        }
        Ok(pkg)
    }

    /// Check and compile sources given as (name, text) pairs. Scripts are not loaded.
    pub fn from_sources(files: Vec<(String, String)>) -> Result<Package, Rejected> {
        Package::from_sources_at(files, None)
    }

    fn from_sources_at(
        files: Vec<(String, String)>,
        root: Option<PathBuf>,
    ) -> Result<Package, Rejected> {
        let mut sources = SourceMap::new();
        let mut parsed = Vec::new();
        let mut diags = Diagnostics::new();
        for (name, text) in files {
            let id = sources.add(name, text.as_str());
            let (file, d) = tailor_lang::parse_file(id, &text);
            diags.extend(d);
            parsed.push(file);
        }
        let (compiled, d) = compile(&parsed);
        diags.extend(d);
        diags.sort();
        match compiled {
            Some(compiled) if !diags.has_errors() => Ok(Package {
                inner: Arc::new(Inner {
                    root,
                    sources,
                    files: parsed,
                    compiled,
                    warnings: diags,
                    host: Arc::new(NoScripts),
                }),
            }),
            _ => Err(Rejected {
                sources,
                diagnostics: diags,
            }),
        }
    }

    /// The same package calling scripts through `host`.
    pub fn with_script_host(self, host: Arc<dyn ScriptHost>) -> Package {
        let inner = Inner {
            root: self.inner.root.clone(),
            sources: self.inner.sources.clone(),
            files: self.inner.files.clone(),
            compiled: self.inner.compiled.clone(),
            warnings: self.inner.warnings.clone(),
            host,
        };
        Package {
            inner: Arc::new(inner),
        }
    }

    pub fn compiled(&self) -> &Compiled {
        &self.inner.compiled
    }

    pub fn sources(&self) -> &SourceMap {
        &self.inner.sources
    }

    /// The parsed files, in path order.
    pub fn files(&self) -> &[ast::File] {
        &self.inner.files
    }

    pub fn root(&self) -> Option<&Path> {
        self.inner.root.as_deref()
    }

    pub fn warnings(&self) -> &Diagnostics {
        &self.inner.warnings
    }

    pub(crate) fn script_host(&self) -> &dyn ScriptHost {
        &*self.inner.host
    }

    pub fn summary(&self) -> Summary {
        let c = &self.inner.compiled;
        Summary {
            files: self.inner.files.len(),
            rules: c.rules.len(),
            segments: c.segments.len(),
            scripts: c.scripts.len(),
            sections: c.edition.sections.len(),
            learns: c.learns.len(),
        }
    }

    /// Parse profiles (JSON lines) against the profile schema. `sources` receives the
    /// file so that diagnostics can show its lines.
    pub fn parse_profiles(
        &self,
        sources: &mut SourceMap,
        name: &str,
        text: &str,
    ) -> Result<Vec<Profile>, Diagnostics> {
        let records = parse_records(
            sources,
            name,
            text,
            &self.inner.compiled.profile,
            RecordKind::Profile,
        )?;
        Ok(records
            .into_iter()
            .map(|(values, raw)| Profile {
                values: values.into(),
                raw: raw.into(),
            })
            .collect())
    }

    /// Parse one profile from a JSON object. The error says what is wrong as data: a
    /// missing `id`, or each declared field whose value does not fit, with its name, the
    /// declared type and what was found ([`crate::data::FieldMismatch`]).
    pub fn profile_from_json(
        &self,
        obj: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Profile, crate::data::ProfileError> {
        use crate::data::{FieldMismatch, ProfileError};
        if !matches!(obj.get("id"), Some(serde_json::Value::String(_))) {
            return Err(ProfileError::MissingId);
        }
        match crate::data::record_values(&self.inner.compiled.profile, &obj) {
            Ok(values) => Ok(Profile {
                values: values.into(),
                raw: obj.into(),
            }),
            Err(errors) => Err(ProfileError::Fields(
                errors
                    .into_iter()
                    .map(|(field, expected, found)| FieldMismatch {
                        field,
                        expected,
                        found,
                    })
                    .collect(),
            )),
        }
    }

    /// Warnings about a profiles file (JSON lines): the fields that `profile { … }` does
    /// not declare (kept, but no rule can read them), with the nearest declared name.
    /// `sources` receives the file. Records that do not load are left to
    /// [`Package::parse_profiles`].
    pub fn profile_warnings(&self, sources: &mut SourceMap, name: &str, text: &str) -> Diagnostics {
        let file = sources.add(name, text);
        crate::data::record_warnings(
            file,
            name,
            text,
            &self.inner.compiled.profile,
            RecordKind::Profile,
            &[],
        )
    }

    /// Warnings about a catalog (JSON lines): undeclared fields, as for profiles, and
    /// blocks in sections the edition does not have (never picked).
    pub fn catalog_warnings(&self, sources: &mut SourceMap, name: &str, text: &str) -> Diagnostics {
        let file = sources.add(name, text);
        let sections: Vec<&str> = self
            .inner
            .compiled
            .edition
            .sections
            .iter()
            .map(|(s, _)| s.as_str())
            .collect();
        crate::data::record_warnings(
            file,
            name,
            text,
            &self.inner.compiled.content,
            RecordKind::Block,
            &sections,
        )
    }

    /// Parse a catalog (JSON lines) against the content schema.
    pub fn parse_catalog(
        &self,
        sources: &mut SourceMap,
        name: &str,
        text: &str,
    ) -> Result<Catalog, Diagnostics> {
        let records = parse_records(
            sources,
            name,
            text,
            &self.inner.compiled.content,
            RecordKind::Block,
        )?;
        Ok(Catalog::new(
            records
                .into_iter()
                .map(|(values, raw)| Block { values, raw })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{FieldMismatch, ProfileError};
    use tailor_lang::ast::Type;

    fn obj(j: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        j.as_object().unwrap().clone()
    }

    #[test]
    fn profile_from_json_names_the_field_the_type_and_what_was_found() {
        let pkg = Package::from_sources(vec![(
            "p.rules".into(),
            "profile { age: int\n city: string }\nedition e { timezone \"UTC\"\n sections { s 1 } }\n"
                .into(),
        )])
        .map_err(|e| e.render(false))
        .unwrap();
        assert_eq!(
            pkg.profile_from_json(obj(serde_json::json!({"age": 3})))
                .unwrap_err(),
            ProfileError::MissingId
        );
        let err = pkg
            .profile_from_json(obj(serde_json::json!({"id": "u", "age": "old", "city": 7})))
            .unwrap_err();
        let ProfileError::Fields(fields) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].field, "age");
        assert_eq!(fields[0].expected, Type::Int);
        assert_eq!(fields[1].field, "city");
        assert_eq!(fields[1].expected, Type::String);
        // The text callers show is unchanged.
        assert_eq!(
            err.to_string(),
            format!(
                "field `age` expected int, found {}; field `city` expected string, found {}",
                fields[0].found, fields[1].found
            )
        );
        let _: &FieldMismatch = &fields[0];
        assert!(
            pkg.profile_from_json(obj(serde_json::json!({"id": "u", "age": 3})))
                .is_ok()
        );
    }
}
