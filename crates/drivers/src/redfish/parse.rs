//! Pure readers of the Redfish JSON documents the driver uses: the Systems and Chassis
//! collections, a ComputerSystem (power state, the Reset action and its allowed ResetType
//! values), an ActionInfo, a Chassis (links to Thermal and Power), Thermal temperatures, Power
//! draw, and Redfish error bodies with the classification of a failed HTTP status. No I/O;
//! unit-tested in `tests.rs` on documents shaped like sushy-emulator's and DMTF's mockups.
//!
//! Readers return `Err(what is wrong)`; the driver wraps it into
//! [`crate::DriverError::MalformedReply`] with the host, the BMC and the request.

use serde_json::Value;

use crate::power::PowerState;
use crate::sensors::{PowerDraw, SensorValue, Temperature};

/// The most of a reply quoted in an error message.
const QUOTE_CHARS: usize = 200;

/// `text` cut to [`QUOTE_CHARS`] characters, with `…` when cut.
pub(crate) fn quote(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A reply body as JSON.
pub(crate) fn json(body: &str) -> Result<Value, String> {
    serde_json::from_str(body).map_err(|err| format!("not JSON ({err}): {}", quote(body)))
}

/// The `@odata.id` of a link object (`{"@odata.id": "/redfish/v1/Chassis/1"}`).
fn link(value: &Value) -> Option<&str> {
    value.get("@odata.id").and_then(Value::as_str)
}

/// The path of a collection's first member (`Members[0]["@odata.id"]`); `Ok(None)` for an
/// empty collection.
pub(crate) fn first_member(collection: &Value) -> Result<Option<String>, String> {
    let members = collection
        .get("Members")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no Members array in {}", quote(&collection.to_string())))?;
    match members.first() {
        None => Ok(None),
        Some(member) => link(member)
            .map(|path| Some(path.to_string()))
            .ok_or_else(|| format!("Members[0] has no @odata.id: {}", quote(&member.to_string()))),
    }
}

/// What the driver reads from a ComputerSystem.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct System {
    /// `PowerState`, mapped by [`power_state`].
    pub(crate) power: PowerState,
    /// `PowerState` as the BMC wrote it (`"PoweringOn"`), for messages; `None` when absent.
    pub(crate) power_raw: Option<String>,
    /// The `#ComputerSystem.Reset` action, if the system has one.
    pub(crate) reset: Option<ResetAction>,
    /// `Links.Chassis[0]`: the chassis that holds the system's sensors.
    pub(crate) chassis: Option<String>,
}

/// A system's `#ComputerSystem.Reset` action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResetAction {
    /// Where to POST (`target`).
    pub(crate) target: String,
    /// `ResetType@Redfish.AllowableValues`, when listed inline.
    pub(crate) allowed: Option<Vec<String>>,
    /// `@Redfish.ActionInfo`: where the allowed values are listed otherwise.
    pub(crate) action_info: Option<String>,
}

/// Redfish `PowerState` → [`PowerState`]. A transition reports the state it is leaving, so the
/// target state is seen only once reached: `PoweringOn` is off, `PoweringOff` is on. `Paused`
/// (powered, CPUs halted) is on. Absent, null or an unknown value is unknown.
pub(crate) fn power_state(value: Option<&str>) -> PowerState {
    match value {
        Some("On" | "PoweringOff" | "Paused") => PowerState::On,
        Some("Off" | "PoweringOn") => PowerState::Off,
        _ => PowerState::Unknown,
    }
}

