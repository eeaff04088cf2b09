//! Validation as data: one engine for task definitions and services. A request's checks
//! are a table of [`Rule`]s run in order, the first failure being the API's answer.
//!
//! A row reads the typed input through a small getter (`|r| opt(r.pid_mode.as_deref())`),
//! never a JSON path. The plain rows check one member: present ([`Rule::Required`]), one
//! of the API's values ([`Rule::OneOf`]), a number within bounds ([`Rule::Range`]), a
//! list's number of items ([`Rule::Count`]), a valid name ([`Rule::Name`]). A
//! [`Rule::Part`] runs the table of a part of the subject: an optional member when it is
//! present ([`Within`]), or each element of a list in turn ([`Each`]). Everything else
//! (presence with its own words, syntax, references between fields, the store's state)
//! is a [`Rule::Check`]: a named function.
//!
//! Rows name their field as messages do, with `[]` for the index of an element of a list
//! (`containerDefinitions[].portMappings[].protocol`): the [`Each`] rows above fill them
//! in, outermost first. The messages of range and count rows are templates: `{field}`,
//! `{value}`, `{min}` and `{max}` are filled in.
//!
//! A subject whose checks need more than its own members (the task it belongs to, the
//! elements before it) is a small `Copy` struct of references, `EntryAt<'a>`, with its
//! tables as associated constants (`const RULES: &'a [Rule<'a, Self>]`), so that an
//! [`Each`] can build it from its parent.

use berth_awsproto::ApiError;

use crate::common::{check_enum, check_name, invalid, R};

/// What a table of rules checks: a request, a member of it, or one element of a list.
pub(crate) trait Subject {
    /// The answer when a [`Rule::Range`] or [`Rule::Count`] row fails: `field` as the row
    /// names it (indices filled in), `message` its template filled in.
    fn out_of_range(&self, _field: &str, message: String) -> ApiError {
        invalid(message)
    }
}

/// One row of a validation table over subjects `T`; `'r` is how long the tables of its
/// parts live.
pub(crate) enum Rule<'r, T> {
    /// The member `present` looks at must be there: "`<field>` is required."
    /// (InvalidParameterException).
    Required {
        field: &'static str,
        present: fn(&T) -> bool,
    },
    /// Every value `value` finds must be one of `allowed` (InvalidParameterException
    /// naming `field` and listing `allowed`).
    OneOf {
        field: &'static str,
        allowed: &'static [&'static str],
        value: fn(&T) -> Vec<&str>,
    },
    /// The number `value` finds, if any, must be within `bounds` (inclusive), else
    /// [`Subject::out_of_range`] with `says` filled in.
    Range {
        field: &'static str,
        bounds: (i64, i64),
        value: fn(&T) -> Option<i64>,
        says: &'static str,
    },
    /// The number of items of a list (none when it is absent) must be within `bounds`,
    /// else [`Subject::out_of_range`] with `says` filled in.
    Count {
        field: &'static str,
        bounds: (i64, i64),
        count: fn(&T) -> usize,
        says: &'static str,
    },
    /// The string `value` finds, if any, must be a valid resource name
    /// ([`check_name`]).
    Name {
        field: &'static str,
        value: fn(&T) -> Option<&str>,
    },
    /// The rows of a part of the subject: [`Within`] or [`Each`].
    Part(&'r dyn Part<T>),
    /// A named check of anything else.
    Check(fn(&T) -> R<()>),
}

impl<'r, T: Subject> Rule<'r, T> {
    /// A [`Rule::Required`] row.
    pub(crate) const fn required(field: &'static str, present: fn(&T) -> bool) -> Self {
        Rule::Required { field, present }
    }

