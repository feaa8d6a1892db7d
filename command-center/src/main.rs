//! `command-center [--config FILE] [serve]`: the duty officers' API.
//! `command-center [--config FILE] officer add --username U --division CODE --role R`: adds an
//! officer; the password comes from `GEOHAZARD_OFFICER_PASSWORD`, else the first line of stdin.
//!
//! Configuration: the TOML file, then `GEOHAZARD_<SECTION>__<KEY>` environment overrides (e.g.
//! `GEOHAZARD_COMMAND_CENTER__LISTEN=127.0.0.1:8080`), `DATABASE_URL` and `MQTT_URL`.

use std::io::BufRead;

use anyhow::Context;
use clap::{Parser, Subcommand};
use geohazard_command_center::{CommandCenterConfig, NewOfficer, Role, add_officer};
use geohazard_runtime::{ConfigArgs, DatabaseSection, MqttSection};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Config {
    database: DatabaseSection,
    mqtt: MqttSection,
    command_center: CommandCenterConfig,
}

#[derive(Parser)]
#[command(name = "command-center", about = "geohazard's duty officers' API")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Manage officers.
    Officer {
        #[command(subcommand)]
        command: OfficerCommand,
    },
}

#[derive(Subcommand)]
enum OfficerCommand {
    /// Add an officer. The password is read from GEOHAZARD_OFFICER_PASSWORD, else from stdin.
    Add {
        #[arg(long)]
        username: String,
        /// The division code (GB/T 2260) the officer sees, with everything below it.
        #[arg(long)]
        division: String,
        /// viewer, duty_officer or admin.
        #[arg(long)]
        role: Role,
        /// The name shown in the console; default: the username.
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geohazard_runtime::init_tracing();
    let cli = Cli::parse();
    let config: Config = cli.config.load()?;
    let db_url = config.database.required_url()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let mqtt_url = config.mqtt.required_url()?;
            let store = geohazard_store::Store::open(
                &db_url,
                config.command_center.db_connections.max(1),
                config.database.migrates(),
            )
            .await?;
            let shutdown = geohazard_runtime::shutdown_on_signal();
            geohazard_command_center::run(&config.command_center, store.pool, &mqtt_url, shutdown)
                .await
        }
        Command::Officer {
            command:
                OfficerCommand::Add {
                    username,
                    division,
                    role,
                    display_name,
                },
        } => {
            let password = read_password()?;
            let store =
                geohazard_store::Store::open(&db_url, 2, config.database.migrates()).await?;
            let id = add_officer(
                &store.pool,
                &NewOfficer {
                    username: &username,
                    display_name: display_name.as_deref(),
                    division_code: &division,
                    role,
                    password: &password,
                },
            )
            .await?;
            println!("officer `{username}` added (id {id}, {role} of division {division})");
            Ok(())
        }
    }
}

/// `GEOHAZARD_OFFICER_PASSWORD`, else the first line of stdin.
fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("GEOHAZARD_OFFICER_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password (one line on stdin):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password given");
    Ok(password)
}
