//! Prints a crate's public API, one item a line, from rustdoc's JSON output:
//! every public module, type, trait, function, method, constant and
//! re-export under the path a user writes, with function signatures and the
//! trait impls of each public type. `.ci/public-api` diffs it against the
//! snapshot in `tools/api/`, so a change to the public API is a conscious one.
//!
//! ```text
//! cargo +nightly rustdoc -p ttlkit --all-features --lib -- -Z unstable-options --output-format json
//! cargo run -p ttlkit-tools --example public_api -- target/doc/ttlkit.json
//! ```
//!
//! It reads only a few fields of the format, and says so when the format
//! version is not the one it was written for (CI pins the nightly).

use std::collections::BTreeSet;
use std::process::ExitCode;

use serde_json::Value;

/// The rustdoc JSON format this reader was written against.
const FORMAT_VERSION: u64 = 61;

struct Crate<'a> {
    index: &'a serde_json::Map<String, Value>,
    out: BTreeSet<String>,
}

fn id_key(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The item's one inner kind and its body (`{"struct": {..}}`).
fn inner(item: &Value) -> Option<(&str, &Value)> {
    item.get("inner")?.as_object()?.iter().next().map(|(k, v)| (k.as_str(), v))
}

fn is_public(item: &Value) -> bool {
    item.get("visibility").and_then(Value::as_str) == Some("public")
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(id_key).collect()).unwrap_or_default()
}

/// A type as a user would write it, close enough to see a change.
fn ty(t: &Value) -> String {
    let Some((kind, body)) = t.as_object().and_then(|o| o.iter().next()) else { return "_".into() };
    match kind.as_str() {
        "generic" | "primitive" => body.as_str().unwrap_or("_").to_string(),
        "resolved_path" => path_with_args(body),
        "borrowed_ref" => {
            let lifetime = body.get("lifetime").and_then(Value::as_str).map(|l| format!("{l} ")).unwrap_or_default();
            let m = if body.get("is_mutable").and_then(Value::as_bool) == Some(true) { "mut " } else { "" };
            format!("&{lifetime}{m}{}", ty(&body["type"]))
        }
        "tuple" => format!(
            "({})",
            body.as_array().map(|a| a.iter().map(ty).collect::<Vec<_>>().join(", ")).unwrap_or_default()
        ),
        "slice" => format!("[{}]", ty(body)),
        "array" => format!("[{}; {}]", ty(&body["type"]), body["len"].as_str().unwrap_or("_")),
        "raw_pointer" => {
            let m = if body.get("is_mutable").and_then(Value::as_bool) == Some(true) { "mut" } else { "const" };
            format!("*{m} {}", ty(&body["type"]))
        }
        "impl_trait" => format!("impl {}", bounds(body)),
        "dyn_trait" => {
            let traits =
                body["traits"].as_array().map(|a| a.iter().map(|p| path_with_args(&p["trait"])).collect::<Vec<_>>());
            format!("dyn {}", traits.unwrap_or_default().join(" + "))
        }
        "qualified_path" => format!(
            "<{} as {}>::{}",
            ty(&body["self_type"]),
            path_with_args(&body["trait"]),
            body["name"].as_str().unwrap_or("_")
        ),
        "function_pointer" => format!("fn({})", sig_inputs(&body["sig"])),
        other => format!("<{other}>"),
    }
}

fn bounds(list: &Value) -> String {
    let parts = list.as_array().map(|a| {
        a.iter()
            .map(|b| match b.get("trait_bound") {
                Some(tb) => path_with_args(&tb["trait"]),
                None => b.get("outlives").and_then(Value::as_str).unwrap_or("_").to_string(),
            })
            .collect::<Vec<_>>()
    });
    parts.unwrap_or_default().join(" + ")
}