    /// A [`Rule::OneOf`] row.
    pub(crate) const fn one_of(
        field: &'static str,
        allowed: &'static [&'static str],
        value: fn(&T) -> Vec<&str>,
    ) -> Self {
        Rule::OneOf {
            field,
            allowed,
            value,
        }
    }

    /// A [`Rule::Range`] row.
    pub(crate) const fn range(
        field: &'static str,
        bounds: (i64, i64),
        value: fn(&T) -> Option<i64>,
        says: &'static str,
    ) -> Self {
        Rule::Range {
            field,
            bounds,
            value,
            says,
        }
    }

    /// A [`Rule::Count`] row.
    pub(crate) const fn count(
        field: &'static str,
        bounds: (i64, i64),
        count: fn(&T) -> usize,
        says: &'static str,
    ) -> Self {
        Rule::Count {
            field,
            bounds,
            count,
            says,
        }
    }

    /// A [`Rule::Name`] row.
    pub(crate) const fn name(field: &'static str, value: fn(&T) -> Option<&str>) -> Self {
        Rule::Name { field, value }
    }

    fn check(&self, subject: &T, at: &[usize]) -> R<()> {
        match self {
            Rule::Required { field, present } => match present(subject) {
                true => Ok(()),
                false => Err(invalid(format!("{} is required.", label(field, at)))),
            },
            Rule::OneOf {
                field,
                allowed,
                value,
            } => {
                let values = value(subject);
                if values.iter().all(|v| allowed.contains(v)) {
                    return Ok(());
                }
                let label = label(field, at);
                (values.into_iter()).try_for_each(|v| check_enum(Some(v), &label, allowed))
            }
            Rule::Range {
                field,
                bounds,
                value,
                says,
            } => match value(subject) {
                Some(v) => bounded(subject, &label(field, at), *bounds, v, says),
                None => Ok(()),
            },
            Rule::Count {
                field,
                bounds,
                count,
                says,
            } => {
                let n = i64::try_from(count(subject)).unwrap_or(i64::MAX);
                bounded(subject, &label(field, at), *bounds, n, says)
            }
            Rule::Name { field, value } => match value(subject) {
                Some(name) => check_name(name, &label(field, at)),
                None => Ok(()),
            },
            Rule::Part(part) => part.check(subject, at),
            Rule::Check(check) => check(subject),
        }
    }
}

/// `value` within `(min, max)`, else the subject's answer with `says` filled in.
fn bounded<T: Subject>(
    subject: &T,
    field: &str,
    (min, max): (i64, i64),
    value: i64,
    says: &str,
) -> R<()> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    let message = says
        .replace("{field}", field)
        .replace("{value}", &value.to_string())
        .replace("{min}", &min.to_string())
        .replace("{max}", &max.to_string());
    Err(subject.out_of_range(field, message))
}

/// Runs `rules` on `subject` in order; the first failure is the answer.
pub(crate) fn check_all<T: Subject>(rules: &[Rule<'_, T>], subject: &T) -> R<()> {
    run(rules, subject, &[])
}

/// [`check_all`] for a part whose `[]`s are filled with `at`.
fn run<T: Subject>(rules: &[Rule<'_, T>], subject: &T, at: &[usize]) -> R<()> {
    rules.iter().try_for_each(|rule| rule.check(subject, at))
}

/// The rows over a part of a subject `T` ([`Within`], [`Each`]).
pub(crate) trait Part<T> {
    /// Runs the part's rows; `at` fills the `[]`s of their fields.
    fn check(&self, subject: &T, at: &[usize]) -> R<()>;
}

/// The rows of an optional member `U` of `T`, run when it is present.
pub(crate) struct Within<'r, T, U> {
    member: fn(&T) -> Option<&U>,
    rules: &'r [Rule<'r, U>],
}

impl<'r, T, U> Within<'r, T, U> {
    pub(crate) const fn new(member: fn(&T) -> Option<&U>, rules: &'r [Rule<'r, U>]) -> Self {
        Within { member, rules }
    }
}

impl<T, U: Subject> Part<T> for Within<'_, T, U> {
    fn check(&self, subject: &T, at: &[usize]) -> R<()> {
        match (self.member)(subject) {
            Some(member) => run(self.rules, member, at),
            None => Ok(()),
        }
    }
}

/// The rows of each element `U` of a list of `T`, element by element: all the rows of
/// the first, then of the second... An element's position fills the next `[]`.
pub(crate) struct Each<'r, T, U> {
    items: fn(&T) -> Vec<U>,
    rules: &'r [Rule<'r, U>],
}

