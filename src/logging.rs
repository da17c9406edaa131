//! The process's log output, set from `--log.level` and `--log.format`: the level filter (with
//! the protocol libraries, which log raw traffic, kept quiet) and the line format, on stderr.

/// Logging flags that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("--log.level: {0}")]
    Level(tracing_subscriber::filter::ParseError),
    #[error("--log.format must be logfmt or json, got {0:?}")]
    Format(String),
}

/// Installs the process-wide log subscriber: `level` (an `EnvFilter` directive such as `info`)
/// and `format` (`logfmt` or `json`), written to stderr.
pub fn init(level: &str, format: &str) -> Result<(), LoggingError> {
    // Protocol libraries log raw traffic (credentials included) at debug/trace: keep them quiet
    // whatever the level asked for.
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},async_imap=warn,imap_proto=warn,lettre=warn,rustls=warn,hyper=warn"
    ))
    .map_err(LoggingError::Level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        "json" => builder.json().init(),
        "logfmt" => builder.with_ansi(false).init(),
        other => return Err(LoggingError::Format(other.to_string())),
    }
    Ok(())
}
