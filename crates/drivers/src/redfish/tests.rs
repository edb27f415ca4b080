//! Unit tests of the Redfish driver that need no BMC: the JSON readers (on documents shaped like
//! sushy-emulator 2.2.0's and DMTF's public mockups, some malformed), the classification of
//! HTTP failures, address and configuration checks, and the password's redaction. The tests
//! against sushy-emulator are in tests/it/redfish.rs.

use serde_json::{json, Value};

use super::parse::{self, Failure};
use super::*;
use crate::clock::ManualClock;
use crate::sensors::SensorValue;

/// A ComputerSystem as sushy-emulator 2.2.0 serves it (trimmed).
fn sushy_system(power_state: &str) -> Value {
    json!({
        "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
        "Id": "00000000-0000-0000-0000-000000000002",
        "Name": "host2",
        "PowerState": power_state,
        "Links": {
            "Chassis": [{ "@odata.id": "/redfish/v1/Chassis/15693887-7984-9484-3272-842188918912" }],
            "ManagedBy": [{ "@odata.id": "/redfish/v1/Managers/58893887-8974-2487-2389-841168418919" }]
        },
        "Actions": {
            "#ComputerSystem.Reset": {
                "target": "/redfish/v1/Systems/00000000-0000-0000-0000-000000000002/Actions/ComputerSystem.Reset",
                "ResetType@Redfish.AllowableValues": [
                    "On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi", "ForceOn"
                ]
            }
        },
        "@odata.id": "/redfish/v1/Systems/00000000-0000-0000-0000-000000000002"
    })
}

#[test]
fn a_system_gives_its_power_state_reset_action_and_chassis() {
    let system = parse::system(&sushy_system("Off")).unwrap();
    assert_eq!(system.power, PowerState::Off);
    assert_eq!(system.power_raw.as_deref(), Some("Off"));
    let reset = system.reset.unwrap();
    assert!(reset.target.ends_with("/Actions/ComputerSystem.Reset"), "{}", reset.target);
    assert_eq!(reset.allowed.unwrap()[..3], ["On", "ForceOff", "GracefulShutdown"]);
    assert_eq!(reset.action_info, None);
    assert_eq!(
        system.chassis.as_deref(),
        Some("/redfish/v1/Chassis/15693887-7984-9484-3272-842188918912")
    );
}

#[test]
fn power_states_map_to_the_state_being_left_while_in_transition() {
    let cases = [
        (Some("On"), PowerState::On),
        (Some("Off"), PowerState::Off),
        (Some("PoweringOn"), PowerState::Off),
        (Some("PoweringOff"), PowerState::On),
        (Some("Paused"), PowerState::On),
        (Some("Sleeping"), PowerState::Unknown),
        (None, PowerState::Unknown),
    ];
    for (raw, expected) in cases {
        assert_eq!(parse::power_state(raw), expected, "{raw:?}");
    }
    let mut no_state = sushy_system("On");
    no_state["PowerState"] = Value::Null;
    assert_eq!(parse::system(&no_state).unwrap().power, PowerState::Unknown);
}

#[test]
fn a_system_without_allowable_values_may_name_an_action_info() {
    let mut doc = sushy_system("On");
    let action = &mut doc["Actions"]["#ComputerSystem.Reset"];
    action.as_object_mut().unwrap().remove("ResetType@Redfish.AllowableValues");
    action["@Redfish.ActionInfo"] = json!("/redfish/v1/Systems/1/ResetActionInfo");
    let reset = parse::system(&doc).unwrap().reset.unwrap();
    assert_eq!(reset.allowed, None);
    assert_eq!(reset.action_info.as_deref(), Some("/redfish/v1/Systems/1/ResetActionInfo"));

    // DMTF mockup "public-rackmount1" ResetActionInfo.
    let info = json!({
        "@odata.type": "#ActionInfo.v1_1_2.ActionInfo",
        "Id": "ResetActionInfo",
        "Parameters": [{
            "Name": "ResetType", "Required": true, "DataType": "String",
            "AllowableValues": ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi", "ForceOn", "PushPowerButton", "PowerCycle"]
        }]
    });
    let allowed = parse::action_info_reset_types(&info).unwrap().unwrap();
    assert!(allowed.contains(&"PowerCycle".to_string()), "{allowed:?}");
    assert_eq!(parse::action_info_reset_types(&json!({"Parameters": []})), Ok(None));
    assert!(parse::action_info_reset_types(&json!({})).unwrap_err().contains("without Parameters"));
}