/// Reads a ComputerSystem document.
pub(crate) fn system(doc: &Value) -> Result<System, String> {
    if !doc.is_object() {
        return Err(format!("not a ComputerSystem object: {}", quote(&doc.to_string())));
    }
    let power_raw = doc.get("PowerState").and_then(Value::as_str).map(str::to_string);
    let reset = match doc.get("Actions").and_then(|actions| actions.get("#ComputerSystem.Reset")) {
        None => None,
        Some(action) => {
            let target = action
                .get("target")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    format!("#ComputerSystem.Reset has no target: {}", quote(&action.to_string()))
                })?
                .to_string();
            let allowed = match action.get("ResetType@Redfish.AllowableValues") {
                None | Some(Value::Null) => None,
                Some(values) => Some(strings(values).ok_or_else(|| {
                    format!(
                        "ResetType@Redfish.AllowableValues is not a list of strings: {}",
                        quote(&values.to_string())
                    )
                })?),
            };
            let action_info =
                action.get("@Redfish.ActionInfo").and_then(Value::as_str).map(str::to_string);
            Some(ResetAction { target, allowed, action_info })
        }
    };
    let chassis = doc
        .get("Links")
        .and_then(|links| links.get("Chassis"))
        .and_then(Value::as_array)
        .and_then(|chassis| chassis.first())
        .and_then(link)
        .map(str::to_string);
    Ok(System { power: power_state(power_raw.as_deref()), power_raw, reset, chassis })
}

/// An array of strings, or `None`.
fn strings(values: &Value) -> Option<Vec<String>> {
    values.as_array()?.iter().map(|value| value.as_str().map(str::to_string)).collect()
}

/// The `AllowableValues` of an ActionInfo's `ResetType` parameter; `Ok(None)` when the
/// parameter lists none.
pub(crate) fn action_info_reset_types(doc: &Value) -> Result<Option<Vec<String>>, String> {
    let parameters = doc
        .get("Parameters")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("ActionInfo without Parameters: {}", quote(&doc.to_string())))?;
    let Some(reset_type) =
        parameters.iter().find(|p| p.get("Name").and_then(Value::as_str) == Some("ResetType"))
    else {
        return Ok(None);
    };
    match reset_type.get("AllowableValues") {
        None | Some(Value::Null) => Ok(None),
        Some(values) => strings(values).map(Some).ok_or_else(|| {
            format!(
                "ResetType AllowableValues is not a list of strings: {}",
                quote(&values.to_string())
            )
        }),
    }
}

/// The links a Chassis document gives to its sensor resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Chassis {
    /// `Thermal`.
    pub(crate) thermal: Option<String>,
    /// `Power`.
    pub(crate) power: Option<String>,
}

/// Reads a Chassis document.
pub(crate) fn chassis(doc: &Value) -> Result<Chassis, String> {
    if !doc.is_object() {
        return Err(format!("not a Chassis object: {}", quote(&doc.to_string())));
    }
    let linked = |name: &str| doc.get(name).and_then(link).map(str::to_string);
    Ok(Chassis { thermal: linked("Thermal"), power: linked("Power") })
}

/// A sensor entry's name: `Name`, else `MemberId`, else `<array>[<index>]`.
fn sensor_name(entry: &Value, array: &str, index: usize) -> String {
    entry
        .get("Name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| entry.get("MemberId").and_then(Value::as_str).map(|id| format!("{array} {id}")))
        .unwrap_or_else(|| format!("{array}[{index}]"))
}

/// Why an entry has no reading: its `Status.State` when that is not `Enabled`, else that the
/// field is null or absent.
fn no_reading(entry: &Value, field: &str) -> String {
    let state = entry.get("Status").and_then(|status| status.get("State")).and_then(Value::as_str);
    match (state, entry.get(field)) {
        (Some(state), _) if state != "Enabled" => format!("Status.State {state}, no {field}"),
        (_, Some(Value::Null)) => format!("{field} is null"),
        _ => format!("no {field}"),
    }
}

/// A reading field of `entry`: a number, or unavailable (null, absent, sensor not enabled).
fn reading(entry: &Value, field: &str, at: &str) -> Result<SensorValue, String> {
    match entry.get(field) {
        Some(Value::Number(number)) => number
            .as_f64()
            .map(SensorValue::Value)
            .ok_or_else(|| format!("{at}.{field} {number} is not a finite number")),
        None | Some(Value::Null) => Ok(SensorValue::Unavailable(no_reading(entry, field))),
        Some(other) => Err(format!("{at}.{field} is {other}, not a number")),
    }
}

/// `Temperatures[]` of a Thermal document: `Name` and `ReadingCelsius`, in the BMC's order. A
/// null or absent reading is [`SensorValue::Unavailable`]; no `Temperatures` is an empty list.
pub(crate) fn temperatures(doc: &Value) -> Result<Vec<Temperature>, String> {
    let entries = match doc.get("Temperatures") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(format!("Temperatures is not an array: {}", quote(&other.to_string())))
        }
    };
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let at = format!("Temperatures[{index}]");
            Ok(Temperature {
                name: sensor_name(entry, "Temperatures", index),
                celsius: reading(entry, "ReadingCelsius", &at)?,
            })
        })
        .collect()
}

