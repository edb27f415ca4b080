//! `hearth-lossy-relay`: a test tool, not part of hearth's receive path. It forwards UDP
//! datagrams from `--listen` to `--forward`, dropping each with probability `--loss` (seeded), so
//! multi-host tests can inject packet loss where the kernel has no netem. It prints its counters
//! (`received N forwarded N dropped N`) on stderr every 100 datagrams.
//!
//! Usage: `hearth-lossy-relay --listen ADDR:PORT --forward ADDR:PORT [--loss P] [--seed S]`

use model::rand::SplitMix64;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;

struct Args {
    listen: SocketAddr,
    forward: SocketAddr,
    loss: f64,
    seed: u64,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut listen, mut forward, mut loss, mut seed) = (None, None, 0.0, 1u64);
    while let Some(flag) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or(format!("{name}: missing value"));
        match flag.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                listen = Some(v.parse().map_err(|e| format!("--listen {v}: {e}"))?);
            }
            "--forward" => {
                let v = value("--forward")?;
                forward = Some(v.parse().map_err(|e| format!("--forward {v}: {e}"))?);
            }
            "--loss" => {
                let v = value("--loss")?;
                loss = v.parse().map_err(|e| format!("--loss {v}: {e}"))?;
                if !(0.0..=1.0).contains(&loss) {
                    return Err(format!("--loss {v}: expected a probability in [0, 1]"));
                }
            }
            "--seed" => {
                let v = value("--seed")?;
                seed = v.parse().map_err(|e| format!("--seed {v}: {e}"))?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Args {
        listen: listen.ok_or("--listen ADDR:PORT is required")?,
        forward: forward.ok_or("--forward ADDR:PORT is required")?,
        loss,
        seed,
    })
}

fn run(args: Args) -> Result<(), String> {
    let socket =
        UdpSocket::bind(args.listen).map_err(|e| format!("binding {}: {e}", args.listen))?;
    let out = UdpSocket::bind(if args.forward.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })
        .map_err(|e| format!("binding the forwarding socket: {e}"))?;
    let mut buf = [0u8; 2048];
    let mut rng = SplitMix64::new(args.seed);
    let (mut received, mut forwarded, mut dropped) = (0u64, 0u64, 0u64);
    loop {
        let (n, _) = socket.recv_from(&mut buf).map_err(|e| format!("receiving: {e}"))?;
        received += 1;
        if rng.unit() < args.loss {
            dropped += 1;
        } else {
            // A send error (the receiver is not up yet) is a lost datagram, as on a network.
            if out.send_to(&buf[..n], args.forward).is_ok() {
                forwarded += 1;
            } else {
                dropped += 1;
            }
        }
        if received % 100 == 0 {
            eprintln!("received {received} forwarded {forwarded} dropped {dropped}");
        }
    }
}

fn main() -> ExitCode {
    match parse(std::env::args().skip(1)).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hearth-lossy-relay: error: {err}");
            ExitCode::FAILURE
        }
    }
}
