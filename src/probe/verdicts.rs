//! The probe's `expect_auth`, checked against the receiving side's trusted verdicts on the
//! newest canary this cycle verified: any expected method whose verdict is not `pass` (no
//! verdict at all included) fails the cycle with (`verify`, `auth_verdict`). The canary itself
//! has already settled as delivered; only the cycle fails.

use super::context::CycleReport;
use super::{Failure, Reason, Stage};
use crate::config::Probe;
use crate::landing::AuthResult;

/// The failure `expect_auth` calls for, if any. Nothing when the cycle verified no canary.
pub(super) fn expected(probe: &Probe, report: &CycleReport) -> Option<Failure> {
    if probe.expect_auth.is_empty() {
        return None;
    }
    let landed = report.landed.as_ref()?;
    let trusted = landed.landing.trusted(probe.authserv_id.as_deref());
    let Some(header) = trusted else {
        let expected: Vec<String> = probe
            .expect_auth
            .iter()
            .map(|m| format!("{m}=pass"))
            .collect();
        let whose = match &probe.authserv_id {
            Some(id) => format!(" from {id}"),
            None => String::new(),
        };
        return Some(Failure::new(
            Stage::Verify,
            Reason::AuthVerdict,
            format!(
                "no Authentication-Results{whose} on canary {} (expected {})",
                landed.id,
                expected.join(", ")
            ),
        ));
    };
    let wrong: Vec<String> = probe
        .expect_auth
        .iter()
        .filter_map(|m| match header.result(*m) {
            Some(AuthResult::Pass) => None,
            Some(r) => Some(format!("{m}={r} (expected pass)")),
            None => Some(format!("{m}: no verdict (expected pass)")),
        })
        .collect();
    (!wrong.is_empty()).then(|| {
        Failure::new(
            Stage::Verify,
            Reason::AuthVerdict,
            format!(
                "{} in the Authentication-Results of {}",
                wrong.join(", "),
                header.authserv_id
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::landing::{self, Method};
    use crate::probe::context::Landed;
    use std::time::SystemTime;

    fn report(headers: &str) -> CycleReport {
        let mut r = CycleReport::new(SystemTime::now());
        r.landed = Some(Landed {
            id: "c1".into(),
            sent_ms: 0,
            landing: landing::read(headers.as_bytes(), 0.0),
        });
        r
    }

    fn probe(expect: &[Method], authserv_id: Option<&str>) -> Probe {
        let dir = tempfile::tempdir().expect("tempdir");
        let loaded = crate::config::testing::one_probe(dir.path(), "");
        let mut p = (*loaded.probes[0]).clone();
        p.expect_auth = expect.to_vec();
        p.authserv_id = authserv_id.map(str::to_string);
        p
    }

    const FORGED_BELOW: &str = "Authentication-Results: mx.test; spf=pass; dkim=fail\r\n\
        Authentication-Results: mx.test; dkim=pass\r\n\r\n";

    #[test]
    fn an_expected_method_not_passing_fails_the_cycle_naming_it() {
        let p = probe(&[Method::Spf, Method::Dkim, Method::Dmarc], None);
        let f = expected(&p, &report(FORGED_BELOW)).expect("fails");
        assert_eq!((f.stage, f.reason), (Stage::Verify, Reason::AuthVerdict));
        assert_eq!(
            f.detail,
            "dkim=fail (expected pass), dmarc: no verdict (expected pass) in the \
             Authentication-Results of mx.test"
        );
        assert!(expected(&probe(&[Method::Spf], None), &report(FORGED_BELOW)).is_none());
    }

    #[test]
    fn nothing_expected_or_nothing_verified_is_no_failure() {
        assert!(expected(&probe(&[], None), &report(FORGED_BELOW)).is_none());
        let none = CycleReport::new(SystemTime::now());
        assert!(expected(&probe(&[Method::Dkim], None), &none).is_none());
    }

    #[test]
    fn no_field_from_the_configured_authserv_id_is_not_a_pass() {
        let p = probe(&[Method::Dkim], Some("mail.example.test"));
        let f = expected(&p, &report(FORGED_BELOW)).expect("fails");
        assert_eq!(
            f.detail,
            "no Authentication-Results from mail.example.test on canary c1 (expected dkim=pass)"
        );
    }
}
