//! FETCH item construction for one stored message: UID, FLAGS, RFC822.SIZE, INTERNALDATE,
//! BODY[...] / BODY.PEEK[...] (whole, HEADER, HEADER.FIELDS(.NOT), TEXT, part 1, partial
//! ranges), RFC822(.HEADER/.TEXT), and simplified ENVELOPE and BODYSTRUCTURE (every message
//! is described as one text/plain part).

use imap_next::imap_types::body::{BasicFields, Body, BodyStructure, SpecificFields};
use imap_next::imap_types::core::{IString, NString};
use imap_next::imap_types::envelope::{Address, Envelope};
use imap_next::imap_types::fetch::{MessageDataItem, MessageDataItemName, Section};
use imap_next::imap_types::flag::FlagFetch;
use imap_next::imap_types::IntoStatic;

use crate::demo::imap::util::{imap_date, literal, nz, to_flags};
use crate::demo::message;
use crate::demo::store::StoredMessage;

/// Whether fetching `name` sets `\Seen` (non-peek body fetches).
pub(crate) fn sets_seen(name: &MessageDataItemName<'_>) -> bool {
    matches!(
        name,
        MessageDataItemName::BodyExt { peek: false, .. }
            | MessageDataItemName::Rfc822
            | MessageDataItemName::Rfc822Text
    )
}

/// Whether this server can answer `name`.
pub(crate) fn supported(name: &MessageDataItemName<'_>) -> bool {
    !matches!(
        name,
        MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. }
    )
}

fn section_bytes(msg: &[u8], section: Option<&Section<'_>>) -> Vec<u8> {
    let names = |list: &[imap_next::imap_types::core::AString<'_>]| -> Vec<String> {
        list.iter()
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .collect()
    };
    match section {
        None => msg.to_vec(),
        Some(Section::Header(None)) => message::header_section(msg).to_vec(),
        Some(Section::HeaderFields(None, list)) => {
            message::select_fields(msg, &names(list.as_ref()), false)
        }
        Some(Section::HeaderFieldsNot(None, list)) => {
            message::select_fields(msg, &names(list.as_ref()), true)
        }
        Some(Section::Text(None)) => message::body(msg).to_vec(),
        // A single-part message: part 1 is its body.
        Some(Section::Part(part)) if part.0.as_ref().iter().map(|n| n.get()).eq([1]) => {
            message::body(msg).to_vec()
        }
        Some(_) => Vec::new(),
    }
}

fn partial(bytes: Vec<u8>, range: Option<(u32, std::num::NonZeroU32)>) -> Vec<u8> {
    match range {
        None => bytes,
        Some((origin, len)) => {
            let start = (origin as usize).min(bytes.len());
            let end = start.saturating_add(len.get() as usize).min(bytes.len());
            bytes[start..end].to_vec()
        }
    }
}

fn nstring(s: Option<String>) -> NString<'static> {
    match s.and_then(|s| IString::try_from(s).ok()) {
        Some(i) => NString(Some(i)),
        None => NString(None),
    }
}

fn istring(s: &str) -> IString<'static> {
    IString::try_from(s.to_string()).unwrap_or_else(|_| {
        IString::Literal(imap_next::imap_types::core::Literal::unvalidated(&b"x"[..]))
    })
}

/// Parse `Name <user@host>, other@host` into envelope addresses (best effort).
fn addresses(msg: &[u8], header: &str) -> Vec<Address<'static>> {
    let Some(value) = message::header_value(msg, header) else {
        return Vec::new();
    };
    value
        .split(',')
        .filter_map(|part| {
            let part = part.trim();
            let (name, addr) = match (part.find('<'), part.rfind('>')) {
                (Some(a), Some(b)) if a < b => {
                    (part[..a].trim().trim_matches('"').trim(), &part[a + 1..b])
                }
                _ => ("", part),
            };
            let (mailbox, host) = addr.split_once('@')?;
            Some(Address {
                name: nstring((!name.is_empty()).then(|| name.to_string())),
                adl: NString(None),
                mailbox: nstring(Some(mailbox.to_string())),
                host: nstring(Some(host.to_string())),
            })
        })
        .collect()
}

fn envelope(msg: &[u8]) -> Envelope<'static> {
    let from = addresses(msg, "From");
    let sender = match addresses(msg, "Sender") {
        s if s.is_empty() => from.clone(),
        s => s,
    };
    let reply_to = match addresses(msg, "Reply-To") {
        r if r.is_empty() => from.clone(),
        r => r,
    };
    Envelope {
        date: nstring(message::header_value(msg, "Date")),
        subject: nstring(message::header_value(msg, "Subject")),
        from,
        sender,
        reply_to,
        to: addresses(msg, "To"),
        cc: addresses(msg, "Cc"),
        bcc: addresses(msg, "Bcc"),
        in_reply_to: nstring(message::header_value(msg, "In-Reply-To")),
        message_id: nstring(message::header_value(msg, "Message-ID")),
    }
}

fn body_structure(msg: &[u8]) -> BodyStructure<'static> {
    let body = message::body(msg);
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: vec![(istring("CHARSET"), istring("utf-8"))],
                id: NString(None),
                description: NString(None),
                content_transfer_encoding: istring("8BIT"),
                size: u32::try_from(body.len()).unwrap_or(u32::MAX),
            },
            specific: SpecificFields::Text {
                subtype: istring("PLAIN"),
                number_of_lines: message::line_count(body),
            },
        },
        extension_data: None,
    }
}

