//! What `hearth controller --data-dir` and `hearth demo` share to run the control loop: opening
//! the store (saying what it found), reading or generating API tokens, the failpoint hook of
//! the crash tests, and serving the controller's API and dashboard.

use anyhow::{anyhow, Context, Result};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The store file inside a data directory.
pub const STORE_FILE: &str = "hearth.db";

/// Opens (or creates) the store in `dir`, reporting a creation, a migration and its backup.
pub fn open_store(dir: &Path) -> Result<store::Store> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let path = dir.join(STORE_FILE);
    let (store, opened) = store::Store::open(&path).map_err(|e| anyhow!("{e}"))?;
    if opened.created {
        eprintln!(
            "hearth: created the store {} (schema v{})",
            path.display(),
            opened.schema_version
        );
    } else if let Some(from) = opened.migrated_from {
        eprintln!(
            "hearth: migrated the store {} from schema v{from} to v{}{}",
            path.display(),
            opened.schema_version,
            opened
                .backup
                .map(|b| format!("; the old file is kept as {}", b.display()))
                .unwrap_or_default()
        );
    }
    Ok(store)
}

/// `n` random bytes as hex, from the kernel.
pub fn random_hex(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// API tokens from a file: one per line, `#` comments and blank lines ignored.
pub fn read_tokens(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    if let Some((n, short)) = tokens.iter().enumerate().find(|(_, t)| t.len() < 16) {
        anyhow::bail!(
            "{}: token {} is {} characters; use at least 16 (e.g. 32 hex digits)",
            path.display(),
            n + 1,
            short.len()
        );
    }
    if tokens.is_empty() {
        anyhow::bail!("{}: no token in the file (one per line)", path.display());
    }
    Ok(tokens)
}

/// The first token of a token file: the one a client (`hearth run`, a pool agent) presents.
pub fn first_token(path: &Path) -> Result<String> {
    read_tokens(path)?
        .into_iter()
        .next()
        .with_context(|| format!("{}: no token in the file", path.display()))
}

/// Writes a fresh token to `path` (mode 0600) and returns it.
pub fn generate_token_file(path: &Path) -> Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let token = random_hex(16)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write the token file {}", path.display()))?;
    writeln!(file, "{token}").with_context(|| format!("writing {}", path.display()))?;
    Ok(token)
}

/// The failpoint of the crash tests, from `HEARTH_FAILPOINT` (`journal:K`).
pub fn failpoint() -> Result<Option<controller::execute::Failpoint>> {
    match std::env::var("HEARTH_FAILPOINT") {
        Ok(text) => Ok(Some(text.parse().map_err(|e: String| anyhow!("HEARTH_FAILPOINT: {e}"))?)),
        Err(_) => Ok(None),
    }
}

/// Serves the controller's API and dashboard on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<controller::shared::Shared>,
    beacons: Option<Arc<controller::beacons::BeaconState>>,
    tokens: Vec<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let auth = api::Auth::new(tokens).map_err(|e| anyhow!("{e}"))?;
    let app = api::controller_app(shared, beacons, auth);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.context("serving the API")
}

/// Binds the API's TCP listener, naming the address on failure.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot bind the API on {addr} (in use? pick another with --listen)")
    })
}
