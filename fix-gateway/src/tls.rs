//! TLS 1.3 for the FIX listener (rustls with the ring provider), optional mutual TLS, and
//! a minimal DER walk for what the venue needs from certificates: the subject CN (to map
//! a client certificate to a session) and notAfter (days until expiry).
//!
//! Only TLS 1.3 is offered: a TLS 1.2 client gets a protocol-version alert, a plaintext
//! client a decode error, and both are closed with [`crate::DisconnectReason::TlsFailure`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// Certificate and key of a TLS listener, PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// Server certificate chain, leaf first.
    pub cert_pem: PathBuf,
    /// The server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: PathBuf,
    /// CA certificates that sign client certificates; set: every client must present one.
    pub client_ca_pem: Option<PathBuf>,
}

fn invalid(path: &Path, what: &str, e: impl core::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}: {e}", path.display()),
    )
}

/// Reads every certificate of a PEM file.
///
/// # Errors
/// The file cannot be read or holds no certificate.
pub fn load_certificates(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(path, "certificates", e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, "certificates", e))?;
    if certificates.is_empty() {
        return Err(invalid(path, "certificates", "no CERTIFICATE block"));
    }
    Ok(certificates)
}

/// Builds the rustls server configuration: TLS 1.3 only, ring, client certificates
/// required when a client CA is set.
///
/// # Errors
/// A file cannot be read or parsed, or the key does not fit the certificate.
pub fn server_config(settings: &TlsSettings) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = load_certificates(&settings.cert_pem)?;
    let key = PrivateKeyDer::from_pem_file(&settings.key_pem)
        .map_err(|e| invalid(&settings.key_pem, "private key", e))?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let builder = match &settings.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for certificate in load_certificates(path)? {
                roots
                    .add(certificate)
                    .map_err(|e| invalid(path, "client CA", e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid(path, "client CA", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid(&settings.cert_pem, "certificate and key", e))?;
    Ok(Arc::new(config))
}

/// One DER element: (tag, contents, rest). Definite lengths up to 4 bytes only.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const EXPLICIT_0: u8 = 0xa0;
/// id-at-commonName, 2.5.4.3.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// (validity, subject) contents of a certificate's TBSCertificate.
fn validity_and_subject(certificate: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, certificate, _) = der(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = der(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    let (tag, _, after) = der(rest)?;
    if tag == EXPLICIT_0 {
        rest = after; // version
    }
    let (_, _, rest) = der(rest)?; // serialNumber
    let (_, _, rest) = der(rest)?; // signature
    let (_, _, rest) = der(rest)?; // issuer
    let (tag, validity, rest) = der(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, subject, _) = der(rest)?;
    (tag == SEQUENCE).then_some((validity, subject))
}

/// The first commonName of a certificate's subject, if it has one.
#[must_use]
pub fn subject_common_name(certificate: &[u8]) -> Option<String> {
    let (_, mut subject) = validity_and_subject(certificate)?;
    // Bounded by the subject's length: each step consumes at least two bytes.
    while !subject.is_empty() {
        let (tag, set, rest) = der(subject)?;
        subject = rest;
        if tag != SET {
            return None;
        }
        let (_, attribute, _) = der(set)?;
        let (tag, oid, value) = der(attribute)?;
        if tag == OID && oid == OID_COMMON_NAME {
            let (_, text, _) = der(value)?;
            return String::from_utf8(text.to_vec()).ok();
        }
    }
    None
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, rest) = match tag {
        UTC_TIME if text.len() >= 12 => {
            let yy = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() >= 14 => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let hour = digits(&rest[4..6])?;
    let minute = digits(&rest[6..8])?;
    let second = digits(&rest[8..10])?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// A certificate's notAfter, seconds since the epoch.
#[must_use]
pub fn not_after_unix_s(certificate: &[u8]) -> Option<i64> {
    let (validity, _) = validity_and_subject(certificate)?;
    let (_, _, rest) = der(validity)?; // notBefore
    let (tag, text, _) = der(rest)?;
    parse_time(tag, text)
}

/// Whole days from `now_unix_s` until each certificate of a PEM file expires (negative:
/// expired), with its subject CN: the gauge an operator alerts on.
///
/// # Errors
/// The file cannot be read or a certificate cannot be parsed.
pub fn certificate_days_left(path: &Path, now_unix_s: i64) -> io::Result<Vec<(String, i64)>> {
    load_certificates(path)?
        .iter()
        .map(|certificate| {
            let not_after = not_after_unix_s(certificate)
                .ok_or_else(|| invalid(path, "certificate", "unreadable notAfter"))?;
            let name = subject_common_name(certificate).unwrap_or_default();
            Ok((name, (not_after - now_unix_s).div_euclid(86_400)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(parse_time(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(
            parse_time(GENERALIZED_TIME, b"20500101000000Z"),
            Some(2_524_608_000)
        );
        assert_eq!(parse_time(UTC_TIME, b"4912312359"), None);
    }

    #[test]
    fn der_walk_refuses_truncation() {
        assert_eq!(der(&[0x30, 0x05, 1, 2]), None);
        assert_eq!(der(&[0x30, 0x81]), None);
        assert_eq!(
            der(&[0x30, 0x02, 1, 2, 9]),
            Some((0x30, &[1u8, 2][..], &[9u8][..]))
        );
        assert_eq!(subject_common_name(&[0x30, 0x00]), None);
        assert_eq!(not_after_unix_s(&[]), None);
    }
}
