/// Why a command failed; each kind has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Wrong arguments or input (exit 64).
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written (exit 74).
    #[error("{0}")]
    Io(String),
    /// The vault could not be reached (exit 69).
    #[error("cannot reach the vault at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    /// The vault refused the request (exit 1).
    #[error("{code}: {message}")]
    Vault { code: String, message: String },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 64,
            Self::Io(_) => 74,
            Self::Unreachable { .. } => 69,
            Self::Vault { .. } => 1,
        }
    }

    pub(crate) fn from_status(status: tonic::Status, address: &str) -> Self {
        if status.code() == tonic::Code::Unavailable {
            return Self::Unreachable {
                address: address.to_owned(),
                reason: status.message().to_owned(),
            };
        }
        let code = format!("{:?}", status.code());
        let mut snake = String::new();
        for (i, c) in code.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        }
        Self::Vault {
            code: snake,
            message: status.message().to_owned(),
        }
    }
}
