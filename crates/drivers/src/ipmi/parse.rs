//! Pure parsers of ipmitool's output: `chassis power status`, `chassis power on|off|soft`, the
//! `sdr type temperature` and `sdr elist` tables, and the classification of a failed run's
//! stderr (wrong credentials, unreachable, unsupported). No I/O; unit-tested on outputs
//! captured from ipmitool 1.8.19 against openipmi's ipmi_sim and on typical BMC tables.

use crate::power::PowerState;
use crate::sensors::{PowerDraw, SensorValue, Temperature};

/// `Chassis Power is on|off` (stdout of `chassis power status`); `None` for anything else.
pub(crate) fn power_status(stdout: &str) -> Option<PowerState> {
    stdout.lines().find_map(|line| match line.trim() {
        "Chassis Power is on" => Some(PowerState::On),
        "Chassis Power is off" => Some(PowerState::Off),
        _ => None,
    })
}

/// Whether stdout of `chassis power on|off|soft` is the acknowledgement
/// `Chassis Power Control: Up/On` (or `Down/Off`, `Soft`, …).
pub(crate) fn control_acknowledged(stdout: &str) -> bool {
    stdout.lines().any(|line| line.trim().starts_with("Chassis Power Control: "))
}

/// One row of ipmitool's extended SDR table (`sdr elist`, `sdr type …`):
/// `CPU Temp | 01h | ok | 3.1 | 45 degrees C`.
struct Row<'a> {
    name: &'a str,
    status: &'a str,
    reading: &'a str,
}

/// What a row's reading column holds.
enum Reading<'a> {
    /// An analog value and its unit (`45` and `degrees C`).
    Number(f64, &'a str),
    /// No value, and why (`ns: No Reading`).
    Missing(String),
    /// A discrete sensor's state text (`Device Present`, `0x00`): not a measurement.
    State,
}

/// The rows of an extended SDR table, or the first line that is not one.
fn rows(stdout: &str) -> Result<Vec<Row<'_>>, String> {
    let mut rows = Vec::new();
    for line in stdout.lines().filter(|line| !line.trim().is_empty()) {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        match fields.as_slice() {
            [name, _id, status, _entity, reading] if !name.is_empty() => {
                rows.push(Row { name, status, reading })
            }
            _ => return Err(line.to_string()),
        }
    }
    Ok(rows)
}

impl<'a> Row<'a> {
    fn reading(&self) -> Reading<'a> {
        let reading = self.reading;
        if self.status == "ns" || matches!(reading, "" | "No Reading" | "Disabled") {
            return Reading::Missing(format!("{}: {}", self.status, reading));
        }
        let (number, unit) = reading.split_once(' ').unwrap_or((reading, ""));
        match number.parse::<f64>() {
            Ok(value) if value.is_finite() => Reading::Number(value, unit.trim()),
            _ => Reading::State,
        }
    }
}

/// The temperatures in stdout of `sdr type temperature`, in °C (°F readings converted).
/// Discrete temperature sensors (state text, no value) are skipped; a row that is not a table
/// row, or an analog reading in a unit that is not a temperature, is `Err(line)`.
pub(crate) fn temperatures(stdout: &str) -> Result<Vec<Temperature>, String> {
    let mut temperatures = Vec::new();
    for row in rows(stdout)? {
        let celsius = match row.reading() {
            Reading::Number(value, "degrees C") => SensorValue::Value(value),
            Reading::Number(value, "degrees F") => SensorValue::Value((value - 32.0) * 5.0 / 9.0),
            Reading::Number(..) => return Err(row_text(&row)),
            Reading::Missing(why) => SensorValue::Unavailable(why),
            Reading::State => continue,
        };
        temperatures.push(Temperature { name: row.name.to_string(), celsius });
    }
    Ok(temperatures)
}

/// The power draw in stdout of `sdr elist`: the sensor named `wanted` if given (`Ok(None)` if
/// there is no such row), else the first row reading in `Watts` (`Ok(None)` if none does). A
/// malformed table, or a `wanted` sensor that is not in Watts, is `Err(line)`.
pub(crate) fn power_draw(stdout: &str, wanted: Option<&str>) -> Result<Option<PowerDraw>, String> {
    let rows = rows(stdout)?;
    let found = match wanted {
        Some(wanted) => rows.iter().find(|row| row.name == wanted),
        None => rows.iter().find(|row| matches!(row.reading(), Reading::Number(_, "Watts"))),
    };
    let Some(row) = found else { return Ok(None) };
    let watts = match row.reading() {
        Reading::Number(value, "Watts") => SensorValue::Value(value),
        Reading::Missing(why) => SensorValue::Unavailable(why),
        Reading::Number(..) | Reading::State => return Err(row_text(row)),
    };
    Ok(Some(PowerDraw { name: row.name.to_string(), watts }))
}

fn row_text(row: &Row<'_>) -> String {
    format!("{} | {} | {}", row.name, row.status, row.reading)
}