#[test]
fn malformed_systems_say_what_is_wrong() {
    assert!(parse::system(&json!([1, 2])).unwrap_err().starts_with("not a ComputerSystem"));
    let mut no_target = sushy_system("On");
    no_target["Actions"]["#ComputerSystem.Reset"].as_object_mut().unwrap().remove("target");
    assert!(parse::system(&no_target).unwrap_err().contains("#ComputerSystem.Reset has no target"));
    let mut bad_values = sushy_system("On");
    bad_values["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"] =
        json!("On");
    assert!(parse::system(&bad_values).unwrap_err().contains("not a list of strings"));
    let mut no_actions = sushy_system("On");
    no_actions.as_object_mut().unwrap().remove("Actions");
    assert_eq!(parse::system(&no_actions).unwrap().reset, None);
}

#[test]
fn collections_give_their_first_member() {
    let systems = json!({
        "Members@odata.count": 2,
        "Members": [
            { "@odata.id": "/redfish/v1/Systems/00000000-0000-0000-0000-000000000001" },
            { "@odata.id": "/redfish/v1/Systems/00000000-0000-0000-0000-000000000002" }
        ]
    });
    assert_eq!(
        parse::first_member(&systems).unwrap().as_deref(),
        Some("/redfish/v1/Systems/00000000-0000-0000-0000-000000000001")
    );
    assert_eq!(parse::first_member(&json!({ "Members": [] })), Ok(None));
    assert!(parse::first_member(&json!({})).unwrap_err().starts_with("no Members array"));
    assert!(parse::first_member(&json!({ "Members": [{}] })).unwrap_err().contains("no @odata.id"));
}

/// A Thermal document shaped like sushy-emulator's template, plus a sensor with no reading.
fn thermal() -> Value {
    json!({
        "@odata.type": "#Thermal.v1_3_0.Thermal",
        "Temperatures": [
            { "MemberId": "0", "Name": "CPU Temp", "Status": { "State": "Enabled", "Health": "OK" }, "ReadingCelsius": 41 },
            { "MemberId": "1", "Name": "Chassis Intake Temp", "Status": { "State": "Enabled" }, "ReadingCelsius": 25.5 },
            { "MemberId": "2", "Name": "PSU Temp", "Status": { "State": "Enabled" }, "ReadingCelsius": null },
            { "MemberId": "3", "Name": "DIMM Temp", "Status": { "State": "Absent" } },
            { "MemberId": "4" }
        ],
        "Fans": []
    })
}

#[test]
fn temperatures_read_celsius_and_a_missing_reading_is_unavailable_never_zero() {
    let temps = parse::temperatures(&thermal()).unwrap();
    let shown: Vec<(String, SensorValue)> =
        temps.into_iter().map(|t| (t.name, t.celsius)).collect();
    assert_eq!(
        shown,
        [
            ("CPU Temp".to_string(), SensorValue::Value(41.0)),
            ("Chassis Intake Temp".to_string(), SensorValue::Value(25.5)),
            ("PSU Temp".to_string(), SensorValue::Unavailable("ReadingCelsius is null".into())),
            (
                "DIMM Temp".to_string(),
                SensorValue::Unavailable("Status.State Absent, no ReadingCelsius".into())
            ),
            ("Temperatures 4".to_string(), SensorValue::Unavailable("no ReadingCelsius".into())),
        ]
    );
    assert_eq!(parse::temperatures(&json!({ "Fans": [] })), Ok(Vec::new()));
}

