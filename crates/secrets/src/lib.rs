//! Checking argon2 password hashes with bounded memory, for every component that checks one
//! (gateway and universal-type device keys, officers' sign-in).
//!
//! An argon2 check needs a large memory block (~19 MiB with the default parameters). Done on
//! whatever thread is free (`spawn_blocking`), each check allocates its own and the allocator
//! keeps it per thread afterwards: a storm of 200 connects took a collector from 11 to 626 MiB,
//! never given back. Here a fixed set of worker threads each allocate their block once and reuse
//! it for every check; a bounded queue in front of them answers [`Busy`] beyond it, so memory is
//! `workers × block` whatever comes in.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Largest argon2 memory cost (KiB) a stored hash may ask for: a hash beyond it is not checked
/// (it would grow a worker's block without bound).
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// The checks are all taken and the queue is full: try again in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("password checks are all busy")
    }
}

impl std::error::Error for Busy {}

struct Job {
    password: Vec<u8>,
    phc: String,
    answer: oneshot::Sender<bool>,
}

/// A fixed pool of argon2 workers behind a bounded queue.
pub struct PasswordChecks {
    queue: SyncSender<Job>,
    workers: usize,
}

impl PasswordChecks {
    /// Starts `workers` threads (at least one) and a queue of `queue` waiting checks.
    pub fn new(workers: usize, queue: usize) -> PasswordChecks {
        let workers = workers.max(1);
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&rx))
                .expect("a password-check thread starts");
        }
        PasswordChecks { queue: tx, workers }
    }

    /// The process's one pool: as many workers as cores (at most 4), 256 waiting checks.
    pub fn shared() -> &'static PasswordChecks {
        static SHARED: OnceLock<PasswordChecks> = OnceLock::new();
        SHARED.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            PasswordChecks::new(cores.min(4), 256)
        })
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Whether `password` matches the argon2 PHC string `phc` (false for a malformed hash).
    /// [`Busy`] at once when the queue is full.
    pub async fn verify(&self, password: &[u8], phc: &str) -> Result<bool, Busy> {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            password: password.to_vec(),
            phc: phc.to_owned(),
            answer,
        };
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Busy),
            Err(TrySendError::Disconnected(_)) => unreachable!("the workers never stop"),
        }
        // A worker that panicked on this job dropped its answer: not a match.
        Ok(answered.await.unwrap_or(false))
    }
}

fn work(jobs: &Mutex<Receiver<Job>>) {
    let mut blocks: Vec<Block> = Vec::new();
    loop {
        let job = {
            let jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
            match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let verified = verify_with(&mut blocks, &job.password, &job.phc);
        let _ = job.answer.send(verified);
    }
}

/// One check in the worker's own memory block, grown (once) to what the hash asks for.
fn verify_with(blocks: &mut Vec<Block>, password: &[u8], phc: &str) -> bool {
    let mut check = || -> Option<bool> {
        let hash = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
        let version = hash
            .version
            .map(Version::try_from)
            .transpose()
            .ok()?
            .unwrap_or_default();
        let params = Params::try_from(&hash).ok()?;
        if params.m_cost() > MAX_MEMORY_KIB {
            tracing::error!(
                m_cost = params.m_cost(),
                "a stored password hash asks for more memory than allowed; not checked"
            );
            return None;
        }
        let expected = hash.hash?;
        let mut salt = [0u8; 64];
        let salt = hash.salt?.decode_b64(&mut salt).ok()?;
        let need = params.block_count();
        if blocks.len() < need {
            blocks.resize(need, Block::default());
        }
        let mut out = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password, salt, &mut out, &mut blocks[..need])
            .ok()?;
        // Output's equality is constant-time.
        Some(Output::new(&out).ok()? == expected)
    };
    check().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;

    use super::*;

    fn hash(password: &str) -> String {
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn the_right_password_matches_and_a_wrong_one_or_a_broken_hash_does_not() {
        let checks = PasswordChecks::new(2, 8);
        let phc = hash("s3cret");
        assert_eq!(checks.verify(b"s3cret", &phc).await, Ok(true));
        assert_eq!(checks.verify(b"s3cret!", &phc).await, Ok(false));
        assert_eq!(checks.verify(b"s3cret", "not a hash").await, Ok(false));
        // Argon2i and custom parameters are read from the hash itself.
        let params = Params::new(1024, 3, 1, Some(16)).unwrap();
        let other = Argon2::new(Algorithm::Argon2i, Version::V0x10, params)
            .hash_password(b"x", &SaltString::encode_b64(b"another salt!").unwrap())
            .unwrap()
            .to_string();
        assert_eq!(checks.verify(b"x", &other).await, Ok(true));
        assert_eq!(checks.verify(b"y", &other).await, Ok(false));
    }

    #[tokio::test]
    async fn beyond_the_queue_a_check_is_answered_busy_at_once() {
        let checks = Arc::new(PasswordChecks::new(1, 2));
        let phc = hash("s3cret");
        let waiting: Vec<_> = (0..20)
            .map(|_| {
                let (checks, phc) = (checks.clone(), phc.clone());
                tokio::spawn(async move { checks.verify(b"s3cret", &phc).await })
            })
            .collect();
        let mut answers = Vec::new();
        for w in waiting {
            answers.push(w.await.unwrap());
        }
        assert!(answers.contains(&Err(Busy)), "{answers:?}");
        assert!(answers.contains(&Ok(true)), "{answers:?}");
        assert!(answers.iter().all(|a| *a != Ok(false)));
    }
}
