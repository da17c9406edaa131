//! The probe keys about the receiving side's verdicts on a canary: `authserv_id` (whose
//! `Authentication-Results` fields to trust) and `expect_auth` (the methods that must pass).

use super::ctx::Ctx;
use super::raw::ProbeSection;
use crate::landing::Method;

/// Bytes of an authserv-id (a host name in practice: RFC 1035's 253).
const MAX_AUTHSERV_ID: usize = 253;

/// `authserv_id` and `expect_auth` of a probe, checked; errors go to `ctx`.
pub(super) fn keys(ctx: &mut Ctx, s: &ProbeSection) -> (Option<String>, Vec<Method>) {
    let authserv_id = s.authserv_id.as_ref().map(|id| {
        let v = id.get_ref();
        let ok = !v.is_empty()
            && v.len() <= MAX_AUTHSERV_ID
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && !v.starts_with('.')
            && !v.ends_with('.');
        if !ok {
            ctx.err(
                id,
                format!(
                    "{v:?} is not an authserv-id: write the name the receiving side puts first \
                     in its Authentication-Results, e.g. \"mail.example.test\" (letters, digits, \
                     '.', '-', '_'; at most {MAX_AUTHSERV_ID} characters)"
                ),
            );
        }
        v.clone()
    });
    let mut expect: Vec<Method> = Vec::new();
    for m in s.expect_auth.iter().flat_map(|l| l.get_ref()) {
        match Method::parse(m.get_ref()) {
            Some(method) if expect.contains(&method) => {
                ctx.err(m, format!("{:?} is listed twice", m.get_ref()))
            }
            Some(method) => expect.push(method),
            None => {
                let known: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
                ctx.err(
                    m,
                    format!(
                        "unknown method {:?}; known: {}",
                        m.get_ref(),
                        known.join(", ")
                    ),
                );
            }
        }
    }
    (authserv_id, expect)
}

#[cfg(test)]
mod tests {
    use crate::landing::Method;

    #[test]
    fn valid_keys_load_in_the_order_written() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::config::testing::one_probe(
            dir.path(),
            "authserv_id = \"Mail.example-1.test\"\nexpect_auth = [\"dmarc\", \"DKIM\"]",
        );
        let p = &c.probes[0];
        assert_eq!(p.authserv_id.as_deref(), Some("Mail.example-1.test"));
        assert_eq!(p.expect_auth, vec![Method::Dmarc, Method::Dkim]);
    }
}