#[test]
fn malformed_temperatures_name_the_entry() {
    let doc = json!({ "Temperatures": [{ "Name": "CPU Temp", "ReadingCelsius": "41" }] });
    assert_eq!(
        parse::temperatures(&doc).unwrap_err(),
        "Temperatures[0].ReadingCelsius is \"41\", not a number"
    );
    let doc = json!({ "Temperatures": { "Name": "CPU Temp" } });
    assert!(parse::temperatures(&doc).unwrap_err().starts_with("Temperatures is not an array"));
}

#[test]
fn power_draw_reads_the_first_power_control() {
    // DMTF mockup "public-rackmount1" Power (trimmed).
    let doc = json!({
        "PowerControl": [
            { "MemberId": "0", "Name": "Server Power Control", "PowerConsumedWatts": 344, "PowerCapacityWatts": 800 },
            { "MemberId": "1", "Name": "Other", "PowerConsumedWatts": 12 }
        ]
    });
    let draw = parse::power_draw(&doc).unwrap().unwrap();
    assert_eq!(
        (draw.name.as_str(), draw.watts),
        ("Server Power Control", SensorValue::Value(344.0))
    );
    let null = json!({ "PowerControl": [{ "Name": "System Power", "PowerConsumedWatts": null }] });
    assert_eq!(
        parse::power_draw(&null).unwrap().unwrap().watts,
        SensorValue::Unavailable("PowerConsumedWatts is null".into())
    );
    assert_eq!(parse::power_draw(&json!({ "PowerControl": [] })), Ok(None));
    assert_eq!(parse::power_draw(&json!({ "Voltages": [] })), Ok(None));
    assert!(parse::power_draw(&json!({ "PowerControl": 3 })).unwrap_err().contains("not an array"));
}

#[test]
fn a_chassis_links_its_thermal_and_power_resources() {
    let doc = json!({
        "Id": "1U",
        "Thermal": { "@odata.id": "/redfish/v1/Chassis/1U/Thermal" },
        "Power": { "@odata.id": "/redfish/v1/Chassis/1U/Power" }
    });
    let chassis = parse::chassis(&doc).unwrap();
    assert_eq!(chassis.thermal.as_deref(), Some("/redfish/v1/Chassis/1U/Thermal"));
    assert_eq!(chassis.power.as_deref(), Some("/redfish/v1/Chassis/1U/Power"));
    // sushy-emulator's chassis links Thermal only.
    let sushy = json!({ "Id": "x", "Thermal": { "@odata.id": "/redfish/v1/Chassis/x/Thermal" } });
    assert_eq!(parse::chassis(&sushy).unwrap().power, None);
}

#[test]
fn replies_that_are_not_json_are_quoted_and_cut() {
    let err = parse::json("<html>Service Unavailable</html>").unwrap_err();
    assert!(err.starts_with("not JSON (expected value at line 1 column 1)"), "{err}");
    assert!(err.ends_with("<html>Service Unavailable</html>"), "{err}");
    let long = "x".repeat(500);
    let quoted = parse::quote(&long);
    assert_eq!(quoted.chars().count(), 201);
    assert!(quoted.ends_with('…'));
}

/// sushy-emulator's error body (`_render_error`).
fn sushy_error(message: &str) -> String {
    json!({
        "error": {
            "code": "Base.1.0.GeneralError",
            "message": message,
            "@Message.ExtendedInfo": [{
                "@odata.type": "/redfish/v1/$metadata#Message.1.0.0.Message",
                "MessageId": "Base.1.0.GeneralError"
            }]
        }
    })
    .to_string()
}

