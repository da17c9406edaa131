//! The shared in-memory mail store: users (password, OAuth tokens), their mailboxes (INBOX and
//! created folders, each with UIDVALIDITY and UIDNEXT) and messages (uid, flags, bytes,
//! internal date), and a version counter that IMAP sessions watch to push EXISTS/EXPUNGE.
//! This file owns the types, accounts and mailbox creation; `messages.rs` the per-message
//! operations, `log.rs` SMTP delivery and its log. Locks are short, never held across an await.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};

/// Delivery log entries kept for lookups; older ones are dropped.
const LOG_CAP: usize = 10_000;

/// A mail account. `name` is the login name and also the only address the account receives
/// mail for (compared case-insensitively), e.g. `canary@example.test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password: String,
    /// Bearer tokens accepted by XOAUTH2 / OAUTHBEARER for this user.
    pub oauth_tokens: Vec<String>,
}

impl User {
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> User {
        User {
            name: name.into(),
            password: password.into(),
            oauth_tokens: Vec::new(),
        }
    }

    pub fn with_token(mut self, token: impl Into<String>) -> User {
        self.oauth_tokens.push(token.into());
        self
    }
}

/// A copy of one stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub uid: u32,
    /// Flags as IMAP spells them, e.g. `\Seen`, `\Deleted`, `$Label`.
    pub flags: Vec<String>,
    pub bytes: Bytes,
    pub internal_date: SystemTime,
}

/// Why a store operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    NoSuchUser,
    NoSuchMailbox,
    MailboxExists,
    InvalidName,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreError::NoSuchUser => "no such user",
            StoreError::NoSuchMailbox => "no such mailbox",
            StoreError::MailboxExists => "mailbox already exists",
            StoreError::InvalidName => "invalid mailbox name",
        })
    }
}

impl std::error::Error for StoreError {}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// Mailbox status as SELECT reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MailboxInfo {
    pub uid_validity: u32,
    pub uid_next: u32,
    pub uids: Vec<u32>,
    pub first_unseen_seq: Option<u32>,
}

struct Msg {
    flags: BTreeSet<String>,
    bytes: Bytes,
    internal_date: SystemTime,
}

struct Folder {
    uid_validity: u32,
    uid_next: u32,
    messages: BTreeMap<u32, Msg>,
}

struct Account {
    user: User,
    folders: BTreeMap<String, Folder>,
}

struct State {
    accounts: HashMap<String, Account>,
    next_validity: u32,
}

struct Inner {
    state: Mutex<State>,
    version: watch::Sender<u64>,
    deliveries: broadcast::Sender<Delivered>,
    log: Mutex<Vec<(Delivered, Bytes)>>,
    track_header: String,
}

/// Handle to the store. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `INBOX` in any case is INBOX; other names are kept as given.
pub(crate) fn normalize_mailbox(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        name.to_string()
    }
}

/// System flags in canonical case; keywords unchanged.
pub(crate) fn normalize_flag(flag: &str) -> String {
    for sys in [
        "\\Seen",
        "\\Answered",
        "\\Flagged",
        "\\Deleted",
        "\\Draft",
        "\\Recent",
    ] {
        if flag.eq_ignore_ascii_case(sys) {
            return sys.to_string();
        }
    }
    flag.to_string()
}

impl Folder {
    fn new(uid_validity: u32) -> Folder {
        Folder {
            uid_validity,
            uid_next: 1,
            messages: BTreeMap::new(),
        }
    }

    fn insert(&mut self, bytes: Bytes, flags: BTreeSet<String>, date: SystemTime) -> u32 {
        let uid = self.uid_next;
        self.uid_next = self.uid_next.saturating_add(1);
        self.messages.insert(
            uid,
            Msg {
                flags,
                bytes,
                internal_date: date,
            },
        );
        uid
    }
}

impl State {
    fn new_validity(&mut self) -> u32 {
        self.next_validity = self.next_validity.wrapping_add(1).max(1);
        self.next_validity
    }

    fn folder(&mut self, user: &str, mailbox: &str) -> Result<&mut Folder, StoreError> {
        let account = self
            .accounts
            .get_mut(&user.to_lowercase())
            .ok_or(StoreError::NoSuchUser)?;
        account
            .folders
            .get_mut(&normalize_mailbox(mailbox))
            .ok_or(StoreError::NoSuchMailbox)
    }
}

