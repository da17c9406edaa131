//! IMAP authentication: LOGIN and the AUTHENTICATE exchange (PLAIN, LOGIN, XOAUTH2,
//! OAUTHBEARER, with or without SASL-IR), refusing plaintext auth where it is disabled.

use imap_next::imap_types::auth::AuthMechanism;
use imap_next::imap_types::core::{AString, Tag};
use imap_next::imap_types::response::Status;
use imap_next::imap_types::secret::Secret;

use crate::demo::imap::session::{Session, State};
use crate::demo::imap::util::{bad, code, no, ok, untagged_ok};
use crate::demo::sasl::{Exchange, Mechanism, Step};

/// Result of feeding the AUTHENTICATE exchange.
pub(crate) enum AuthProgress {
    Challenge(Vec<u8>),
    Done {
        tag: Tag<'static>,
        user: Option<String>,
    },
    /// Refused before any exchange (bad state, mechanism, or plaintext).
    Refused(Status<'static>),
}

impl Session {
    pub(super) fn login(
        &mut self,
        tag: &Tag<'static>,
        username: &AString<'_>,
        password: &Secret<AString<'_>>,
    ) {
        if !matches!(self.state, State::NotAuthenticated) {
            self.status(bad(tag, "Already authenticated"));
        } else if !self.plaintext_ok() {
            self.status(no(
                tag,
                Some(code("PRIVACYREQUIRED")),
                "Plaintext authentication disallowed on non-secure connections",
            ));
        } else {
            let user = String::from_utf8_lossy(username.as_ref()).into_owned();
            let pass = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
            let result = self.shared.store.check_password(&user, &pass);
            let status = self.finish_auth(tag.clone(), result);
            self.status(status);
        }
    }

    /// Start AUTHENTICATE.
    pub fn auth_begin(
        &mut self,
        tag: Tag<'static>,
        mechanism: &AuthMechanism<'_>,
        initial: Option<&[u8]>,
    ) -> AuthProgress {
        if !matches!(self.state, State::NotAuthenticated) {
            return AuthProgress::Refused(bad(&tag, "Already authenticated"));
        }
        if !self.plaintext_ok() {
            return AuthProgress::Refused(no(
                &tag,
                Some(code("PRIVACYREQUIRED")),
                "Plaintext authentication disallowed on non-secure connections",
            ));
        }
        let Some(mech) = Mechanism::parse(mechanism.as_ref()) else {
            return AuthProgress::Refused(no(&tag, None, "Unsupported authentication mechanism"));
        };
        let store = self.shared.store.clone();
        let (exchange, step) = Exchange::start(mech, initial, &store);
        self.auth = Some((tag, exchange));
        self.auth_progress(step)
    }

    /// Feed AUTHENTICATE data (None: the client cancelled).
    pub fn auth_continue(&mut self, data: Option<&[u8]>) -> AuthProgress {
        let Some((tag, exchange)) = self.auth.as_mut() else {
            return AuthProgress::Refused(untagged_ok(None, "Unexpected authentication data"));
        };
        let Some(data) = data else {
            let tag = tag.clone();
            self.auth = None;
            return AuthProgress::Refused(bad(&tag, "Authentication canceled"));
        };
        let store = self.shared.store.clone();
        let step = exchange.step(data, &store);
        self.auth_progress(step)
    }

    fn auth_progress(&mut self, step: Step) -> AuthProgress {
        match step {
            Step::Challenge(c) => AuthProgress::Challenge(c),
            Step::Done(user) => match self.auth.take() {
                Some((tag, _)) => AuthProgress::Done { tag, user },
                None => AuthProgress::Refused(untagged_ok(None, "No authentication in progress")),
            },
        }
    }

    /// The tag of the AUTHENTICATE in progress, if any (and forget it).
    pub fn auth_abort(&mut self) -> Option<Tag<'static>> {
        self.auth.take().map(|(tag, _)| tag)
    }

    /// Final status of LOGIN/AUTHENTICATE; moves to authenticated state on success.
    pub fn finish_auth(&mut self, tag: Tag<'static>, user: Option<String>) -> Status<'static> {
        match user {
            Some(user) => {
                self.state = State::Authenticated { user };
                ok(&tag, self.capability_code(), "Logged in")
            }
            None => no(
                &tag,
                Some(code("AUTHENTICATIONFAILED")),
                "Authentication failed.",
            ),
        }
    }
}