impl<'r, T, U> Each<'r, T, U> {
    pub(crate) const fn new(items: fn(&T) -> Vec<U>, rules: &'r [Rule<'r, U>]) -> Self {
        Each { items, rules }
    }
}

impl<T, U: Subject> Part<T> for Each<'_, T, U> {
    fn check(&self, subject: &T, at: &[usize]) -> R<()> {
        (self.items)(subject)
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| run(self.rules, item, &[at, &[i]].concat()))
    }
}

/// The value of an optional member, as [`Rule::OneOf`] reads it.
pub(crate) fn opt(value: Option<&str>) -> Vec<&str> {
    value.into_iter().collect()
}

/// The value of a member of an optional member (`runtimePlatform.cpuArchitecture`), as
/// [`Rule::OneOf`] reads it.
pub(crate) fn inner<T>(parent: &Option<T>, member: fn(&T) -> &Option<String>) -> Vec<&str> {
    opt(parent.as_ref().and_then(|p| member(p).as_deref()))
}

/// The strings of an optional list, as [`Rule::OneOf`] reads them.
pub(crate) fn items(list: &Option<Vec<String>>) -> Vec<&str> {
    list.iter().flatten().map(String::as_str).collect()
}

/// The number of items of an optional list, as [`Rule::Count`] reads it.
pub(crate) fn len<T>(list: &Option<Vec<T>>) -> usize {
    list.as_ref().map_or(0, Vec::len)
}