impl Store {
    pub(crate) fn new(users: Vec<User>, track_header: String) -> Store {
        let (version, _) = watch::channel(0);
        let (deliveries, _) = broadcast::channel(1024);
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        let state = State {
            accounts: HashMap::new(),
            next_validity: seed,
        };
        let store = Store {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                version,
                deliveries,
                log: Mutex::new(Vec::new()),
                track_header,
            }),
        };
        for user in users {
            store.add_user(user);
        }
        store
    }

    fn bump(&self) {
        self.inner.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Add (or replace the credentials of) an account; it gets an empty INBOX if new.
    pub fn add_user(&self, user: User) {
        let mut state = lock(&self.inner.state);
        let key = user.name.to_lowercase();
        if let Some(account) = state.accounts.get_mut(&key) {
            account.user = user;
            return;
        }
        let validity = state.new_validity();
        let mut folders = BTreeMap::new();
        folders.insert("INBOX".to_string(), Folder::new(validity));
        state.accounts.insert(key, Account { user, folders });
    }

    /// The configured name of the account `name` (case-insensitive), if it exists.
    pub fn resolve_user(&self, name: &str) -> Option<String> {
        let state = lock(&self.inner.state);
        state
            .accounts
            .get(&name.to_lowercase())
            .map(|a| a.user.name.clone())
    }

    pub(crate) fn check_password(&self, name: &str, password: &str) -> Option<String> {
        let state = lock(&self.inner.state);
        let account = state.accounts.get(&name.to_lowercase())?;
        (account.user.password == password).then(|| account.user.name.clone())
    }

    pub(crate) fn check_token(&self, name: &str, token: &str) -> Option<String> {
        let state = lock(&self.inner.state);
        let account = state.accounts.get(&name.to_lowercase())?;
        account
            .user
            .oauth_tokens
            .iter()
            .any(|t| t == token)
            .then(|| account.user.name.clone())
    }

    /// Append a message like IMAP APPEND does (no delivery event). Returns the new UID.
    pub fn append(
        &self,
        user: &str,
        mailbox: &str,
        bytes: &[u8],
        flags: &[&str],
    ) -> Result<u32, StoreError> {
        let flags = flags.iter().map(|f| normalize_flag(f)).collect();
        self.append_full(
            user,
            mailbox,
            Bytes::copy_from_slice(bytes),
            flags,
            SystemTime::now(),
        )
        .map(|(_, uid)| uid)
    }

    /// APPEND with all details; returns (UIDVALIDITY, UID).
    pub(crate) fn append_full(
        &self,
        user: &str,
        mailbox: &str,
        bytes: Bytes,
        flags: BTreeSet<String>,
        date: SystemTime,
    ) -> Result<(u32, u32), StoreError> {
        let result = {
            let mut state = lock(&self.inner.state);
            let folder = state.folder(user, mailbox)?;
            (folder.uid_validity, folder.insert(bytes, flags, date))
        };
        self.bump();
        Ok(result)
    }

    /// Copies of all messages in a mailbox, in UID order.
    pub fn messages(&self, user: &str, mailbox: &str) -> Result<Vec<StoredMessage>, StoreError> {
        let mut state = lock(&self.inner.state);
        let folder = state.folder(user, mailbox)?;
        Ok(folder
            .messages
            .iter()
            .map(|(uid, m)| to_stored(*uid, m))
            .collect())
    }

    /// Number of messages in a mailbox (0 if it does not exist).
    pub fn count(&self, user: &str, mailbox: &str) -> usize {
        let mut state = lock(&self.inner.state);
        state
            .folder(user, mailbox)
            .map(|f| f.messages.len())
            .unwrap_or(0)
    }

    /// Names of the user's mailboxes.
    pub fn mailboxes(&self, user: &str) -> Vec<String> {
        let state = lock(&self.inner.state);
        state
            .accounts
            .get(&user.to_lowercase())
            .map(|a| a.folders.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn create_mailbox(&self, user: &str, name: &str) -> Result<(), StoreError> {
        let name = normalize_mailbox(name.trim_end_matches('/'));
        if name.is_empty() {
            return Err(StoreError::InvalidName);
        }
        let mut state = lock(&self.inner.state);
        let validity = state.new_validity();
        let account = state
            .accounts
            .get_mut(&user.to_lowercase())
            .ok_or(StoreError::NoSuchUser)?;
        if account.folders.contains_key(&name) {
            return Err(StoreError::MailboxExists);
        }
        account.folders.insert(name, Folder::new(validity));
        Ok(())
    }

    pub(crate) fn delete_mailbox(&self, user: &str, name: &str) -> Result<(), StoreError> {
        let name = normalize_mailbox(name);
        if name == "INBOX" {
            return Err(StoreError::InvalidName);
        }
        {
            let mut state = lock(&self.inner.state);
            let account = state
                .accounts
                .get_mut(&user.to_lowercase())
                .ok_or(StoreError::NoSuchUser)?;
            account
                .folders
                .remove(&name)
                .ok_or(StoreError::NoSuchMailbox)?;
        }
        self.bump();
        Ok(())
    }

    /// Receiver that changes on every mutation of any mailbox.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.inner.version.subscribe()
    }
}

fn to_stored(uid: u32, m: &Msg) -> StoredMessage {
    StoredMessage {
        uid,
        flags: m.flags.iter().cloned().collect(),
        bytes: m.bytes.clone(),
        internal_date: m.internal_date,
    }
}

mod log;
mod messages;

pub use log::Delivered;

#[cfg(test)]
mod tests;
