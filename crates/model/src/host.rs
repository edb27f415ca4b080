//! Host and instance specifications: what a machine offers and what an instance asks for.

use crate::power::PowerCurve;
use serde::{Deserialize, Serialize};

/// A kind of physical host: its capacities and its power curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostType {
    /// Human-readable model name.
    pub name: String,
    /// Number of processing elements (cores).
    pub pes: u32,
    /// Capacity of one core in MIPS.
    pub mips_per_pe: f64,
    /// Memory in MiB.
    pub ram_mib: u64,
    /// Network bandwidth in Mbit/s.
    pub bw_mbps: u64,
    /// Storage in GB.
    pub storage_gb: u64,
    /// Power drawn against CPU utilization.
    pub power: PowerCurve,
}

impl HostType {
    /// HP ProLiant ML110 G4: 2 × 1860 MIPS, 4096 MiB, 1 Gbit/s (Beloglazov & Buyya 2012).
    pub fn ml110_g4() -> Self {
        HostType {
            name: "HP ProLiant ML110 G4".into(),
            pes: 2,
            mips_per_pe: 1860.0,
            ram_mib: 4096,
            bw_mbps: 1000,
            storage_gb: 1000,
            power: PowerCurve::ml110_g4(),
        }
    }

    /// HP ProLiant ML110 G5: 2 × 2660 MIPS, 4096 MiB, 1 Gbit/s (Beloglazov & Buyya 2012).
    pub fn ml110_g5() -> Self {
        HostType {
            name: "HP ProLiant ML110 G5".into(),
            pes: 2,
            mips_per_pe: 2660.0,
            ram_mib: 4096,
            bw_mbps: 1000,
            storage_gb: 1000,
            power: PowerCurve::ml110_g5(),
        }
    }

    /// Total CPU capacity in MIPS.
    pub fn total_mips(&self) -> f64 {
        self.pes as f64 * self.mips_per_pe
    }
}

/// A kind of instance (VM, container or task): what it requests from its host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceType {
    /// Name of the type.
    pub name: String,
    /// Number of cores requested.
    pub pes: u32,
    /// MIPS requested per core.
    pub mips_per_pe: f64,
    /// Memory in MiB.
    pub ram_mib: u64,
    /// Network bandwidth in Mbit/s.
    pub bw_mbps: u64,
}

impl InstanceType {
    /// The four VM types of the PlanetLab reference experiment (Beloglazov & Buyya 2012,
    /// section 7.1: Amazon EC2 high-CPU medium, extra large, small and micro), in block order.
    pub fn planetlab_types() -> [InstanceType; 4] {
        let vm = |name: &str, mips: f64, ram_mib: u64| InstanceType {
            name: name.into(),
            pes: 1,
            mips_per_pe: mips,
            ram_mib,
            bw_mbps: 100,
        };
        [
            vm("high-cpu-medium", 2500.0, 870),
            vm("extra-large", 2000.0, 1740),
            vm("small", 1000.0, 1740),
            vm("micro", 500.0, 613),
        ]
    }

    /// Total MIPS requested.
    pub fn total_mips(&self) -> f64 {
        self.pes as f64 * self.mips_per_pe
    }
}