/// What a failed ipmitool run's stderr says went wrong.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Wrong password or unknown user.
    Authentication(String),
    /// No answer from the BMC.
    Unreachable(String),
    /// The BMC refused the command as invalid for it.
    Unsupported(String),
    /// "Unable to establish IPMI v2 / RMCP+ session" and nothing more: without `-v` ipmitool
    /// prints this both for a wrong password and for a BMC that does not answer.
    NoSession(String),
    /// Anything else.
    Other(String),
}

/// Classifies a failed run by its stderr. The authentication and reachability causes are only
/// printed with `-v` (captured from ipmitool 1.8.19 against ipmi_sim):
/// - wrong password: `> RAKP 2 HMAC is invalid`
/// - unknown user: `RAKP 2 message indicates an error : unauthorized name`
/// - nothing listening: `Get Auth Capabilities error`, `Error issuing Get Channel
///   Authentication Capabilities request`
/// - no chassis control: `Set Chassis Power Control to Up/On failed: Invalid data field in
///   request`
pub(crate) fn classify(stderr: &str) -> Failure {
    let detail = detail(stderr);
    let has = |needle: &str| stderr.contains(needle);
    if has("RAKP 2 HMAC is invalid") {
        Failure::Authentication(format!("wrong password: {detail}"))
    } else if has("unauthorized name") {
        Failure::Authentication(format!("unknown user name: {detail}"))
    } else if has("Unable to read password from environment") {
        Failure::Authentication(format!("no password given: {detail}"))
    } else if has("Get Auth Capabilities error")
        || has("Error issuing Get Channel Authentication Capabilities")
        || has("Address lookup for")
        || has("No response from remote controller")
    {
        Failure::Unreachable(detail)
    } else if stderr.lines().any(|line| {
        line.contains("failed: ")
            && ["Invalid data field in request", "Invalid command", "not supported"]
                .iter()
                .any(|cause| line.contains(cause))
    }) {
        Failure::Unsupported(detail)
    } else if has("Unable to establish IPMI v2 / RMCP+ session") {
        Failure::NoSession(detail)
    } else {
        Failure::Other(detail)
    }
}

