//! `agentgate serve` runs the whole API on 127.0.0.1; `agentgate dev-token` prints a user
//! JWT the local server accepts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use agentgate_shared::config::StoreKind;
use agentgate_shared::domain::ids::UserId;
use agentgate_shared::state::AppState;
use clap::{Parser, Subcommand};

/// A turn allocates and frees a few hundred small blocks (headers, JSON, SQL values);
/// mimalloc's per-thread free lists serve them in fewer instructions than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "agentgate",
    version,
    about = "Public AI assistants, served locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every endpoint family on one local address.
    Serve {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: SocketAddr,
        /// Folder for the embedded store and the generated JWT secret.
        #[arg(long, env = "AGENTGATE_DATA_DIR", default_value = ".agentgate")]
        data_dir: PathBuf,
    },
    /// Create the DynamoDB table declared in template.yaml (for DynamoDB Local or a
    /// hand-made table); a table that already exists is left as it is.
    CreateTable {
        #[arg(long, env = "AGENTGATE_TABLE", default_value = "agentgate")]
        table: String,
    },
    /// Print a user JWT valid for this data folder's secret (the token is the last line).
    DevToken {
        /// The user the token names (the owner of assistants it creates).
        #[arg(long)]
        sub: String,
        /// How long the token is valid.
        #[arg(long, default_value_t = 24)]
        ttl_hours: i64,
        #[arg(long, env = "AGENTGATE_DATA_DIR", default_value = ".agentgate")]
        data_dir: PathBuf,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    agentgate_shared::telemetry::init_local();
    let result = match Cli::parse().command {
        Command::Serve { addr, data_dir } => serve(addr, data_dir).await,
        Command::CreateTable { table } => create_table(&table).await,
        Command::DevToken {
            sub,
            ttl_hours,
            data_dir,
        } => dev_token(&sub, ttl_hours, &data_dir),
    };
    agentgate_shared::telemetry::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("agentgate: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: SocketAddr, data_dir: PathBuf) -> Result<(), String> {
    let kind = StoreKind::from_env(StoreKind::Sqlite).map_err(|e| e.to_string())?;
    let count =
        agentgate_local::threads::wanted(std::env::var("AGENTGATE_THREADS").ok().as_deref())?;
    let (state, store) = match kind {
        StoreKind::Sqlite => (
            AppState::local(&data_dir).await,
            format!("embedded store in {}", data_dir.display()),
        ),
        StoreKind::DynamoDb => (
            AppState::local_on_dynamodb(&data_dir).await,
            format!(
                "DynamoDB table {}",
                std::env::var("AGENTGATE_TABLE").unwrap_or_default()
            ),
        ),
    };
    let state = state.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let bedrock = match state.providers.bedrock_region() {
        Some(region) => format!("on (region {region})"),
        None => "off (set AWS_REGION or AWS_PROFILE with credentials, or AGENTGATE_BEDROCK=on)"
            .to_owned(),
    };
    // One write: a reader that takes the first line and goes away sees both.
    let threads_note = match count {
        1 => "1 serving thread".to_owned(),
        n => format!("{n} serving threads"),
    };
    let banner = format!(
        "agentgate listening on http://{bound} ({store}, {threads_note})\nAmazon Bedrock: {bedrock}\n"
    );
    agentgate_shared::telemetry::print(&banner);
    // The serving threads end with `serve_with` (and drop what their connections hold), so
    // the embedded store's last writes are committed as the state is dropped.
    let threads = agentgate_local::Threads::start(count)
        .map_err(|e| format!("cannot start the serving threads: {e}"))?;
    // Each extra thread calls the models through connection pools of its own.
    let mut apps = vec![agentgate_local::app(state.clone())];
    for _ in 1..count {
        let providers = state.providers.with_own_pool().map_err(|e| e.to_string())?;
        apps.push(agentgate_local::app(
            state.clone().with_providers(providers),
        ));
    }
    agentgate_local::serve_with(
        listener,
        apps,
        agentgate_local::HEADER_READ_TIMEOUT,
        threads,
        stop_requested(),
    )
    .await;
    Ok(())
}

/// Ctrl-C, or the `SIGTERM` that `kill`, service managers and container runtimes send: the
/// server returns, and the embedded store commits its last writes as it is dropped.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn create_table(table: &str) -> Result<(), String> {
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    agentgate_shared::store::dynamo::schema::create_table(&client, table)
        .await
        .map_err(|e| e.to_string())?;
    agentgate_shared::telemetry::print(&format!("table {table} is ready\n"));
    Ok(())
}

fn dev_token(sub: &str, ttl_hours: i64, data_dir: &std::path::Path) -> Result<(), String> {
    if !(1..=24 * 365).contains(&ttl_hours) {
        return Err("--ttl-hours must be between 1 and 8760".into());
    }
    let user = UserId::parse(sub).map_err(|e| e.to_string())?;
    let secret = agentgate_shared::config::local_jwt_secret(data_dir).map_err(|e| e.to_string())?;
    let keys = agentgate_shared::auth::JwtKeys::new(&secret).map_err(|e| e.to_string())?;
    let now = agentgate_shared::clock::Clock::now_secs(&agentgate_shared::clock::SystemClock);
    let token = keys
        .issue(&user, now, ttl_hours * 3600)
        .map_err(|e| e.to_string())?;
    eprintln!("user JWT for {sub}, valid {ttl_hours} h; use it as Authorization: Bearer <token>");
    agentgate_shared::telemetry::print(&format!("{token}\n"));
    Ok(())
}
