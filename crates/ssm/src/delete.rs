//! DeleteParameter and DeleteParameters: a parameter goes with every version, label
//! and tag.

use berth_awsproto::ApiError;
use berth_store::Writer;
use serde::{Deserialize, Serialize};

use crate::errors::{count, missing, not_found};
use crate::get::load;
use crate::names::reference;
use crate::records::Keys;
use crate::tags::Empty;
use crate::Env;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct DeleteIn {
    name: Option<String>,
}

/// Deletes the parameter `given` names; false when there is none.
fn delete(w: &mut Writer<'_>, env: &Env<'_>, given: &str, member: &str) -> Result<bool, ApiError> {
    let reference = reference(env.ctx, given, member, false)?;
    let Some(rec) = load(w, env.ctx, &reference)? else {
        return Ok(false);
    };
    let keys = Keys::new(&env.ctx.account, &env.ctx.region);
    w.delete(&keys.param(&rec.name))?;
    Ok(true)
}

pub(crate) fn delete_one(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    i: DeleteIn,
) -> Result<Empty, ApiError> {
    let name = i.name.ok_or_else(|| missing("name"))?;
    if delete(w, env, &name, "name")? {
        Ok(Empty {})
    } else {
        Err(not_found(&name))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct DeleteManyIn {
    names: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteManyOut {
    deleted_parameters: Vec<String>,
    invalid_parameters: Vec<String>,
}

/// Up to 10 parameters; names that are not parameters (or not names) are listed in
/// `InvalidParameters`, as given; a name given twice is answered once.
pub(crate) fn delete_many(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    i: DeleteManyIn,
) -> Result<DeleteManyOut, ApiError> {
    let names = i.names.ok_or_else(|| missing("names"))?;
    count(&names, "names", 1, 10)?;
    let mut out = DeleteManyOut {
        deleted_parameters: Vec::new(),
        invalid_parameters: Vec::new(),
    };
    for (n, name) in names.into_iter().enumerate() {
        let seen = out.deleted_parameters.contains(&name) || out.invalid_parameters.contains(&name);
        if seen {
            continue;
        }
        let member = format!("names.{}.member", n + 1);
        match delete(w, env, &name, &member) {
            Ok(true) => out.deleted_parameters.push(name),
            _ => out.invalid_parameters.push(name),
        }
    }
    Ok(out)
}