/// The lines of stderr worth quoting: without `-v`'s chatter, joined with `; `.
pub(crate) fn detail(stderr: &str) -> String {
    const CHATTER: [&str; 4] = [
        "Loading IANA PEN Registry",
        "Running Get VSO Capabilities",
        "Invalid completion code received: Invalid command",
        "Discovered IPMB address",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .map(|line| line.trim().trim_start_matches("> ").trim())
        .filter(|line| !line.is_empty() && !CHATTER.iter().any(|chatter| line.starts_with(chatter)))
        .collect();
    if lines.is_empty() {
        "no message".to_string()
    } else {
        lines.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sdr elist` from ipmi_sim with PEERS.md's bmc.emu and sdr.emu.
    const SIM_ELIST: &str = "CPU Temp         | 01h | ok  |  3.1 | 45 degrees C\n\
                             Sys Power        | 02h | ok  |  3.1 | 200 Watts\n";

    /// `sdr elist` in the shape of a Dell iDRAC's (names and numbers typical of one), with a
    /// discrete sensor, a disabled one and one not scanned.
    const BMC_ELIST: &str = "\
Fan1 RPM         | 30h | ok  |  7.1 | 5880 RPM
Inlet Temp       | 04h | ok  |  7.1 | 21 degrees C
Exhaust Temp     | 01h | ok  |  7.1 | 30 degrees C
Temp             | 0Eh | ok  |  3.1 | 41 degrees C
Temp             | 0Fh | ns  |  3.2 | Disabled
PS1 Status       | 63h | ok  | 10.1 | Presence detected
Current 1        | 6Ah | ok  | 10.1 | 0.60 Amps
Pwr Consumption  | 77h | ok  |  7.1 | 112 Watts
PS2 Temp         | 0Ah | ns  | 10.2 | No Reading
";

    #[test]
    fn power_status_reads_on_and_off_and_nothing_else() {
        assert_eq!(power_status("Chassis Power is on\n"), Some(PowerState::On));
        assert_eq!(power_status("Chassis Power is off\n"), Some(PowerState::Off));
        assert_eq!(power_status("Chassis Power is maybe\n"), None);
        assert_eq!(power_status(""), None);
        assert!(control_acknowledged("Chassis Power Control: Up/On\n"));
        assert!(control_acknowledged("Chassis Power Control: Soft\n"));
        assert!(!control_acknowledged("Chassis Power is on\n"));
    }

    #[test]
    fn temperatures_of_ipmi_sim() {
        let temps = temperatures("CPU Temp         | 01h | ok  |  3.1 | 45 degrees C\n").unwrap();
        assert_eq!(
            temps,
            vec![Temperature { name: "CPU Temp".into(), celsius: SensorValue::Value(45.0) }]
        );
    }

    #[test]
    fn temperatures_keep_missing_readings_apart_from_values() {
        let temps = temperatures(
            "Inlet Temp | 04h | ok | 7.1 | 21 degrees C\nTemp | 0Fh | ns | 3.2 | Disabled\n\
             PS2 Temp | 0Ah | ns | 10.2 | No Reading\nDIMM Temp | 11h | ok | 32.1 | 86 degrees F\n\
             CPU Trip | 12h | ok | 3.1 | Limit Not Exceeded\n",
        )
        .unwrap();
        let summary: Vec<(String, String)> =
            temps.iter().map(|t| (t.name.clone(), t.celsius.to_string())).collect();
        assert_eq!(
            summary,
            [
                ("Inlet Temp", "21"),
                ("Temp", "unavailable (ns: Disabled)"),
                ("PS2 Temp", "unavailable (ns: No Reading)"),
                ("DIMM Temp", "30"),
            ]
            .map(|(name, value)| (name.to_string(), value.to_string()))
        );
    }

    #[test]
    fn malformed_tables_quote_the_offending_line() {
        assert_eq!(
            temperatures("CPU Temp | 45 degrees C | ok\n"),
            Err("CPU Temp | 45 degrees C | ok".to_string())
        );
        assert_eq!(
            temperatures("CPU Temp | 01h | ok | 3.1 | 12 Volts\n"),
            Err("CPU Temp | ok | 12 Volts".to_string())
        );
        assert_eq!(
            power_draw("Unable to get sensor data\n", None),
            Err("Unable to get sensor data".to_string())
        );
        assert_eq!(
            power_draw(BMC_ELIST, Some("Inlet Temp")),
            Err("Inlet Temp | ok | 21 degrees C".to_string())
        );
        assert_eq!(
            temperatures(" | 01h | ok | 3.1 | 45 degrees C"),
            Err(" | 01h | ok | 3.1 | 45 degrees C".into())
        );
    }

    #[test]
    fn power_draw_is_the_first_watts_row_or_the_named_one() {
        let draw = power_draw(SIM_ELIST, None).unwrap().unwrap();
        assert_eq!(draw, PowerDraw { name: "Sys Power".into(), watts: SensorValue::Value(200.0) });
        let draw = power_draw(BMC_ELIST, None).unwrap().unwrap();
        assert_eq!(draw.name, "Pwr Consumption");
        assert_eq!(draw.watts, SensorValue::Value(112.0));
        let draw = power_draw(BMC_ELIST, Some("PS2 Temp")).unwrap().unwrap();
        assert_eq!(draw.watts, SensorValue::Unavailable("ns: No Reading".into()));
        assert_eq!(power_draw(BMC_ELIST, Some("PSU Power")), Ok(None));
        assert_eq!(power_draw("CPU Temp | 01h | ok | 3.1 | 45 degrees C\n", None), Ok(None));
        assert_eq!(power_draw("", None), Ok(None));
    }

    #[test]
    fn classify_tells_credentials_from_reachability() {
        // ipmitool -v … against ipmi_sim, password "wrong".
        let wrong_password = "Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\n\
                              Error: Unable to establish IPMI v2 / RMCP+ session\n";
        assert_eq!(
            classify(wrong_password),
            Failure::Authentication(
                "wrong password: RAKP 2 HMAC is invalid; Error: Unable to establish IPMI v2 / \
                 RMCP+ session"
                    .into()
            )
        );
        // User "nobody".
        let wrong_user = "Loading IANA PEN Registry...\nRAKP 2 message indicates an error : \
                          unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session\n";
        assert!(
            matches!(classify(wrong_user), Failure::Authentication(d) if d.starts_with("unknown user"))
        );
        // Nothing on the port, -N 1 -R 1.
        let unreachable = "Loading IANA PEN Registry...\nGet Auth Capabilities error\nError \
                           issuing Get Channel Authentication Capabilities request\nError: Unable \
                           to establish IPMI v2 / RMCP+ session\n";
        assert!(matches!(classify(unreachable), Failure::Unreachable(_)));
        // Without -v both look the same.
        assert!(matches!(
            classify("Error: Unable to establish IPMI v2 / RMCP+ session\n"),
            Failure::NoSession(_)
        ));
        // ipmi_sim without a chassis_control program.
        let unsupported =
            "Set Chassis Power Control to Up/On failed: Invalid data field in request\n";
        assert_eq!(classify(unsupported), Failure::Unsupported(unsupported.trim().into()));
        // -v's own probe failing is chatter, not an unsupported command.
        let chatter = "Loading IANA PEN Registry...\nRunning Get VSO Capabilities my_addr 0x20, \
                       transit 0, target 0x20\nInvalid completion code received: Invalid command\n\
                       Discovered IPMB address 0x0\nSensor \"Nope\" not found!\n";
        assert_eq!(classify(chatter), Failure::Other("Sensor \"Nope\" not found!".into()));
        assert_eq!(classify(""), Failure::Other("no message".into()));
    }
}
