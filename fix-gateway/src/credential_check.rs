//! Logon passwords checked off the gateway thread.
//!
//! An argon2id verification costs tens of milliseconds of one core by design. Done on the
//! gateway thread, one Logon would stall every other session for that long. So the session
//! hands the check to a helper thread ([`CredentialVerifier`]) through a bounded channel and
//! waits, doing nothing else: the gateway does not read its connection meanwhile, and
//! completes the Logon when the verdict comes back. Every other session keeps being served.
//! A NewPassword (925) is hashed on the same thread, after a successful verification.
//!
//! Secrets cross the channel in a [`CredentialCheck`] whose `Debug` shows no secret and
//! whose buffers are overwritten with zeros when it is dropped.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};

use crate::credential;

/// One Logon's credentials to check.
pub struct CredentialCheck {
    /// Matches the verdict to the Logon that asked (a session that disconnected meanwhile
    /// ignores a stale verdict).
    pub ticket: u64,
    /// The stored argon2id PHC string.
    pub password_hash: String,
    /// Password (554) as given.
    pub password: Vec<u8>,
    /// NewPassword (925) as given, if any: hashed when the password is right.
    pub new_password: Option<Vec<u8>>,
}

impl core::fmt::Debug for CredentialCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CredentialCheck")
            .field("ticket", &self.ticket)
            .field("new_password", &self.new_password.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for CredentialCheck {
    fn drop(&mut self) {
        wipe(&mut self.password);
        if let Some(new_password) = &mut self.new_password {
            wipe(new_password);
        }
    }
}

/// Overwrites a secret before its memory is freed (`black_box` keeps the writes from being
/// optimised away as dead stores).
pub(crate) fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

/// The answer to a [`CredentialCheck`].
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialVerdict {
    /// The check's ticket.
    pub ticket: u64,
    /// Whether the password matched the hash.
    pub password_ok: bool,
    /// The new password's hash, when one was given, the password matched and hashing
    /// succeeded; `None` otherwise.
    pub new_password_hash: Option<String>,
}

impl core::fmt::Debug for CredentialVerdict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CredentialVerdict")
            .field("ticket", &self.ticket)
            .field("password_ok", &self.password_ok)
            .field("new_password_hash", &self.new_password_hash.is_some())
            .finish()
    }
}

impl CredentialCheck {
    /// Does the argon2 work (tens of milliseconds): verification, then the new password's
    /// hash if there is one and the password matched.
    #[must_use]
    pub fn run(&self) -> CredentialVerdict {
        let password_ok = credential::verify_password(&self.password_hash, &self.password);
        let new_password_hash = match &self.new_password {
            Some(new_password) if password_ok => credential::hash_password(new_password).ok(),
            _ => None,
        };
        CredentialVerdict {
            ticket: self.ticket,
            password_ok,
            new_password_hash,
        }
    }
}

/// A helper thread running [`CredentialCheck`]s, with bounded channels both ways. The
/// thread blocks on its channel (no polling) and ends when the verifier is dropped.
#[derive(Debug)]
pub struct CredentialVerifier {
    jobs: SyncSender<(usize, CredentialCheck)>,
    verdicts: Receiver<(usize, CredentialVerdict)>,
}

impl CredentialVerifier {
    /// Starts the thread; `capacity` checks may wait (one per session is enough: a session
    /// has at most one Logon being checked).
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub fn start(capacity: usize) -> std::io::Result<Self> {
        let (jobs, job_rx) = mpsc::sync_channel::<(usize, CredentialCheck)>(capacity.max(1));
        let (verdict_tx, verdicts) = mpsc::sync_channel(capacity.max(1));
        std::thread::Builder::new()
            .name("arb-credentials".into())
            .spawn(move || {
                while let Ok((session, check)) = job_rx.recv() {
                    if verdict_tx.send((session, check.run())).is_err() {
                        break;
                    }
                }
            })?;
        Ok(CredentialVerifier { jobs, verdicts })
    }

    /// Queues a check for `session` (an index the caller chooses).
    ///
    /// # Errors
    /// The check back when the queue is full or the thread is gone; the caller decides
    /// (the gateway then runs it in place).
    pub fn submit(&self, session: usize, check: CredentialCheck) -> Result<(), CredentialCheck> {
        self.jobs.try_send((session, check)).map_err(|e| match e {
            TrySendError::Full((_, check)) | TrySendError::Disconnected((_, check)) => check,
        })
    }

    /// A finished check, if one is ready (never blocks).
    #[must_use]
    pub fn try_verdict(&self) -> Option<(usize, CredentialVerdict)> {
        self.verdicts.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_run_on_the_helper_and_come_back() {
        let phc = credential::hash_password(b"right").unwrap();
        let verifier = CredentialVerifier::start(2).unwrap();
        for (ticket, password) in [(1, &b"right"[..]), (2, b"wrong")] {
            let check = CredentialCheck {
                ticket,
                password_hash: phc.clone(),
                password: password.to_vec(),
                new_password: Some(b"next".to_vec()),
            };
            assert!(!format!("{check:?}").contains("right"));
            verifier.submit(7, check).unwrap();
        }
        let mut verdicts = Vec::new();
        while verdicts.len() < 2 {
            match verifier
                .verdicts
                .recv_timeout(std::time::Duration::from_secs(30))
            {
                Ok(verdict) => verdicts.push(verdict),
                Err(e) => panic!("no verdict: {e}"),
            }
        }
        assert_eq!(verdicts[0].0, 7);
        assert_eq!(verdicts[0].1.ticket, 1);
        assert!(verdicts[0].1.password_ok);
        let new_hash = verdicts[0].1.new_password_hash.as_deref().unwrap();
        assert!(credential::verify_password(new_hash, b"next"));
        assert_eq!(verdicts[1].1.ticket, 2);
        assert!(!verdicts[1].1.password_ok);
        assert_eq!(verdicts[1].1.new_password_hash, None);
    }
}
