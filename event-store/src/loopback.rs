//! TLS to a PostgreSQL server on this machine: off unless asked for. A connection over
//! loopback never leaves the kernel, so encrypting it protects nothing, yet it cost the relay
//! and the query API a tenth of their time on each side (libpq's default, `prefer`, encrypts
//! whatever the host).

use std::net::IpAddr;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::StoreError;

/// The connection options of a PostgreSQL `url` as the store connects with them (plain first on
/// loopback, as this module says): for pools beside the store's that must connect alike.
pub fn postgres_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
    Ok(plain_on_loopback(url, options))
}

/// `options` of `url`, plain first on loopback when neither the URL nor `PGSSLMODE` names an
/// SSL mode: `allow` still falls back to TLS where the server accepts nothing else.
pub(crate) fn plain_on_loopback(url: &str, options: PgConnectOptions) -> PgConnectOptions {
    let named = names_ssl_mode(url) || std::env::var_os("PGSSLMODE").is_some();
    if named || !is_loopback(options.get_host()) {
        return options;
    }
    options.ssl_mode(PgSslMode::Allow)
}

/// Whether `url`'s query names an SSL mode (`sslmode`, or sqlx's `ssl-mode`).
fn names_ssl_mode(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else {
        return false;
    };
    query
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .any(|key| key.eq_ignore_ascii_case("sslmode") || key.eq_ignore_ascii_case("ssl-mode"))
}

/// Whether `host` is this machine: `localhost`, a loopback address, or a Unix socket's folder.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.starts_with('/')
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> PgSslMode {
        let options = PgConnectOptions::from_str(url).unwrap();
        plain_on_loopback(url, options).get_ssl_mode()
    }

    #[test]
    fn loopback_without_a_mode_is_plain_first() {
        if std::env::var_os("PGSSLMODE").is_some() {
            eprintln!("PGSSLMODE is set: it names the mode, nothing to check here");
            return;
        }
        for url in [
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@localhost/postgres",
            "postgres://postgres@[::1]:5432/postgres",
            "postgres://postgres@127.0.0.2/x?application_name=a",
        ] {
            assert!(matches!(mode(url), PgSslMode::Allow), "{url}");
        }
    }

    #[test]
    fn a_named_mode_or_another_host_is_left_alone() {
        assert!(matches!(
            mode("postgres://postgres@127.0.0.1/x?sslmode=require"),
            PgSslMode::Require
        ));
        assert!(matches!(
            mode("postgres://postgres@localhost/x?application_name=a&sslmode=verify-full"),
            PgSslMode::VerifyFull
        ));
        assert!(!matches!(
            mode("postgres://postgres@db.example.com/x"),
            PgSslMode::Allow
        ));
        assert!(!matches!(
            mode("postgres://postgres@10.0.0.5/x"),
            PgSslMode::Allow
        ));
    }
}
