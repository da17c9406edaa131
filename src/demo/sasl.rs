//! Server side of the SASL mechanisms both protocols offer: PLAIN, LOGIN, XOAUTH2 and
//! OAUTHBEARER, over already base64-decoded client data. The protocol code owns the framing
//! (SMTP `334` lines, IMAP continuation requests) and the base64.

use crate::demo::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    Plain,
    Login,
    XOAuth2,
    OAuthBearer,
}

impl Mechanism {
    pub fn parse(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            "XOAUTH2" => Some(Mechanism::XOAuth2),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
            _ => None,
        }
    }
}

/// What the exchange needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send this challenge (raw; the caller encodes it) and feed the answer to `step`.
    Challenge(Vec<u8>),
    /// Finished: the authenticated user's configured name, or None when rejected.
    Done(Option<String>),
}

/// One SASL exchange in progress.
pub(crate) struct Exchange {
    mechanism: Mechanism,
    login_user: Option<String>,
}

impl Exchange {
    /// Start with an optional initial response.
    pub fn start(mechanism: Mechanism, initial: Option<&[u8]>, store: &Store) -> (Exchange, Step) {
        let mut ex = Exchange {
            mechanism,
            login_user: None,
        };
        let step = match (mechanism, initial) {
            (Mechanism::Login, None) => Step::Challenge(b"Username:".to_vec()),
            (_, None) => Step::Challenge(Vec::new()),
            (_, Some(data)) => ex.step(data, store),
        };
        (ex, step)
    }

    /// Feed the client's (decoded) answer.
    pub fn step(&mut self, data: &[u8], store: &Store) -> Step {
        match self.mechanism {
            Mechanism::Plain => Step::Done(plain(data, store)),
            Mechanism::Login => match self.login_user.take() {
                None => {
                    self.login_user = Some(String::from_utf8_lossy(data).into_owned());
                    Step::Challenge(b"Password:".to_vec())
                }
                Some(user) => {
                    Step::Done(store.check_password(&user, &String::from_utf8_lossy(data)))
                }
            },
            Mechanism::XOAuth2 => Step::Done(xoauth2(data, store)),
            Mechanism::OAuthBearer => Step::Done(oauthbearer(data, store)),
        }
    }
}

fn plain(data: &[u8], store: &Store) -> Option<String> {
    let mut parts = data.split(|b| *b == 0);
    let authzid = parts.next()?;
    let authcid = std::str::from_utf8(parts.next()?).ok()?;
    let password = std::str::from_utf8(parts.next()?).ok()?;
    if parts.next().is_some() {
        return None;
    }
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(authcid.as_bytes()) {
        return None;
    }
    store.check_password(authcid, password)
}

fn bearer(field: &str) -> Option<&str> {
    let (scheme, token) = field.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("Bearer")
        .then_some(token.trim())
}

/// `user=<user>\x01auth=Bearer <token>\x01\x01`
fn xoauth2(data: &[u8], store: &Store) -> Option<String> {
    let text = std::str::from_utf8(data).ok()?;
    let mut user = None;
    let mut token = None;
    for kv in text.split('\x01') {
        if let Some(u) = kv.strip_prefix("user=") {
            user = Some(u);
        } else if let Some(a) = kv.strip_prefix("auth=") {
            token = bearer(a);
        }
    }
    store.check_token(user?, token?)
}

/// RFC 7628: `n,a=<user>,\x01host=...\x01port=...\x01auth=Bearer <token>\x01\x01`
fn oauthbearer(data: &[u8], store: &Store) -> Option<String> {
    let text = std::str::from_utf8(data).ok()?;
    let (gs2, rest) = text.split_once('\x01')?;
    let user = gs2
        .split(',')
        .find_map(|p| p.strip_prefix("a="))?
        .replace("=2C", ",")
        .replace("=3D", "=");
    let token = rest
        .split('\x01')
        .find_map(|kv| kv.strip_prefix("auth=").and_then(bearer))?;
    store.check_token(&user, token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::store::User;

    fn store() -> Store {
        Store::new(
            vec![User::new("u@example.test", "secret").with_token("tok")],
            "X-Id".into(),
        )
    }

    fn run(mech: Mechanism, initial: Option<&[u8]>, answers: &[&[u8]]) -> Option<String> {
        let s = store();
        let (mut ex, mut step) = Exchange::start(mech, initial, &s);
        let mut answers = answers.iter();
        loop {
            match step {
                Step::Done(user) => return user,
                Step::Challenge(_) => step = ex.step(answers.next()?, &s),
            }
        }
    }

    #[test]
    fn plain_with_and_without_initial_response() {
        assert_eq!(
            run(Mechanism::Plain, Some(b"\0u@example.test\0secret"), &[]).as_deref(),
            Some("u@example.test")
        );
        assert_eq!(
            run(
                Mechanism::Plain,
                None,
                &[b"u@example.test\0U@example.test\0secret"]
            )
            .as_deref(),
            Some("u@example.test")
        );
        assert_eq!(
            run(Mechanism::Plain, Some(b"\0u@example.test\0wrong"), &[]),
            None
        );
        assert_eq!(run(Mechanism::Plain, Some(b"garbage"), &[]), None);
        assert_eq!(run(Mechanism::Plain, Some(b"\0\0\0\0"), &[]), None);
    }

    #[test]
    fn login_two_steps() {
        assert_eq!(
            run(Mechanism::Login, None, &[b"u@example.test", b"secret"]).as_deref(),
            Some("u@example.test")
        );
        assert_eq!(
            run(Mechanism::Login, Some(b"u@example.test"), &[b"secret"]).as_deref(),
            Some("u@example.test")
        );
        assert_eq!(
            run(Mechanism::Login, None, &[b"u@example.test", b"nope"]),
            None
        );
    }

    #[test]
    fn oauth_mechanisms() {
        assert_eq!(
            run(
                Mechanism::XOAuth2,
                Some(b"user=u@example.test\x01auth=Bearer tok\x01\x01"),
                &[]
            )
            .as_deref(),
            Some("u@example.test")
        );
        assert_eq!(
            run(
                Mechanism::XOAuth2,
                None,
                &[b"user=u@example.test\x01auth=Bearer bad\x01\x01"]
            ),
            None
        );
        let ob = b"n,a=u@example.test,\x01host=localhost\x01port=993\x01auth=Bearer tok\x01\x01";
        assert_eq!(
            run(Mechanism::OAuthBearer, Some(ob), &[]).as_deref(),
            Some("u@example.test")
        );
        assert_eq!(
            run(
                Mechanism::OAuthBearer,
                Some(b"n,,\x01auth=Bearer tok\x01\x01"),
                &[]
            ),
            None
        );
        assert_eq!(Mechanism::parse("xoauth2"), Some(Mechanism::XOAuth2));
        assert_eq!(Mechanism::parse("CRAM-MD5"), None);
    }
}
