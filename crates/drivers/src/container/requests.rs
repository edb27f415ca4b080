//! The Docker API requests the driver makes, one method each, typed for what the driver needs:
//! list (by hearth's label), inspect, one-shot stats, create, start, kill, remove, image
//! inspect, info and version. Each is one `block_on` within the driver's call timeout.

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, RemoveContainerOptions,
    StatsOptions,
};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::engine::{Engine, EngineError, Runtime};
use super::{LABEL_INSTANCE, LABEL_MOVE};

/// One engine, the runtime to block on and the limit for each request.
pub(super) struct Api<'a> {
    pub(super) engine: &'a Engine,
    pub(super) runtime: &'a Runtime,
    pub(super) timeout: Duration,
}

/// A container that carries hearth's instance label, as the list request gives it.
#[derive(Clone, Debug)]
pub(super) struct Listed {
    /// The engine's container ID.
    pub(super) id: String,
    /// The instance it is (the label's value).
    pub(super) instance: String,
    /// The move that made it, if it is a moved copy ([`super::LABEL_MOVE`]).
    pub(super) move_op: Option<String>,
}

/// One CPU sample from the stats request.
#[derive(Clone, Copy, Debug)]
pub(super) struct CpuStat {
    /// CPU time the container used since it started (ns).
    pub(super) total_ns: u64,
    /// CPUs the engine's host has online, if it says.
    pub(super) online_cpus: Option<u32>,
}