/// `path` with its `[]`s filled with `indices` (`a[].b[]` with 1, 2: `a[1].b[2]`).
fn label(path: &str, indices: &[usize]) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    let mut indices = indices.iter();
    let mut parts = path.split("[]").peekable();
    while let Some(part) = parts.next() {
        out.push_str(part);
        if parts.peek().is_some() {
            match indices.next() {
                Some(i) => out.push_str(&format!("[{i}]")),
                None => out.push_str("[]"),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::client;

    /// A request with a list of things, each with an optional member.
    struct Request {
        name: Option<String>,
        kind: Option<String>,
        size: Option<i64>,
        things: Vec<Thing>,
    }

    struct Thing {
        tags: Option<Vec<String>>,
        inner: Option<Inner>,
    }

    struct Inner {
        port: Option<i64>,
    }

    /// The request, as its rows see it: elements of its lists borrow what it borrows.
    struct RequestAt<'a>(&'a Request);

    /// A thing with what its checks compare it with.
    struct ThingAt<'a> {
        i: usize,
        thing: &'a Thing,
    }

    impl Subject for RequestAt<'_> {}
    impl Subject for Inner {}

    impl Subject for ThingAt<'_> {
        fn out_of_range(&self, field: &str, message: String) -> ApiError {
            client(format!("thing {} ({field}): {message}", self.i))
        }
    }

    impl<'a> ThingAt<'a> {
        const RULES: &'a [Rule<'a, Self>] = &[
            Rule::one_of("things[].tags", &["x"], |t| items(&t.thing.tags)),
            Rule::count(
                "things[].tags",
                (0, 1),
                |t| t.thing.tags.iter().flatten().count(),
                "at most {max}, not {value}",
            ),
            Rule::Part(&Within::new(|t: &Self| t.thing.inner.as_ref(), INNER)),
            Rule::Check(|t| match t.i {
                2 => Err(client("three things are too many.")),
                _ => Ok(()),
            }),
        ];
    }

    const INNER: &[Rule<Inner>] = &[
        Rule::required("things[].inner.port", |i| i.port.is_some()),
        Rule::range(
            "things[].inner.port",
            (1, 9),
            |i| i.port,
            "{field} {value} is not {min} to {max}.",
        ),
    ];

    impl<'a> RequestAt<'a> {
        const RULES: &'a [Rule<'a, Self>] = &[
            Rule::required("name", |r| r.0.name.is_some()),
            Rule::name("name", |r| r.0.name.as_deref()),
            Rule::one_of("kind", &["a", "b"], |r| opt(r.0.kind.as_deref())),
            Rule::range(
                "size",
                (0, 10),
                |r| r.0.size,
                "{field} {value} must be {min} to {max}.",
            ),
            Rule::Part(&Each::new(
                |r: &Self| {
                    (r.0.things.iter().enumerate())
                        .map(|(i, thing)| ThingAt { i, thing })
                        .collect()
                },
                ThingAt::RULES,
            )),
        ];
    }

    fn thing(tags: &[&str], port: Option<i64>) -> Thing {
        Thing {
            tags: Some(tags.iter().map(|t| t.to_string()).collect()),
            inner: Some(Inner { port }),
        }
    }

    fn request() -> Request {
        Request {
            name: Some("n".into()),
            kind: Some("a".into()),
            size: Some(3),
            things: vec![thing(&["x"], Some(1)), thing(&[], Some(9))],
        }
    }

    fn answer(r: Request) -> String {
        match check_all(RequestAt::RULES, &RequestAt(&r)) {
            Ok(()) => "ok".into(),
            Err(e) => format!("{} {}", e.code, e.message),
        }
    }

    #[test]
    fn rows_run_in_order_and_the_first_failure_answers() {
        assert_eq!(answer(request()), "ok");
        let with = |f: fn(&mut Request)| {
            let mut r = request();
            f(&mut r);
            answer(r)
        };
        assert_eq!(
            with(|r| r.name = None),
            "InvalidParameterException name is required."
        );
        assert!(with(|r| r.name = Some("a b".into()))
            .starts_with("InvalidParameterException name 'a b' is invalid"));
        assert_eq!(
            with(|r| r.kind = Some("c".into())),
            "InvalidParameterException kind 'c' is invalid: it must be one of a, b."
        );
        assert_eq!(
            with(|r| r.size = Some(11)),
            "InvalidParameterException size 11 must be 0 to 10."
        );
        // Two failures: the earlier row answers.
        assert_eq!(
            with(|r| {
                r.kind = Some("c".into());
                r.size = Some(11);
            }),
            "InvalidParameterException kind 'c' is invalid: it must be one of a, b."
        );
        // Absent members are left to the rows that require them.
        assert_eq!(
            with(|r| {
                r.kind = None;
                r.size = None;
            }),
            "ok"
        );
    }

    #[test]
    fn parts_run_per_element_and_fill_indices() {
        let with = |f: fn(&mut Request)| {
            let mut r = request();
            f(&mut r);
            answer(r)
        };
        assert_eq!(
            with(|r| r.things[1].tags = Some(vec!["y".into()])),
            "InvalidParameterException things[1].tags 'y' is invalid: it must be one of x."
        );
        assert_eq!(
            with(|r| r.things[0].tags = Some(vec!["x".into(), "x".into()])),
            "ClientException thing 0 (things[0].tags): at most 1, not 2"
        );
        // An optional member's rows run when it is there, with the element's index.
        assert_eq!(
            with(|r| r.things[1].inner = Some(Inner { port: None })),
            "InvalidParameterException things[1].inner.port is required."
        );
        assert_eq!(
            with(|r| r.things[1].inner = Some(Inner { port: Some(10) })),
            "InvalidParameterException things[1].inner.port 10 is not 1 to 9."
        );
        assert_eq!(with(|r| r.things[1].inner = None), "ok");
        // Every row of an element runs before the next element's.
        assert_eq!(
            with(|r| {
                r.things[0].inner = Some(Inner { port: Some(0) });
                r.things[1].tags = Some(vec!["y".into()]);
            }),
            "InvalidParameterException things[0].inner.port 0 is not 1 to 9."
        );
        assert_eq!(
            with(|r| r.things.push(thing(&[], None))),
            "InvalidParameterException things[2].inner.port is required."
        );
        assert_eq!(
            with(|r| r.things.push(thing(&[], Some(1)))),
            "ClientException three things are too many."
        );
    }

    #[test]
    fn labels_fill_indices() {
        assert_eq!(label("a[].b[].c", &[1, 2]), "a[1].b[2].c");
        assert_eq!(label("a.b", &[1]), "a.b");
        assert_eq!(label("a[]", &[]), "a[]");
    }
}