fn path_with_args(p: &Value) -> String {
    let name = p.get("path").and_then(Value::as_str).unwrap_or("_").to_string();
    let Some(args) = p.get("args").and_then(|a| a.get("angle_bracketed")) else {
        if let Some(pa) = p.get("args").and_then(|a| a.get("parenthesized")) {
            let inputs = pa["inputs"].as_array().map(|a| a.iter().map(ty).collect::<Vec<_>>().join(", "));
            let output =
                pa.get("output").filter(|o| !o.is_null()).map(|o| format!(" -> {}", ty(o))).unwrap_or_default();
            return format!("{name}({}){output}", inputs.unwrap_or_default());
        }
        return name;
    };
    let mut parts: Vec<String> = args["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|arg| match arg.as_object().and_then(|o| o.iter().next()) {
                    Some((k, v)) if k == "type" => ty(v),
                    Some((k, v)) if k == "lifetime" => v.as_str().unwrap_or("'_").to_string(),
                    Some((k, v)) if k == "const" => v.get("expr").and_then(Value::as_str).unwrap_or("_").to_string(),
                    _ => "_".to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(cs) = args["constraints"].as_array() {
        for c in cs {
            let bound = c.get("binding").and_then(|b| b.get("equality")).and_then(|e| e.get("type")).map(ty);
            parts.push(format!("{} = {}", c["name"].as_str().unwrap_or("_"), bound.unwrap_or_else(|| "_".into())));
        }
    }
    if parts.is_empty() {
        name
    } else {
        format!("{name}<{}>", parts.join(", "))
    }
}

fn sig_inputs(sig: &Value) -> String {
    let inputs = sig["inputs"].as_array().map(|a| {
        a.iter()
            .map(|pair| {
                let name = pair[0].as_str().unwrap_or("_");
                if name == "self" {
                    match ty(&pair[1]).as_str() {
                        "Self" => "self".to_string(),
                        "&Self" => "&self".to_string(),
                        "&mut Self" => "&mut self".to_string(),
                        other => format!("self: {other}"),
                    }
                } else {
                    format!("{name}: {}", ty(&pair[1]))
                }
            })
            .collect::<Vec<_>>()
    });
    inputs.unwrap_or_default().join(", ")
}

fn signature(f: &Value) -> String {
    let sig = &f["sig"];
    let output = sig.get("output").filter(|o| !o.is_null()).map(|o| format!(" -> {}", ty(o))).unwrap_or_default();
    let header = &f["header"];
    let mut pre = String::new();
    for (flag, word) in [("is_const", "const "), ("is_async", "async "), ("is_unsafe", "unsafe ")] {
        if header.get(flag).and_then(Value::as_bool) == Some(true) {
            pre.push_str(word);
        }
    }
    format!("{pre}fn({}){output}", sig_inputs(sig))
}

impl<'a> Crate<'a> {
    fn item(&self, id: &str) -> Option<&'a Value> {
        let index: &'a serde_json::Map<String, Value> = self.index;
        index.get(id)
    }

    /// Records the item `id` (public, of this crate) under `path`.
    fn visit(&mut self, path: &str, id: &str, seen: &mut BTreeSet<String>) {
        let Some(item) = self.item(id) else { return };
        let Some((kind, body)) = inner(item) else { return };
        match kind {
            "module" => {
                self.out.insert(format!("mod {path}"));
                if !seen.insert(format!("{id}@{path}")) {
                    return;
                }
                for child in ids(&body["items"]) {
                    let Some(c) = self.item(&child) else { continue };
                    if !is_public(c) {
                        continue;
                    }
                    match inner(c) {
                        Some(("use", u)) => self.reexport(path, u, seen),
                        _ => {
                            let name = c["name"].as_str().unwrap_or("_").to_string();
                            self.visit(&format!("{path}::{name}"), &child, seen);
                        }
                    }
                }
            }
            "function" => {
                self.out.insert(format!("fn {path}: {}", signature(body)));
            }
            "struct" | "enum" | "union" => {
                self.out.insert(format!("{kind} {path}"));
                if kind == "enum" {
                    for v in ids(&body["variants"]) {
                        if let Some(name) = self.item(&v).and_then(|v| v["name"].as_str()) {
                            self.out.insert(format!("variant {path}::{name}"));
                        }
                    }
                }
                if let Some(fields) = body.get("kind").and_then(|k| k.get("plain")).map(|p| ids(&p["fields"])) {
                    for f in fields {
                        if let Some(field) = self.item(&f).filter(|f| is_public(f)) {
                            let t = inner(field).map(|(_, t)| ty(t)).unwrap_or_default();
                            self.out.insert(format!("field {path}::{}: {t}", field["name"].as_str().unwrap_or("_")));
                        }
                    }
                }
                self.impls(path, &ids(&body["impls"]));
            }
            "trait" => {
                self.out.insert(format!("trait {path}"));
                for m in ids(&body["items"]) {
                    self.member(path, &m, true);
                }
            }
            "type_alias" => {
                self.out.insert(format!("type {path} = {}", ty(&body["type"])));
            }
            "constant" | "static" => {
                let word = if kind == "constant" { "const" } else { "static" };
                self.out.insert(format!("{word} {path}: {}", ty(&body["type"])));
            }
            other => {
                self.out.insert(format!("{other} {path}"));
            }
        }
    }

    fn reexport(&mut self, at: &str, u: &Value, seen: &mut BTreeSet<String>) {
        let name = u["name"].as_str().unwrap_or("_");
        let source = u["source"].as_str().unwrap_or("_");
        match u.get("id").and_then(id_key).filter(|id| self.index.contains_key(id)) {
            // A prelude only gathers names that have a home elsewhere.
            Some(target) if u["is_glob"].as_bool() != Some(true) && !at.ends_with("::prelude") => {
                self.visit(&format!("{at}::{name}"), &target, seen)
            }
            // Another crate's item, a glob or a prelude's name: the re-export
            // itself is the API.
            _ => {
                self.out.insert(format!("use {at}::{name} = {source}"));
            }
        }
    }

    fn impls(&mut self, path: &str, impls: &[String]) {
        for i in impls {
            let Some((_, imp)) = self.item(i).and_then(inner) else { continue };
            if imp["is_synthetic"].as_bool() == Some(true) || !imp["blanket_impl"].is_null() {
                continue;
            }
            match imp.get("trait").filter(|t| !t.is_null()) {
                Some(t) => {
                    self.out.insert(format!("impl {} for {path}", path_with_args(t)));
                }
                None => {
                    for m in ids(&imp["items"]) {
                        self.member(path, &m, false);
                    }
                }
            }
        }
    }

    /// A method or associated item of a type or trait.
    fn member(&mut self, owner: &str, id: &str, in_trait: bool) {
        let Some(m) = self.item(id) else { return };
        if !in_trait && !is_public(m) {
            return;
        }
        let name = m["name"].as_str().unwrap_or("_");
        let line = match inner(m) {
            Some(("function", f)) => {
                let provided = if in_trait && f["has_body"].as_bool() == Some(true) { " (provided)" } else { "" };
                format!("fn {owner}::{name}: {}{provided}", signature(f))
            }
            Some(("assoc_const", c)) => format!("const {owner}::{name}: {}", ty(&c["type"])),
            Some(("assoc_type", _)) => format!("type {owner}::{name}"),
            Some((other, _)) => format!("{other} {owner}::{name}"),
            None => return,
        };
        self.out.insert(line);
    }
}

fn main() -> ExitCode {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: public_api <rustdoc json>");
        return ExitCode::from(2);
    };
    let doc: Value = match std::fs::read_to_string(&file)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("public_api: {file}: {e}");
            return ExitCode::from(2);
        }
    };
    let version = doc["format_version"].as_u64().unwrap_or(0);
    if version != FORMAT_VERSION {
        eprintln!("public_api: rustdoc JSON format {version}, written for {FORMAT_VERSION}: use the nightly .ci/public-api pins");
        return ExitCode::from(2);
    }
    let (Some(index), Some(root)) = (doc["index"].as_object(), id_key(&doc["root"])) else {
        eprintln!("public_api: {file}: no index or root");
        return ExitCode::from(2);
    };
    let name = index.get(&root).and_then(|r| r["name"].as_str()).unwrap_or("crate").to_string();
    let mut krate = Crate { index, out: BTreeSet::new() };
    krate.visit(&name, &root, &mut BTreeSet::new());
    for line in &krate.out {
        println!("{line}");
    }
    ExitCode::SUCCESS
}