#[test]
fn http_failures_are_classified_by_status_and_message_id() {
    let bogus = sushy_error("Power state Bogus is not supported");
    assert_eq!(
        parse::classify(501, &bogus),
        (Failure::Unsupported, "Power state Bogus is not supported".to_string())
    );
    assert_eq!(
        parse::classify(401, &sushy_error("Incorrect credentials")).0,
        Failure::Authentication
    );
    assert_eq!(parse::classify(403, "").0, Failure::Authentication);
    assert_eq!(parse::classify(404, &sushy_error("Not found")).0, Failure::NotFound);
    assert_eq!(parse::classify(405, "").0, Failure::Unsupported);
    assert_eq!(parse::classify(500, "oops"), (Failure::Other, "oops".to_string()));

    // A 400 is unsupported only when a message id says so (DMTF Base registry).
    let not_in_list = json!({
        "error": {
            "code": "Base.1.8.GeneralError",
            "message": "A general error has occurred. See ExtendedInfo for more information.",
            "@Message.ExtendedInfo": [{
                "MessageId": "Base.1.8.ActionParameterValueNotInList",
                "Message": "The value Bogus for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values."
            }]
        }
    })
    .to_string();
    let (failure, said) = parse::classify(400, &not_in_list);
    assert_eq!(failure, Failure::Unsupported);
    assert!(said.ends_with("is not in the list of acceptable values."), "{said}");
    assert!(said.starts_with("A general error has occurred"), "{said}");
    assert_eq!(parse::classify(400, &sushy_error("Bad request")).0, Failure::Other);
}

#[test]
fn addresses_must_be_scheme_host_and_port() {
    let (_, origin) = client::origin("https://10.0.0.5").unwrap();
    assert_eq!(origin, "https://10.0.0.5:443");
    let (_, origin) = client::origin("http://127.0.0.1:8000/").unwrap();
    assert_eq!(origin, "http://127.0.0.1:8000");
    let (_, origin) = client::origin("https://[::1]:8443").unwrap();
    assert_eq!(origin, "https://[::1]:8443");
    for (address, why) in [
        ("10.0.0.5", "relative URL without a base"),
        ("ftp://10.0.0.5", "scheme \"ftp\" is not https or http"),
        ("https://admin:pw@10.0.0.5", "credentials belong in `user`"),
        ("https://10.0.0.5/redfish/v1", "give only scheme, host and port"),
    ] {
        let err = client::origin(address).unwrap_err();
        assert!(err.contains(why), "{address}: {err}");
    }
}

fn driver() -> RedfishDriver {
    RedfishDriver::new(RedfishOptions::default(), Arc::new(ManualClock::new()))
}

fn bmc() -> RedfishBmc {
    RedfishBmc::new("https://127.0.0.1:8443", "admin", Password::new("s3cret-pw"))
}

