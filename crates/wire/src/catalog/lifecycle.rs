//! When catalog models stop being served: `YYYY-MM-DD` dates checked when a file is read, a
//! successor chain that ends at a catalog id, and the state of a model on a given day. Pure:
//! the caller supplies "today" (the router reads its clock; tests pin one).

use thiserror::Error;

use super::{Catalog, CatalogError, Lifecycle};

/// A model's state on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Served with no warning.
    Active,
    /// Served, but its provider announced its end: callers should move to the successor.
    Deprecated,
    /// No longer served: asking for it is an error naming the successor.
    Retired,
}

/// A request for a model its provider no longer serves.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "model {model:?} was retired on {retired_on}{}",
    successor.as_deref().map(|s| format!("; use {s} instead")).unwrap_or_default()
)]
pub struct RetiredModel {
    pub model: String,
    pub retired_on: String,
    pub successor: Option<String>,
}

impl Lifecycle {
    /// The state on `today` (`YYYY-MM-DD`; validated dates compare as strings). A model is
    /// retired from its `retires_on` day on, deprecated from `deprecated_on` (or, without one,
    /// as soon as a retirement date is announced).
    pub fn state(&self, today: &str) -> State {
        match (&self.deprecated_on, &self.retires_on) {
            (_, Some(retires)) if retires.as_str() <= today => State::Retired,
            (Some(deprecated), _) if deprecated.as_str() <= today => State::Deprecated,
            (None, Some(_)) => State::Deprecated,
            _ => State::Active,
        }
    }
}

/// Checks one date field: `YYYY-MM-DD`, a real calendar day.
pub(super) fn check_date(model: &str, field: &str, value: &str) -> Result<(), CatalogError> {
    let invalid = || CatalogError::Invalid {
        model: model.to_owned(),
        reason: format!("{field} must be a YYYY-MM-DD date, not {value:?}"),
    };
    let bytes = value.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return Err(invalid());
    }
    let number = |range: std::ops::Range<usize>| value[range].parse::<u32>().map_err(|_| invalid());
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(invalid());
    }
    Ok(())
}

/// Checks a model's own lifecycle fields: dates well formed and in order, no self-successor.
pub(super) fn check_model(model: &str, lifecycle: &Lifecycle) -> Result<(), CatalogError> {
    if let Some(date) = &lifecycle.deprecated_on {
        check_date(model, "deprecated_on", date)?;
    }
    if let Some(date) = &lifecycle.retires_on {
        check_date(model, "retires_on", date)?;
    }
    let invalid = |reason: &str| CatalogError::Invalid {
        model: model.to_owned(),
        reason: reason.to_owned(),
    };
    if let (Some(deprecated), Some(retires)) = (&lifecycle.deprecated_on, &lifecycle.retires_on)
        && deprecated > retires
    {
        return Err(invalid("deprecated_on must not come after retires_on"));
    }
    if lifecycle.successor.as_deref() == Some(model) {
        return Err(invalid("a model cannot be its own successor"));
    }
    if lifecycle.successor.as_deref() == Some("") {
        return Err(invalid("successor must name a catalog model"));
    }
    Ok(())
}

impl Catalog {
    /// Checks what only the whole catalog can tell (after overrides are merged): every
    /// successor is a catalog id, and following successors never comes back to a model.
    pub fn check_successors(&self) -> Result<(), CatalogError> {
        for model in self.models() {
            let mut seen = vec![model.id.as_str()];
            let mut next = model.lifecycle.successor.as_deref();
            while let Some(id) = next {
                let Some(successor) = self.model(id) else {
                    return Err(CatalogError::Invalid {
                        model: seen.last().copied().unwrap_or_default().to_owned(),
                        reason: format!("successor {id:?} is not a catalog model"),
                    });
                };
                if seen.contains(&id) {
                    return Err(CatalogError::Invalid {
                        model: model.id.clone(),
                        reason: format!("successors form a cycle: {} -> {id}", seen.join(" -> ")),
                    });
                }
                seen.push(id);
                next = successor.lifecycle.successor.as_deref();
            }
        }
        Ok(())
    }

    /// Refuses a catalog model retired by `today`, naming what to use instead: the first
    /// successor down the chain that is not itself retired.
    pub fn check_retired(&self, id: &str, today: &str) -> Result<(), RetiredModel> {
        let Some(model) = self.model(id) else {
            return Ok(());
        };
        if model.lifecycle.state(today) != State::Retired {
            return Ok(());
        }
        let mut successor = model.lifecycle.successor.as_deref();
        // Bounded by the catalog size: checked files have no cycles, but a merged catalog
        // read by someone who skipped the check must not loop.
        for _ in 0..self.models().len() {
            match successor.and_then(|s| self.model(s)) {
                Some(next) if next.lifecycle.state(today) == State::Retired => {
                    successor = next.lifecycle.successor.as_deref();
                }
                _ => break,
            }
        }
        Err(RetiredModel {
            model: id.to_owned(),
            retired_on: model.lifecycle.retires_on.clone().unwrap_or_default(),
            successor: successor.map(str::to_owned),
        })
    }
}

/// The UTC calendar day `days` days after 1970-01-01, as `YYYY-MM-DD` (Howard Hinnant's
/// civil-from-days): the router turns its clock into "today" with it.
pub fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
