//! The controller's action vocabulary: one [`Step`] of a plan, what it does to which host or
//! instance, who asked for it (heat planner or thermal guard) and why. Steps are data; the
//! executor turns them into driver operations and journals them.

use drivers::{ComputeOp, HostId, MoveKind};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What one step does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum StepAction {
    /// Move an instance (live first, then cold, then leave it in place: the fallback ladder).
    Migrate {
        /// The instance.
        instance: String,
        /// Its host now.
        from: HostId,
        /// Its host after.
        to: HostId,
    },
    /// Power a host on.
    PowerOn {
        /// The host.
        host: HostId,
    },
    /// Power a host down (it holds no running instance by then).
    PowerDown {
        /// The host.
        host: HostId,
    },
    /// Stop an instance that could not move before its host powers down (thermal guard).
    Stop {
        /// The instance.
        instance: String,
        /// Its host.
        host: HostId,
    },
    /// Start a stopped instance, moving it cold first if `host` is not where it is defined.
    Start {
        /// The instance.
        instance: String,
        /// Where it should run.
        host: HostId,
    },
}

/// Who asked for a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The heat planner (seed 000).
    Heat,
    /// The thermal guard (seed 002); it overrides the heat planner.
    Thermal,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// What it does.
    #[serde(flatten)]
    pub action: StepAction,
    /// Who asked for it.
    pub source: Source,
    /// Why, in words an operator reads.
    pub reason: String,
}

impl StepAction {
    /// The journal's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            StepAction::Migrate { .. } => "migrate",
            StepAction::PowerOn { .. } => "power_on",
            StepAction::PowerDown { .. } => "power_down",
            StepAction::Stop { .. } => "stop",
            StepAction::Start { .. } => "start",
        }
    }

    /// The journal's `subject` column: the instance or host acted on.
    pub fn subject(&self) -> &str {
        match self {
            StepAction::Migrate { instance, .. }
            | StepAction::Stop { instance, .. }
            | StepAction::Start { instance, .. } => instance,
            StepAction::PowerOn { host } | StepAction::PowerDown { host } => host.as_str(),
        }
    }

    /// The compute operation of a migration of the given kind (`None` for other steps).
    pub fn move_op(&self, kind: MoveKind) -> Option<ComputeOp> {
        match self {
            StepAction::Migrate { instance, from, to } => Some(ComputeOp::Move {
                instance: instance.clone(),
                from: from.clone(),
                to: to.clone(),
                kind,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for StepAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepAction::Migrate { instance, from, to } => {
                write!(f, "migrate {instance} from {from} to {to}")
            }
            StepAction::PowerOn { host } => write!(f, "power on {host}"),
            StepAction::PowerDown { host } => write!(f, "power down {host}"),
            StepAction::Stop { instance, host } => write!(f, "stop {instance} on {host}"),
            StepAction::Start { instance, host } => write!(f, "start {instance} on {host}"),
        }
    }
}
