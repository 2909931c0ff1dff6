//! Password hashing for FIX sessions and admin operators: argon2id, stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), never in clear.
//!
//! The venue's parameters are the OWASP minimum for argon2id (19 MiB, 2 passes, 1 lane):
//! about 20–40 ms per verification on a server core, paid once per Logon or admin
//! request, which is cheap for a legitimate client and costly for a guesser (the gateway's
//! logon backoff bounds how many guesses one source gets). Verification takes its
//! parameters from the stored string, so a venue can raise them later without a migration.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost of new hashes, KiB (OWASP minimum for argon2id: 19 MiB).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// Passes over memory of new hashes.
pub const ARGON2_PASSES: u32 = 2;
/// Lanes of new hashes.
pub const ARGON2_LANES: u32 = 1;
/// Random salt bytes of new hashes (the PHC recommendation is at least 16).
const SALT_BYTES: usize = 16;
/// Longest password accepted, bytes: bounds the work an attacker can make us hash.
pub const PASSWORD_BYTES_MAX: usize = 1024;

/// Why a password could not be hashed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CredentialError {
    /// The OS random source failed.
    Random(std::io::Error),
    /// Empty or longer than [`PASSWORD_BYTES_MAX`].
    BadLength,
    /// argon2 refused (never for the venue's constant parameters).
    Hash(String),
}

impl core::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CredentialError::Random(e) => write!(f, "random salt: {e}"),
            CredentialError::BadLength => {
                write!(f, "password must be 1..={PASSWORD_BYTES_MAX} bytes")
            }
            CredentialError::Hash(e) => write!(f, "argon2: {e}"),
        }
    }
}

impl std::error::Error for CredentialError {}

fn hasher() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with a fresh random salt into a PHC string.
///
/// # Errors
/// The OS random source failed, or the password is empty or too long.
pub fn hash_password(password: &[u8]) -> Result<String, CredentialError> {
    if password.is_empty() || password.len() > PASSWORD_BYTES_MAX {
        return Err(CredentialError::BadLength);
    }
    let mut salt = [0u8; SALT_BYTES];
    {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut salt))
            .map_err(CredentialError::Random)?;
    }
    let salt = SaltString::encode_b64(&salt).map_err(|e| CredentialError::Hash(e.to_string()))?;
    let hash = hasher()
        .hash_password(password, &salt)
        .map_err(|e| CredentialError::Hash(e.to_string()))?;
    let text = hash.to_string();
    debug_assert!(check_password_hash(&text).is_ok());
    Ok(text)
}

/// Whether `password` matches the PHC string `phc`. The final comparison is constant time
/// (argon2's verifier); a malformed `phc` never matches.
#[must_use]
pub fn verify_password(phc: &str, password: &[u8]) -> bool {
    if password.len() > PASSWORD_BYTES_MAX {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    Argon2::default().verify_password(password, &parsed).is_ok()
}

/// Checks that `phc` is an argon2id PHC string (the only form a configuration may hold).
///
/// # Errors
/// A text saying what is wrong, without echoing the value.
pub fn check_password_hash(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| format!("not a PHC string (`$argon2id$v=19$m=...`): {e}"))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "algorithm {} is not argon2id",
            parsed.algorithm.as_str()
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err("PHC string has no salt or no hash".to_owned());
    }
    Params::try_from(&parsed).map_err(|e| format!("argon2 parameters: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let phc = hash_password(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(check_password_hash(&phc).is_ok());
        assert!(verify_password(&phc, b"correct horse"));
        assert!(!verify_password(&phc, b"correct horsf"));
        assert!(!verify_password(&phc, b""));
        assert!(!phc.contains("correct"));
        // Fresh salt each time.
        assert_ne!(phc, hash_password(b"correct horse").unwrap());
    }

    #[test]
    fn malformed_hashes_never_match() {
        assert!(!verify_password("", b"x"));
        assert!(!verify_password("secret", b"secret"));
        assert!(check_password_hash("secret").is_err());
        assert!(check_password_hash(
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
        )
        .is_err());
    }

    #[test]
    fn lengths_are_bounded() {
        assert!(matches!(
            hash_password(b""),
            Err(CredentialError::BadLength)
        ));
        let long = vec![b'a'; PASSWORD_BYTES_MAX + 1];
        assert!(matches!(
            hash_password(&long),
            Err(CredentialError::BadLength)
        ));
    }
}
