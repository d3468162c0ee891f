//! Which tables a report reads, and what it says when one is missing.
//!
//! A missing table must never give a quietly different result:
//!
//! * the report's own table missing from every recording given is an
//!   error naming the recordings and the `ktape-record -e FAMILY` that
//!   records the table;
//! * the own table missing from some of the recordings is a `WARNING:`
//!   naming them (the result covers the others);
//! * another table whose absence changes the result (`sched_wakeup` for
//!   runqlat and runqslower, `loss` for every report that shows lost
//!   events) missing from a recording that has the own table is a
//!   `WARNING:` saying what is different.
//!
//! The stack reports say the same of the `stacks` table from the rows
//! themselves ([`crate::stacks::StackNames::dangling_warnings`]): what
//! matters there is how many rows refer to a stack the recording lacks.
//!
//! Warnings go to stderr and, with `--json`, into a `warnings` array
//! (present only when there is one, so the JSON of a complete recording
//! is unchanged).

use ktape_format::read::Recording;

use crate::error::{Error, Result};

/// The tables a report reads.
#[derive(Debug, Clone, Copy)]
pub struct Needs<'a> {
    /// The report's own table.
    pub table: &'a str,
    /// Other tables whose absence changes the result, each with what is
    /// then different (a phrase after a colon).
    pub also: &'a [(&'a str, &'a str)],
    /// Whether the report shows lost events, from the `loss` table.
    pub loss: bool,
}

impl<'a> Needs<'a> {
    /// A report of one table that shows lost events.
    pub const fn one(table: &'a str) -> Needs<'a> {
        Needs {
            table,
            also: &[],
            loss: true,
        }
    }
}

/// What is different without the `loss` table.
pub const WITHOUT_LOSS: &str =
    "events the recorder lost cannot be shown, so the result may be incomplete without a warning";

/// What runqlat and runqslower miss without `sched_wakeup`.
pub const WITHOUT_WAKEUPS: &str =
    "waits that began with a wakeup are missing; only the waits of preempted tasks are counted";

/// Checks `recordings` against `needs` before a report reads them:
/// the error of a missing own table, or the warnings to print (and put in
/// the JSON) beside the result.
pub fn check(recordings: &[Recording], needs: &Needs<'_>) -> Result<Vec<String>> {
    let (have, lack): (Vec<&Recording>, Vec<&Recording>) =
        recordings.iter().partition(|r| r.has_table(needs.table));
    if have.is_empty() && !lack.is_empty() {
        return Err(Error::MissingTable {
            table: needs.table.to_string(),
            recordings: names(&lack),
            hint: hint(needs.table),
        });
    }
    let mut warnings = Vec::new();
    if !lack.is_empty() {
        warnings.push(format!(
            "WARNING: no `{}` table in {} ({}): the result covers the other recordings only",
            needs.table,
            names(&lack),
            hint(needs.table)
        ));
    }
    let loss = needs
        .loss
        .then_some((ktape_format::loss::TABLE.name, WITHOUT_LOSS));
    for (table, effect) in needs.also.iter().copied().chain(loss) {
        // Only where the own table is: a recording without it already
        // has its warning.
        let without: Vec<&Recording> = have
            .iter()
            .copied()
            .filter(|r| !r.has_table(table))
            .collect();
        if !without.is_empty() {
            warnings.push(missing_warning(table, &without, effect));
        }
    }
    Ok(warnings)
}

/// `WARNING: no `table` table in RECS (why): effect`.
pub fn missing_warning(table: &str, recordings: &[&Recording], effect: &str) -> String {
    format!(
        "WARNING: no `{table}` table in {} ({}): {effect}",
        names(recordings),
        hint(table)
    )
}

/// The recordings' paths, comma-separated.
pub fn names(recordings: &[&Recording]) -> String {
    recordings
        .iter()
        .map(|r| r.root.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a recording may lack a table, from the table's family: the `-e`
/// option that records it, or for the tables every recording has, that
/// the recording is incomplete.
pub fn hint(table: &str) -> String {
    let damaged = "the recording is incomplete or damaged";
    let Some(spec) = ktape_format::table(table) else {
        return "not a table ktape writes".into();
    };
    if spec.family == ktape_format::loss::TABLE.family {
        return format!("every recording has one: {damaged}");
    }
    // `stacks` has no `-e` of its own: it is written with the tables whose
    // rows refer to it.
    let referrers: Vec<String> = if spec.name == ktape_format::stacks::TABLE.name {
        ktape_format::tables()
            .iter()
            .filter(|t| t.column("kstack_id").is_some())
            .map(|t| format!("`-e {}`", t.family))
            .collect()
    } else {
        Vec::new()
    };
    if referrers.is_empty() {
        format!("it is recorded by `ktape-record -e {}`", spec.family)
    } else {
        format!("it is written with {}: {damaged}", referrers.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_come_from_the_family() {
        assert_eq!(hint("bio"), "it is recorded by `ktape-record -e bio`");
        assert_eq!(
            hint("sched_wakeup"),
            "it is recorded by `ktape-record -e sched`"
        );
        assert_eq!(
            hint("file_op"),
            "it is recorded by `ktape-record -e fileio`"
        );
        assert!(hint("loss").starts_with("every recording has one"));
        assert_eq!(
            hint("stacks"),
            "it is written with `-e offcpu` and `-e profile` and `-e wakeup`: the recording is incomplete or damaged"
        );
    }
}