#[test]
fn configuration_errors_name_the_host_and_setting() {
    let host = HostId::new("h1");
    let mut d = driver();
    let err = d.add_host(host.clone(), RedfishBmc { address: "10.0.0.5".into(), ..bmc() });
    assert_eq!(
        err.unwrap_err().to_string(),
        "host h1: Redfish address \"10.0.0.5\": relative URL without a base; expected \
         https://host[:port] (or http://host[:port])"
    );
    let err = d.add_host(host.clone(), RedfishBmc { system: Some("a/b".into()), ..bmc() });
    assert_eq!(
        err.unwrap_err().to_string(),
        "host h1: Redfish system \"a/b\": expected an Id or a path under /redfish/v1/"
    );
    let err = d.add_host(
        host.clone(),
        RedfishBmc { ca_file: Some("/nonexistent/ca.pem".into()), ..bmc() },
    );
    assert!(err
        .unwrap_err()
        .to_string()
        .starts_with("host h1: Redfish CA file /nonexistent/ca.pem: No such file"),);
    let both =
        RedfishBmc { ca_file: Some("/etc/hostname".into()), insecure_skip_verify: true, ..bmc() };
    assert!(matches!(
        d.add_host(host.clone(), both),
        Err(RedfishConfigError::ConflictingTls { .. })
    ));
    let plain =
        RedfishBmc { address: "http://127.0.0.1:8000".into(), insecure_skip_verify: true, ..bmc() };
    assert!(matches!(
        d.add_host(host.clone(), plain),
        Err(RedfishConfigError::TlsWithoutHttps { .. })
    ));
    let not_pem = RedfishBmc { ca_file: Some("/etc/hostname".into()), ..bmc() };
    assert!(d
        .add_host(host.clone(), not_pem)
        .unwrap_err()
        .to_string()
        .ends_with("no PEM certificate in it"));
    assert!(d.bmc_origin(&host).is_none(), "nothing was added");

    d.add_host(host.clone(), RedfishBmc { system: Some("System.Embedded.1".into()), ..bmc() })
        .unwrap();
    assert_eq!(d.bmc_origin(&host), Some("https://127.0.0.1:8443"));
    assert_eq!(
        lock(&d.bmcs[&host].system).as_deref(),
        Some("/redfish/v1/Systems/System.Embedded.1")
    );
}

#[test]
fn resource_settings_take_an_id_or_a_path() {
    assert_eq!(resource_path("Systems", "1").as_deref(), Some("/redfish/v1/Systems/1"));
    assert_eq!(
        resource_path("Chassis", "/redfish/v1/Chassis/1U/").as_deref(),
        Some("/redfish/v1/Chassis/1U")
    );
    assert_eq!(resource_path("Systems", ""), None);
    assert_eq!(resource_path("Systems", "/redfish/v1/"), None);
    assert_eq!(resource_path("Systems", "Systems/1"), None);
}

#[test]
fn the_password_is_never_shown() {
    assert_eq!(format!("{:?}", bmc().password), "Password(<redacted>)");
    assert!(!format!("{:?}", bmc()).contains("s3cret"));
    let err = Password::from_env("HEARTH_TEST_SURELY_UNSET_PASSWORD_VAR").unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable HEARTH_TEST_SURELY_UNSET_PASSWORD_VAR (a BMC password): not set"
    );
}

#[test]
fn reset_types_are_on_force_off_and_graceful_shutdown() {
    assert_eq!(reset_type(PowerOp::On), "On");
    assert_eq!(reset_type(PowerOp::Off), "ForceOff");
    assert_eq!(reset_type(PowerOp::SoftOff), "GracefulShutdown");
}

#[test]
fn unknown_hosts_and_operations_are_named() {
    let d = driver();
    let err = d.state(&HostId::new("h9")).unwrap_err();
    assert_eq!(err.to_string(), "host h9: not known to this driver");
    let err = d.poll(OperationId::new(3)).unwrap_err();
    assert!(matches!(err, DriverError::UnknownOperation { .. }), "{err}");
}

#[test]
fn a_refused_connection_is_unreachable_and_names_the_bmc_and_request() {
    // A loopback port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut d = driver();
    let host = HostId::new("h1");
    d.add_host(
        host.clone(),
        RedfishBmc::new(format!("http://127.0.0.1:{port}"), "admin", Password::new("s3cret-pw")),
    )
    .unwrap();
    let err = d.state(&host).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DriverError::Unreachable { .. }), "{text}");
    assert!(
        text.starts_with(&format!(
            "host h1: BMC http://127.0.0.1:{port} unreachable: GET /redfish/v1/Systems: error \
             sending request"
        )),
        "{text}"
    );
    assert!(text.contains("Connection refused"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

/// A loopback HTTP server that answers its next connections with `replies`, in order (one
/// request per connection: each reply closes it), and returns the request lines it saw.
fn serve(replies: Vec<String>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for reply in replies {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            seen.push(line.trim().to_string());
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            std::io::Read::read_exact(&mut reader, &mut body).unwrap();
            reader.get_mut().write_all(reply.as_bytes()).unwrap();
        }
        seen
    });
    (address, server)
}