/// The FETCH items for `msg`, in the order asked (with UID first-added when `force_uid`).
pub(crate) fn items(
    msg: &StoredMessage,
    names: &[MessageDataItemName<'_>],
    force_uid: bool,
) -> Vec<MessageDataItem<'static>> {
    let bytes = &msg.bytes[..];
    let mut out = Vec::new();
    if force_uid && !names.iter().any(|n| matches!(n, MessageDataItemName::Uid)) {
        out.push(MessageDataItem::Uid(nz(msg.uid)));
    }
    for name in names {
        let item = match name {
            MessageDataItemName::Uid => MessageDataItem::Uid(nz(msg.uid)),
            MessageDataItemName::Flags => MessageDataItem::Flags(
                to_flags(&msg.flags)
                    .into_iter()
                    .map(FlagFetch::Flag)
                    .collect(),
            ),
            MessageDataItemName::Rfc822Size => {
                MessageDataItem::Rfc822Size(u32::try_from(bytes.len()).unwrap_or(u32::MAX))
            }
            MessageDataItemName::InternalDate => match imap_date(msg.internal_date) {
                Some(d) => MessageDataItem::InternalDate(d),
                None => continue,
            },
            MessageDataItemName::BodyExt {
                section,
                partial: range,
                ..
            } => MessageDataItem::BodyExt {
                section: section.clone().map(IntoStatic::into_static),
                origin: range.map(|(o, _)| o),
                data: literal(&partial(section_bytes(bytes, section.as_ref()), *range)),
            },
            MessageDataItemName::Rfc822 => MessageDataItem::Rfc822(literal(bytes)),
            MessageDataItemName::Rfc822Header => {
                MessageDataItem::Rfc822Header(literal(message::header_section(bytes)))
            }
            MessageDataItemName::Rfc822Text => {
                MessageDataItem::Rfc822Text(literal(message::body(bytes)))
            }
            MessageDataItemName::Envelope => MessageDataItem::Envelope(envelope(bytes)),
            MessageDataItemName::BodyStructure => {
                MessageDataItem::BodyStructure(body_structure(bytes))
            }
            MessageDataItemName::Body => MessageDataItem::Body(body_structure(bytes)),
            _ => continue,
        };
        out.push(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use imap_next::imap_types::core::{AString, Vec1};
    use std::time::SystemTime;

    const MSG: &[u8] = b"From: Ann <ann@example.test>\r\nSubject: s\r\nX-Mailcanary-Id: q\r\n\r\nline1\r\nline2\r\n";

    fn stored() -> StoredMessage {
        StoredMessage {
            uid: 7,
            flags: vec!["\\Seen".into()],
            bytes: Bytes::from_static(MSG),
            internal_date: SystemTime::now(),
        }
    }

    fn data(item: &MessageDataItem<'_>) -> Vec<u8> {
        match item {
            MessageDataItem::BodyExt { data, .. } => data
                .clone()
                .into_option()
                .map(|c| c.to_vec())
                .unwrap_or_default(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn body_sections_and_partials() {
        let m = stored();
        let whole = MessageDataItemName::BodyExt {
            section: None,
            partial: None,
            peek: true,
        };
        let got = items(&m, std::slice::from_ref(&whole), true);
        assert!(matches!(got[0], MessageDataItem::Uid(u) if u.get() == 7));
        assert_eq!(data(&got[1]), MSG);
        let fields = Section::HeaderFields(
            None,
            Vec1::from(AString::try_from("x-mailcanary-id").unwrap()),
        );
        let hf = MessageDataItemName::BodyExt {
            section: Some(fields),
            partial: None,
            peek: true,
        };
        assert_eq!(
            data(&items(&m, &[hf], false)[0]),
            b"X-Mailcanary-Id: q\r\n\r\n"
        );
        let text = MessageDataItemName::BodyExt {
            section: Some(Section::Text(None)),
            partial: Some((2, nz(3))),
            peek: false,
        };
        assert!(sets_seen(&text) && !sets_seen(&whole));
        assert_eq!(data(&items(&m, &[text], false)[0]), b"ne1");
        let beyond = MessageDataItemName::BodyExt {
            section: None,
            partial: Some((10_000, nz(5))),
            peek: true,
        };
        assert_eq!(data(&items(&m, &[beyond], false)[0]), b"");
    }

    #[test]
    fn metadata_items() {
        let m = stored();
        let names = [
            MessageDataItemName::Flags,
            MessageDataItemName::Rfc822Size,
            MessageDataItemName::InternalDate,
            MessageDataItemName::Envelope,
            MessageDataItemName::BodyStructure,
        ];
        let got = items(&m, &names, false);
        assert_eq!(got.len(), 5);
        assert!(matches!(&got[1], MessageDataItem::Rfc822Size(n) if *n as usize == MSG.len()));
        match &got[3] {
            MessageDataItem::Envelope(e) => assert_eq!(e.from.len(), 1),
            other => panic!("{other:?}"),
        }
    }
}
