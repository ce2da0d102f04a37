//! Which key verifies (and, for development, signs) JWTs: a configured HS256 secret or public
//! key, or else a random secret the product makes once and keeps in its data folder.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use command_api::{JwtConfig, JwtKey, MIN_SECRET_BYTES};
use rand::RngCore;

/// The file, in the data folder, holding the generated secret.
const SECRET_FILE: &str = "jwt-secret";

/// Where the product keeps its generated files: the SQLite database's folder, else `./data`.
pub fn data_dir(database_url: &str) -> PathBuf {
    database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|path| path.split('?').next().unwrap_or(path))
        .filter(|path| !path.is_empty() && *path != ":memory:")
        .and_then(|path| Path::new(path).parent().map(Path::to_path_buf))
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("./data"))
}

/// How the JWT configuration was obtained, for the start-up message.
pub enum KeySource {
    /// From `SUPPLYLINE_JWT_SECRET`, `--jwt-secret-file` or `--jwt-public-key`.
    Configured,
    /// Generated now, or read back from an earlier run, at this path.
    DataFolder(PathBuf, bool),
}

/// The JWT configuration from the settings, falling back to the data folder's secret (made,
/// owner-readable only, when absent).
pub fn jwt_config(
    secret: Option<Vec<u8>>,
    public_key: Option<&Path>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    data_dir: &Path,
) -> anyhow::Result<(JwtConfig, KeySource)> {
    let (key, source) = match (secret, public_key) {
        (Some(_), Some(_)) => bail!("configure either a JWT secret or a public key, not both"),
        (Some(secret), None) => {
            if secret.len() < MIN_SECRET_BYTES {
                bail!("the JWT secret must have at least {MIN_SECRET_BYTES} bytes");
            }
            (JwtKey::Secret(secret), KeySource::Configured)
        }
        (None, Some(path)) => {
            let pem = fs::read(path)
                .with_context(|| format!("cannot read the JWT public key {}", path.display()))?;
            (JwtKey::PublicKeyPem(pem), KeySource::Configured)
        }
        (None, None) => {
            let (secret, path, created) = data_folder_secret(data_dir)?;
            (JwtKey::Secret(secret), KeySource::DataFolder(path, created))
        }
    };
    Ok((
        JwtConfig {
            key,
            issuer,
            audience,
            leeway,
        },
        source,
    ))
}

/// Reads an HS256 secret from the file at `path`, without its trailing newline.
pub fn read_secret_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut secret = fs::read(path)
        .with_context(|| format!("cannot read the JWT secret file {}", path.display()))?;
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    if secret.len() < MIN_SECRET_BYTES {
        bail!(
            "the JWT secret in {} has {} bytes: it must have at least {MIN_SECRET_BYTES}",
            path.display(),
            secret.len()
        );
    }
    Ok(secret)
}

/// Reads the generated secret, making it first if needed.
fn data_folder_secret(dir: &Path) -> anyhow::Result<(Vec<u8>, PathBuf, bool)> {
    let path = dir.join(SECRET_FILE);
    if let Ok(text) = fs::read_to_string(&path) {
        let secret = text.trim().as_bytes().to_vec();
        if secret.len() >= MIN_SECRET_BYTES {
            return Ok((secret, path, false));
        }
        bail!(
            "{} is too short to be a secret: delete it to make a new one",
            path.display()
        );
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    Ok((secret.into_bytes(), path, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_folder_is_the_sqlite_databases_folder() {
        assert_eq!(
            data_dir("sqlite://./data/supplyline.db"),
            PathBuf::from("./data")
        );
        assert_eq!(
            data_dir("sqlite:///var/lib/sl/x.db?mode=rwc"),
            PathBuf::from("/var/lib/sl")
        );
        assert_eq!(data_dir("postgres://db/x"), PathBuf::from("./data"));
    }

    #[test]
    fn the_generated_secret_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let (first, path, created) = data_folder_secret(dir.path()).unwrap();
        assert!(created);
        let (again, _, created) = data_folder_secret(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_secret_file_loses_its_trailing_newline_and_must_not_be_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let secret = "s".repeat(MIN_SECRET_BYTES);
        fs::write(&path, format!("{secret}\r\n")).unwrap();
        assert_eq!(read_secret_file(&path).unwrap(), secret.as_bytes());
        fs::write(&path, format!("{}\n", "s".repeat(MIN_SECRET_BYTES - 1))).unwrap();
        let refused = read_secret_file(&path).unwrap_err().to_string();
        assert!(refused.contains("at least 32"), "{refused}");
        assert!(read_secret_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_short_configured_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            jwt_config(
                Some(b"short".to_vec()),
                None,
                None,
                None,
                command_api::DEFAULT_JWT_LEEWAY,
                dir.path()
            )
            .is_err()
        );
    }
}