/// An HTTP/1.1 reply that closes its connection.
fn reply(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn driver_at(address: &str) -> RedfishDriver {
    let mut d = driver();
    let bmc = RedfishBmc {
        system: Some("1".into()),
        ..RedfishBmc::new(address, "admin", Password::new("s3cret-pw"))
    };
    d.add_host(HostId::new("h1"), bmc).unwrap();
    d
}

#[test]
fn a_reply_that_is_not_json_is_malformed_and_quoted() {
    let (address, server) =
        serve(vec![reply("200 OK", "Content-Type: text/html\r\n", "<html>BMC busy</html>")]);
    let err = driver_at(&address).state(&HostId::new("h1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC {address}: malformed reply to `GET /redfish/v1/Systems/1`: \"not JSON \
             (expected value at line 1 column 1): <html>BMC busy</html>\""
        )
    );
    assert_eq!(server.join().unwrap(), ["GET /redfish/v1/Systems/1 HTTP/1.1"]);
}

#[test]
fn a_redirect_to_another_origin_is_not_followed() {
    // Another origin on loopback (another port): were it followed, it would be refused.
    let (address, server) = serve(vec![reply(
        "307 Temporary Redirect",
        "Location: http://127.0.0.1:1/redfish/v1/Systems/1\r\n",
        "",
    )]);
    let err = driver_at(&address).state(&HostId::new("h1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC {address}: `GET /redfish/v1/Systems/1` failed (HTTP 307 Temporary \
             Redirect): redirected to http://127.0.0.1:1/redfish/v1/Systems/1, outside the BMC's \
             origin: not followed, so the credentials stay with the BMC"
        )
    );
    server.join().unwrap();
}

#[test]
fn a_reset_refused_with_a_not_in_list_message_is_unsupported_and_a_conflict_is_a_failure() {
    // No AllowableValues: the driver sends, and the BMC's answer decides.
    let mut system = sushy_system("Off");
    system["Actions"]["#ComputerSystem.Reset"]
        .as_object_mut()
        .unwrap()
        .remove("ResetType@Redfish.AllowableValues");
    let system = system.to_string();
    let json = "Content-Type: application/json\r\n";
    let not_in_list = json!({ "error": {
        "code": "Base.1.8.GeneralError",
        "message": "A general error has occurred. See ExtendedInfo for more information.",
        "@Message.ExtendedInfo": [{
            "MessageId": "Base.1.8.ActionParameterValueNotInList",
            "Message": "The value On for the parameter ResetType is not in the list of acceptable values."
        }]
    }})
    .to_string();
    let conflict = json!({ "error": { "code": "Base.1.8.ResourceInUse", "message": "The change could not be made because the resource was in use or in transition." } }).to_string();
    let (address, server) = serve(vec![
        reply("200 OK", json, &system),
        reply("400 Bad Request", json, &not_in_list),
        reply("200 OK", json, &system),
        reply("409 Conflict", json, &conflict),
    ]);
    let d = driver_at(&address);
    let host = HostId::new("h1");
    let err = d.request(&host, PowerOp::On).unwrap_err();
    assert!(matches!(err, DriverError::Unsupported { .. }), "{err}");
    assert!(err.to_string().ends_with("is not in the list of acceptable values."), "{err}");
    let err = d.request(&host, PowerOp::On).unwrap_err();
    let target =
        "/redfish/v1/Systems/00000000-0000-0000-0000-000000000002/Actions/ComputerSystem.Reset";
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC {address}: `POST {target}` failed (HTTP 409 Conflict): The change \
             could not be made because the resource was in use or in transition."
        )
    );
    let seen = server.join().unwrap();
    assert_eq!(seen[1], format!("POST {target} HTTP/1.1"));
}