/// `PowerControl[0]` of a Power document: its `Name` and `PowerConsumedWatts`. `Ok(None)` when
/// there is no `PowerControl` entry (the chassis measures no power).
pub(crate) fn power_draw(doc: &Value) -> Result<Option<PowerDraw>, String> {
    let first = match doc.get("PowerControl") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(entries)) => match entries.first() {
            None => return Ok(None),
            Some(first) => first,
        },
        Some(other) => {
            return Err(format!("PowerControl is not an array: {}", quote(&other.to_string())))
        }
    };
    Ok(Some(PowerDraw {
        name: sensor_name(first, "PowerControl", 0),
        watts: reading(first, "PowerConsumedWatts", "PowerControl[0]")?,
    }))
}

/// What a Redfish error body says: `error.message` and every `@Message.ExtendedInfo[].Message`,
/// and the message ids, for classification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ErrorBody {
    /// The messages joined with `; `.
    pub(crate) message: String,
    /// `error.code` and every `MessageId`.
    pub(crate) ids: Vec<String>,
}

/// Reads a Redfish error body (`{"error": {"code", "message", "@Message.ExtendedInfo"}}`);
/// `None` when the body is not one.
pub(crate) fn error_body(body: &str) -> Option<ErrorBody> {
    let doc: Value = serde_json::from_str(body).ok()?;
    let error = doc.get("error")?;
    let mut messages = Vec::new();
    let mut ids = Vec::new();
    if let Some(message) = error.get("message").and_then(Value::as_str) {
        messages.push(message.to_string());
    }
    if let Some(code) = error.get("code").and_then(Value::as_str) {
        ids.push(code.to_string());
    }
    for info in error.get("@Message.ExtendedInfo").and_then(Value::as_array).into_iter().flatten() {
        if let Some(message) = info.get("Message").and_then(Value::as_str) {
            if !messages.iter().any(|seen| seen == message) {
                messages.push(message.to_string());
            }
        }
        if let Some(id) = info.get("MessageId").and_then(Value::as_str) {
            ids.push(id.to_string());
        }
    }
    Some(ErrorBody { message: messages.join("; "), ids })
}

/// What a failed HTTP status means for the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 401 or 403: the credentials (or the session) were refused.
    Authentication,
    /// 405, 501, or a 400 whose message id says a value or action is not supported.
    Unsupported,
    /// 404: nothing at that path.
    NotFound,
    /// Anything else (400, 409, 5xx, an unexpected 3xx).
    Other,
}

/// Message ids (the part after the registry prefix, `Base.1.8.`) that mean "the BMC does not
/// support this", from DMTF's Base message registry.
const UNSUPPORTED_IDS: &[&str] = &[
    "ActionNotSupported",
    "ActionParameterNotSupported",
    "ActionParameterValueNotInList",
    "ActionParameterValueTypeError",
    "PropertyValueNotInList",
    "OperationNotAllowed",
];

/// Classifies a failed reply by its status and body, and says what the BMC said: the Redfish
/// message when the body is an error body, else a quote of the body (empty for none).
pub(crate) fn classify(status: u16, body: &str) -> (Failure, String) {
    let parsed = error_body(body);
    let said = match &parsed {
        Some(error) if !error.message.is_empty() => error.message.clone(),
        Some(error) => error.ids.join(", "),
        None => quote(body),
    };
    let unsupported_id = parsed.is_some_and(|error| {
        error.ids.iter().any(|id| {
            let name = id.rsplit('.').next().unwrap_or(id);
            UNSUPPORTED_IDS.contains(&name)
        })
    });
    let failure = match status {
        401 | 403 => Failure::Authentication,
        404 => Failure::NotFound,
        405 | 501 => Failure::Unsupported,
        400 if unsupported_id => Failure::Unsupported,
        _ => Failure::Other,
    };
    (failure, said)
}