impl Api<'_> {
    /// Containers labelled as hearth instances (stopped ones too); only `instance`'s if given.
    /// Containers whose label is empty are not instances.
    pub(super) fn list(&self, instance: Option<&str>) -> Result<Vec<Listed>, EngineError> {
        let label = match instance {
            Some(instance) => format!("{LABEL_INSTANCE}={instance}"),
            None => LABEL_INSTANCE.to_string(),
        };
        let filters = HashMap::from([("label".to_string(), vec![label])]);
        let options =
            ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let command = "GET /containers/json?all=true (label filter)";
        let found = self.engine.call(self.runtime, self.timeout, command, |docker| async move {
            docker.list_containers(Some(options)).await.or_else(read_again)
        })?;
        let mut listed: Vec<Listed> = found
            .into_iter()
            .filter_map(|summary| {
                let id = summary.id?;
                let mut labels = summary.labels?;
                let instance = labels.remove(LABEL_INSTANCE)?;
                let move_op = labels.remove(LABEL_MOVE);
                (!instance.is_empty()).then_some(Listed { id, instance, move_op })
            })
            .collect();
        listed.sort_by(|a, b| (&a.instance, &a.id).cmp(&(&b.instance, &b.id)));
        Ok(listed)
    }

    /// The container's full description; `None` if the engine has no such container.
    pub(super) fn inspect(
        &self,
        container: &str,
    ) -> Result<Option<ContainerInspectResponse>, EngineError> {
        let command = format!("GET /containers/{container}/json");
        let name = container.to_string();
        let found = self.engine.call(self.runtime, self.timeout, command, |docker| async move {
            docker.inspect_container(&name, None).await.or_else(read_again)
        });
        match found {
            Ok(inspect) => Ok(Some(inspect)),
            Err(error) if error.not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// One CPU sample (`stream=false&one-shot=true`: the engine does not wait to fill in a
    /// previous sample); `None` if the answer has no CPU figures.
    pub(super) fn cpu(&self, container: &str) -> Result<Option<CpuStat>, EngineError> {
        let command = format!("GET /containers/{container}/stats?stream=false&one-shot=true");
        let name = container.to_string();
        let options = StatsOptions { stream: false, one_shot: true };
        let sample =
            self.engine.call(self.runtime, self.timeout, command, |docker| async move {
                docker.stats(&name, Some(options)).next().await.transpose()
            })?;
        Ok(sample.and_then(|sample| {
            let cpu = sample.cpu_stats?;
            let total_ns = cpu.cpu_usage?.total_usage?;
            Some(CpuStat { total_ns, online_cpus: cpu.online_cpus })
        }))
    }

    /// Creates a container named `name`; its ID.
    pub(super) fn create(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, EngineError> {
        let command = format!("POST /containers/create?name={name}");
        let options = CreateContainerOptions { name: Some(name.to_string()), ..Default::default() };
        let created =
            self.engine.call(self.runtime, self.timeout, command, |docker| async move {
                docker.create_container(Some(options), body).await
            })?;
        Ok(created.id)
    }

    /// Starts a container (one that runs already is fine: the engine answers 304).
    pub(super) fn start(&self, container: &str) -> Result<(), EngineError> {
        let command = format!("POST /containers/{container}/start");
        let name = container.to_string();
        self.engine.call(self.runtime, self.timeout, command, |docker| async move {
            docker.start_container(&name, None).await
        })
    }

    /// Sends `signal` to the container's main process. Returns at once: unlike the stop
    /// request, it does not wait for the container to exit.
    pub(super) fn kill(&self, container: &str, signal: &str) -> Result<(), EngineError> {
        let command = format!("POST /containers/{container}/kill?signal={signal}");
        let name = container.to_string();
        let options = KillContainerOptions { signal: signal.to_string() };
        self.engine.call(self.runtime, self.timeout, command, |docker| async move {
            docker.kill_container(&name, Some(options)).await
        })
    }

    /// Removes a container, and with `force` kills it first if it runs. Named volumes and
    /// anonymous ones stay (`v=false`). A container that is gone already is fine.
    pub(super) fn remove(&self, container: &str, force: bool) -> Result<(), EngineError> {
        let command = format!("DELETE /containers/{container}?force={force}");
        let name = container.to_string();
        let options = RemoveContainerOptions { v: false, force, link: false };
        let removed = self.engine.call(self.runtime, self.timeout, command, |docker| async move {
            docker.remove_container(&name, Some(options)).await
        });
        match removed {
            Err(error) if error.not_found() => Ok(()),
            other => other,
        }
    }

    /// Whether the engine has the image (by name or ID).
    pub(super) fn has_image(&self, image: &str) -> Result<bool, EngineError> {
        let command = format!("GET /images/{image}/json");
        let name = image.to_string();
        let found = self.engine.call(self.runtime, self.timeout, command, |docker| async move {
            docker.inspect_image(&name).await
        });
        match found {
            Ok(_) => Ok(true),
            Err(error) if error.not_found() => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The engine host's CPUs and memory (bytes), as far as it says.
    pub(super) fn capacity(&self) -> Result<(Option<i64>, Option<i64>), EngineError> {
        let info =
            self.engine.call(self.runtime, self.timeout, "GET /info", |docker| async move {
                docker.info().await
            })?;
        Ok((info.ncpu, info.mem_total))
    }

    /// The engine's product and version, for a health check: `podman 4.3.1 (API 1.41)`.
    pub(super) fn version(&self) -> Result<String, EngineError> {
        let version =
            self.engine.call(self.runtime, self.timeout, "GET /version", |docker| async move {
                docker.version().await
            })?;
        let product = version
            .components
            .as_ref()
            .and_then(|parts| parts.first())
            .map(|part| part.name.to_lowercase())
            .unwrap_or_else(|| "engine".to_string());
        let unknown = || "?".to_string();
        Ok(format!(
            "{product} {} (API {})",
            version.version.unwrap_or_else(unknown),
            version.api_version.unwrap_or_else(unknown)
        ))
    }
}

/// Whether an inspected container runs (paused, restarting and stopping ones still hold their
/// resources, so they count as running). Without a status, the `Running` flag says.
pub(super) fn is_running(inspect: &ContainerInspectResponse) -> bool {
    let Some(state) = inspect.state.as_ref() else { return false };
    match state.status {
        Some(
            ContainerStateStatusEnum::RUNNING
            | ContainerStateStatusEnum::PAUSED
            | ContainerStateStatusEnum::RESTARTING
            | ContainerStateStatusEnum::STOPPING,
        ) => true,
        Some(ContainerStateStatusEnum::EMPTY) | None => state.running.unwrap_or(false),
        Some(_) => false,
    }
}

/// Reads an answer bollard could not type again, with podman's own container states put in
/// Docker's words. podman's compatible API (4.3) reports `stopped` between a container's exit
/// and its clean-up, and may report `configured` or `initialized`; bollard's state enums have
/// none of them, so a whole listing or inspect would fail on one container.
fn read_again<T: DeserializeOwned>(error: BollardError) -> Result<T, BollardError> {
    let BollardError::JsonDataError { contents, .. } = &error else { return Err(error) };
    let Ok(mut answer) = serde_json::from_str::<Value>(contents) else { return Err(error) };
    translate_states(&mut answer);
    serde_json::from_value(answer).map_err(|_| error)
}

/// Puts every container state in `answer` (an inspect's `State.Status`, a listing's `State`)
/// in Docker's words.
fn translate_states(answer: &mut Value) {
    let containers = match answer {
        Value::Array(items) => items.iter_mut().collect(),
        other => vec![other],
    };
    for container in containers {
        let Some(state) = container.get_mut("State") else { continue };
        let status = match state {
            Value::Object(fields) => fields.get_mut("Status"),
            other => Some(other),
        };
        if let Some(Value::String(status)) = status {
            *status = docker_state(status).to_string();
        }
    }
}

/// A container state in Docker's words: podman's `stopped` is `exited`, `configured` and
/// `initialized` are `created`, and anything else unknown is empty (the `Running` flag then
/// says).
fn docker_state(state: &str) -> &str {
    match state {
        "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead"
        | "stopping" => state,
        "stopped" => "exited",
        "configured" | "initialized" => "created",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::ContainerSummary;

    use super::*;

    fn refused(contents: &str) -> BollardError {
        BollardError::JsonDataError {
            message: "unknown variant `stopped`".into(),
            contents: contents.into(),
            column: 0,
        }
    }

    #[test]
    fn podman_states_docker_lacks_are_read_in_dockers_words() {
        // podman 4.3.1 inspecting a container between its exit and its clean-up.
        let inspect = r#"{"Id": "dc7d", "State": {"Status": "stopped", "Running": false}}"#;
        assert!(serde_json::from_str::<ContainerInspectResponse>(inspect).is_err(), "bollard");
        let read: ContainerInspectResponse = read_again(refused(inspect)).unwrap();
        let state = read.state.unwrap();
        assert_eq!(state.status, Some(ContainerStateStatusEnum::EXITED));

        let listing = r#"[{"Id": "a", "State": "configured"}, {"Id": "b", "State": "weird"}]"#;
        let read: Vec<ContainerSummary> = read_again(refused(listing)).unwrap();
        let states: Vec<String> =
            read.iter().map(|c| c.state.map(|s| s.to_string()).unwrap_or_default()).collect();
        assert_eq!(states, ["created", ""]);

        let unknown = r#"{"State": {"Status": "weird", "Running": true}}"#;
        let read: ContainerInspectResponse = read_again(refused(unknown)).unwrap();
        assert!(is_running(&read), "no status Docker knows: the Running flag says");
        // Other errors, and answers that are not JSON, stay errors.
        let not_json = read_again::<ContainerInspectResponse>(refused("<html>"));
        assert!(matches!(not_json, Err(BollardError::JsonDataError { .. })));
        let other = read_again::<ContainerInspectResponse>(BollardError::RequestTimeoutError);
        assert!(matches!(other, Err(BollardError::RequestTimeoutError)));
    }
}
