//! `tidemark`: the server and its command line.

use clap::Parser;
use tidemark::{cli, config::Settings, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tidemark: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format, &settings.log_filter);
    match cli::run(cli, settings).await {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "tidemark failed");
            eprintln!("tidemark: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
