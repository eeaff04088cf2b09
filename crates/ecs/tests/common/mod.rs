//! What the golden tests share: a transcript of API calls and their answers, and its
//! comparison with the checked-in file (`BLESS=1` rewrites the file instead).

use std::path::Path;

use berth_awsproto::ApiError;
use serde_json::Value;

/// The account and region every golden test calls as.
pub fn ctx() -> berth_awsproto::Context {
    berth_awsproto::Context {
        account: "123456789012".into(),
        region: "us-west-2".into(),
        caller: Default::default(),
    }
}

/// Calls and their answers, as text.
#[derive(Default)]
pub struct Transcript {
    out: String,
}

impl Transcript {
    /// A `## title` line.
    pub fn section(&mut self, title: &str) {
        self.out.push_str(&format!("\n## {title}\n"));
    }

    /// A call (`### what`, `> input`) and its answer: the JSON, pretty, or `! status body`
    /// for an error. Returns the answer (null for an error).
    pub fn record(&mut self, what: &str, input: &Value, result: Result<Value, ApiError>) -> Value {
        self.out.push_str(&format!("\n### {what}\n> {input}\n"));
        match result {
            Ok(v) => {
                self.out
                    .push_str(&serde_json::to_string_pretty(&v).unwrap());
                self.out.push('\n');
                v
            }
            Err(e) => {
                let body = serde_json::to_string(&e.body("message")).unwrap();
                self.out.push_str(&format!("! {} {body}\n", e.status));
                Value::Null
            }
        }
    }

    /// Compares the transcript with `tests/golden/<file>` (or rewrites it under
    /// `BLESS=1`); a difference fails with the lines around the first one.
    pub fn check(self, file: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(file);
        let got = self.out;
        if std::env::var_os("BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got == want {
            return;
        }
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
        let at = |s: &str| {
            s.lines()
                .skip(line.saturating_sub(3))
                .take(8)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "the answers differ from {} at line {}:\n--- golden\n{}\n--- now\n{}\n(BLESS=1 rewrites it)",
            path.display(),
            line + 1,
            at(&want),
            at(&got)
        );
    }
}
